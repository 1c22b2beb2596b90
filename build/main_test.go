package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// daemon is the one private buildkitd the package's integration tests share;
// TestMain starts it and stops it. Tests read it, never change it.
var daemon struct {
	client   *Client
	err      error  // why it could not start; tests skip (or fail under CI) with it
	busybox  string // oci layout of the offline busybox base
	bin      string // bin/buildkitd
	stateDir string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "slim-build-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	daemon.stateDir = filepath.Join(tmp, "state")
	daemon.err = setupDaemon(tmp)
	if daemon.client != nil {
		defer func() {
			daemon.client.Close()
			if err := StopDaemon(daemon.stateDir, 30*time.Second); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}()
	}
	return m.Run()
}

func setupDaemon(tmp string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	daemon.bin = filepath.Join(root, "bin", "buildkitd")
	if _, err := os.Stat(daemon.bin); err != nil {
		return fmt.Errorf("%s missing, run `make tools`: %w", daemon.bin, err)
	}
	daemon.busybox = filepath.Join(tmp, "busybox")
	if err := writeBusybox(daemon.busybox); err != nil {
		return fmt.Errorf("making the busybox base: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Connect(ctx, WithDaemonBinary(daemon.bin), WithStateDir(daemon.stateDir),
		withEnv(func(string) string { return "" }), withDockerSocket(""))
	if err != nil {
		return err
	}
	daemon.client = c
	return nil
}

// needDaemon returns the shared client, or skips (fails under CI=true) when
// the daemon could not start, so a laptop without runc still runs the unit
// tests.
func needDaemon(t *testing.T) *Client {
	t.Helper()
	if daemon.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("buildkitd is needed: %v", daemon.err)
		}
		t.Skipf("buildkitd is needed (under CI=true this fails): %v", daemon.err)
	}
	return daemon.client
}

// repoRoot finds the module root from the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// busyboxApplets are linked to /bin/busybox in the test base image.
var busyboxApplets = []string{"sh", "echo", "cat", "sleep", "ls", "mkdir", "cp", "ln", "yes",
	"head", "true", "test", "rm", "touch", "wc", "env", "dd", "printf"}

// writeBusybox writes an OCI layout holding a one-layer busybox image made
// from Debian's busybox-static, tagged "latest", so no registry is needed.
func writeBusybox(dir string) error {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("reading /bin/busybox (apt-get install busybox-static): %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	hdrs := []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777},
		{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))},
	}
	for _, a := range busyboxApplets {
		hdrs = append(hdrs, &tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	for _, h := range hdrs {
		h.ModTime = epoch
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Name == "bin/busybox" {
			if _, err := tw.Write(bb); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		OS: "linux", Architecture: runtime.GOARCH,
		Config: v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return err
	}
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return err
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"}))
}
