package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/baseimage"
	"github.com/slim-dev/slim/internal/tempfile"
	"github.com/slim-dev/slim/internal/testimage"
)

// slimBinary builds this slim into a temporary directory, for tests that run several
// real processes at once.
func slimBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "slim")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building slim: %v\n%s", err, b)
	}
	return bin
}

// slimEnv keeps a test's slim processes out of the user's caches and temporary files:
// tmp is their TMPDIR.
func slimEnv(t *testing.T, tmp string) []string {
	t.Helper()
	home := t.TempDir()
	return append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"), "TMPDIR="+tmp)
}

// Four slim processes writing into one layout at once, round after round: every image
// lands, and third-party readers find each tag.
func TestConcurrentLayoutWriters(t *testing.T) {
	skopeo := testimage.NeedTool(t, "skopeo")
	umoci := testimage.NeedTool(t, "umoci")
	bin := slimBinary(t)
	env := slimEnv(t, t.TempDir())
	src := filepath.Join(t.TempDir(), "busybox")
	if _, err := baseimage.Busybox(src); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "layout")
	const rounds, writers = 3, 4
	var tags []string
	for r := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			tag := fmt.Sprintf("r%d-v%d", r, i)
			tags = append(tags, tag)
			wg.Go(func() {
				// Each writes its own image (a label of its own), so no two are the same.
				cmd := exec.Command(bin, "--from", "oci-layout://"+src+":/bin/busybox", "--entrypoint", "/bin/busybox",
					"--label", "tag="+tag, "--progress", "quiet", "-t", "app:"+tag, "-o", dest,
					"--sbom=false", "--provenance=false") // umoci reads each tag (see unpack)
				cmd.Env = env
				if b, err := cmd.CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("slim %s: %v\n%s", tag, err, b)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dest, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json does not parse: %v\n%s", err, b)
	}
	if len(idx.Manifests) != rounds*writers {
		t.Errorf("index.json has %d entries, want %d", len(idx.Manifests), rounds*writers)
	}
	for _, tag := range tags {
		if b, err := exec.Command(skopeo, "inspect", "oci:"+dest+":"+tag).CombinedOutput(); err != nil {
			t.Errorf("skopeo inspect %s: %v\n%s", tag, err, b)
		}
		if b, err := exec.Command(umoci, "stat", "--image", dest+":"+tag).CombinedOutput(); err != nil {
			t.Errorf("umoci stat %s: %v\n%s", tag, err, b)
		}
	}
}

// What a killed run left (temporary outputs next to the destination, spools in TMPDIR)
// is removed by the next run; the temporary files of a run still going are not.
func TestLeftoversOfDeadRunsRemoved(t *testing.T) {
	bin := slimBinary(t)
	tmp := t.TempDir()
	env := slimEnv(t, tmp)
	src := filepath.Join(t.TempDir(), "busybox")
	if _, err := baseimage.Busybox(src); err != nil {
		t.Fatal(err)
	}
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	dead := exited.Process.Pid
	parent := t.TempDir()
	var gone, kept []string
	for _, dir := range []string{parent, tmp} {
		f := filepath.Join(dir, fmt.Sprintf("%s%d-1-123-layer", tempfile.Prefix, dead))
		d := filepath.Join(dir, fmt.Sprintf("%s%d-1-456-layout", tempfile.Prefix, dead))
		if err := os.WriteFile(f, []byte("spool"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(d, "blobs"), 0o755); err != nil {
			t.Fatal(err)
		}
		live, err := tempfile.Create(dir, "live") // this test process's: alive
		if err != nil {
			t.Fatal(err)
		}
		live.Close()
		gone = append(gone, f, d)
		kept = append(kept, live.Name())
	}
	cmd := exec.Command(bin, "--from", "oci-layout://"+src+":/bin/busybox", "--entrypoint", "/bin/busybox",
		"--progress", "quiet", "-o", filepath.Join(parent, "layout"))
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("slim: %v\n%s", err, b)
	}
	for _, p := range gone {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s (a dead run's) is still there", p)
		}
	}
	for _, p := range kept {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s (a live run's) was removed: %v", p, err)
		}
	}
}
