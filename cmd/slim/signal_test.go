package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/testimage"
)

// asSlimEnv makes the test binary run main, so a test can signal a real slim process
// without building one.
const asSlimEnv = "SLIM_TEST_AS_SLIM"

// peakRSSFileEnv names a file where asSlim writes the process's peak RSS in bytes.
// The wait status's rusage cannot say it: Go starts children with vfork, so the
// child's high-water mark begins at the parent's.
const peakRSSFileEnv = "SLIM_TEST_PEAK_RSS_FILE"

// asSlim runs slim in this process and returns its exit status.
func asSlim() int {
	code := slimMain()
	if f := os.Getenv(peakRSSFileEnv); f != "" {
		b, err := os.ReadFile("/proc/self/status")
		if err == nil {
			for line := range strings.Lines(string(b)) {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
					os.WriteFile(f, []byte(strconv.FormatInt(kb<<10, 10)), 0o644) //nolint:errcheck // the test says it is missing
				}
			}
		}
	}
	return code
}

// slimProcess starts this test binary as `slim args...`; env adds variables.
func slimProcess(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asSlimEnv+"=1", "HOME="+t.TempDir(), "DOCKER_HOST=unix:///nonexistent")
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, &out
}

// waitExit waits at most d for cmd to end.
func waitExit(t *testing.T, cmd *exec.Cmd, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("slim still runs %v after the signal", d)
		return nil
	}
}

// Issue 13, item 6: Ctrl-C on an image of 20,000 layers used to be ignored for
// minutes. The first SIGINT ends the run within 2 s; a second one ends it at once.
func TestInterruptManyLayers(t *testing.T) {
	t.Parallel()
	ref := testimage.ManyLayers(t, 20000)
	for _, signals := range []int{1, 2} {
		cmd, out := slimProcess(t, nil, "inspect", ref)
		// Signal once it is busy: a real pull, not a process still starting.
		time.Sleep(700 * time.Millisecond)
		for range signals {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		// The race detector slows the unwinding several times over, and its group
		// shares two cores with the other tests: there the bound is looser.
		bound := 2 * time.Second
		if raceEnabled {
			bound = 6 * time.Second
		}
		err := waitExit(t, cmd, bound)
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%d SIGINT: slim ended with %v, want a failure; output:\n%s", signals, err, out)
		}
		t.Logf("%d SIGINT: ended in %v (%v)", signals, time.Since(start), err)
	}
}

// Issue 13, item 9: a 300 MB config drove inspect to 1.26 GB of memory, a 90 MB
// manifest to 591 MB. Both are refused, with the limit named, before they are read;
// so is a config larger than its descriptor says. The process stays under 100 MiB.
func TestHugeManifestAndConfigRefused(t *testing.T) {
	t.Parallel()
	layer := testimage.BytesBlob(testimage.Tar(t, []testimage.Entry{testimage.File("a", "1")}))
	manifest := func(config testimage.Blob, size int64) testimage.Blob {
		m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
			Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Size: size, Digest: config.Digest},
			Layers: []v1.Descriptor{{MediaType: types.OCIUncompressedLayer, Size: layer.Size, Digest: layer.Digest}}}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return testimage.BytesBlob(b)
	}
	bigConfig := testimage.RepeatBlob(`{"architecture":"amd64","os":"linux","x":"`, 'x', 300<<20)
	bigManifest := testimage.RepeatBlob(`{"schemaVersion":2,"layers":[`, ' ', 90<<20)
	host := testimage.GeneratedRegistry(t, map[string]testimage.Blob{
		"config":   manifest(bigConfig, bigConfig.Size),
		"liar":     manifest(bigConfig, 1000),
		"manifest": bigManifest,
	}, types.OCIManifestSchema1, []testimage.Blob{bigConfig, layer})
	for _, tt := range []struct{ tag, want string }{
		{"config", "more than the limit of 4194304"},
		{"liar", "larger than the 1000 bytes its descriptor says"},
		{"manifest", "more than the limit of 4194304"},
	} {
		t.Run(tt.tag, func(t *testing.T) {
			rssFile := filepath.Join(t.TempDir(), "rss")
			cmd, out := slimProcess(t, []string{peakRSSFileEnv + "=" + rssFile}, "inspect", host+"/img:"+tt.tag)
			err := waitExit(t, cmd, time.Minute)
			if err == nil || !strings.Contains(out.String(), tt.want) {
				t.Fatalf("slim inspect: %v, want a failure saying %q; output:\n%s", err, tt.want, out)
			}
			b, err := os.ReadFile(rssFile)
			if err != nil {
				t.Fatalf("slim wrote no peak RSS: %v", err)
			}
			rss, _ := strconv.ParseInt(string(b), 10, 64)
			t.Logf("peak RSS %d MiB: %s", rss>>20, strings.TrimSpace(out.String()))
			if rss > 100<<20 && !raceEnabled {
				t.Errorf("peak RSS %d MiB, want under 100 MiB", rss>>20)
			}
		})
	}
}
