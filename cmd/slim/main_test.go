package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/internal/baseimage"
	"github.com/slim-dev/slim/internal/testimage"
)

// bk is the private buildkitd that this package's build tests share; TestMain starts it
// (from bin/buildkitd, built by make tools) and stops it. Tests only read it.
var bk struct {
	addr    string
	busybox string // oci-layout directory of the offline busybox base
	err     error  // why the daemon is not there
}

func TestMain(m *testing.M) {
	if os.Getenv(asSlimEnv) == "1" {
		os.Exit(asSlim()) // the test binary run as slim itself: see slimProcess
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	logrus.SetLevel(logrus.ErrorLevel) // as main does: containerd's warnings are noise
	tmp, err := os.MkdirTemp("", "slim-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	defer testimage.CleanupUnpacked()
	state := filepath.Join(tmp, "buildkit")
	bk.err = startBuildkit(tmp, state)
	if bk.err == nil {
		defer func() {
			if err := build.StopDaemon(state, 30*time.Second); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}()
	}
	return m.Run()
}

func startBuildkit(tmp, state string) error {
	root, err := testimage.RepoRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(root, "bin", "buildkitd")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s is missing (make tools builds it): %w", bin, err)
	}
	bk.busybox = filepath.Join(tmp, "busybox")
	if _, err := baseimage.Busybox(bk.busybox); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := build.Connect(ctx, build.WithDaemonBinary(bin), build.WithStateDir(state), build.WithAddr(""))
	if err != nil {
		return err
	}
	bk.addr = c.Addr()
	return c.Close()
}

// needBuildkit stops a test that needs the daemon: a failure under CI=true, where the
// daemon must run, a skip with the reason elsewhere.
func needBuildkit(t *testing.T) {
	t.Helper()
	if bk.err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("buildkitd could not start, and CI needs it: %v", bk.err)
	}
	t.Skipf("buildkitd could not start (under CI=true this fails): %v", bk.err)
}
