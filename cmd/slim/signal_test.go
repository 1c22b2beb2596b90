package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/slim-dev/slim/internal/testimage"
)

// asSlimEnv makes the test binary run main, so a test can signal a real slim process
// without building one.
const asSlimEnv = "SLIM_TEST_AS_SLIM"

// slimProcess starts this test binary as `slim args...`.
func slimProcess(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asSlimEnv+"=1", "HOME="+t.TempDir(), "DOCKER_HOST=unix:///nonexistent")
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
		cmd, out := slimProcess(t, "inspect", ref)
		// Signal once it is busy: a real pull, not a process still starting.
		time.Sleep(700 * time.Millisecond)
		for range signals {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		err := waitExit(t, cmd, 2*time.Second)
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%d SIGINT: slim ended with %v, want a failure; output:\n%s", signals, err, out)
		}
		t.Logf("%d SIGINT: ended in %v (%v)", signals, time.Since(start), err)
	}
}
