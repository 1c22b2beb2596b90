package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slim-dev/slim/internal/baseimage"
	"github.com/slim-dev/slim/internal/testimage"
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
	root, err := testimage.RepoRoot()
	if err != nil {
		return err
	}
	daemon.bin = filepath.Join(root, "bin", "buildkitd")
	if _, err := os.Stat(daemon.bin); err != nil {
		return fmt.Errorf("%s missing, run `make tools`: %w", daemon.bin, err)
	}
	daemon.busybox = filepath.Join(tmp, "busybox")
	if _, err := baseimage.Busybox(daemon.busybox); err != nil {
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
