package build

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/internal/tracer"
)

// TestTraceImage runs a command under the tracer in an image through BuildKit:
// the records come back apart from the command's output, ptrace and the seccomp
// filter work in BuildKit's container, and a dynamic tracer is refused.
func TestTraceImage(t *testing.T) {
	c := needDaemon(t)
	img, cf := busybox(t)
	bin := testimage.Tracer(t)
	err := c.Run(t.Context(), func(ctx context.Context, r *Runner) error {
		p := DockerRun(cf.Config, []string{"/bin/sh", "-c", "cat /etc/passwd >/dev/null; ls /etc; echo x > /tmp/new; exit 2"})
		tr, err := r.TraceImage(ctx, img, bin, p)
		if err != nil {
			return err
		}
		if tr.Output.ExitCode != 2 || !strings.Contains(string(tr.Output.Stderr.Head), "passwd") {
			t.Errorf("exit %d, output %q: want 2 and the listing of /etc", tr.Output.ExitCode, tr.Output.Stderr.Head)
		}
		if strings.Contains(string(tr.Output.Stderr.Head), "seccomp") {
			t.Errorf("the filter could not be installed: %s", tr.Output.Stderr.Head)
		}
		got := map[string]tracer.Kind{}
		for _, rec := range tracer.Touched(tr.Records) {
			got[rec.Path] = rec.Kind
		}
		for path, k := range map[string]tracer.Kind{"/bin/sh": tracer.Executed, "/etc/passwd": tracer.Opened, "/etc": tracer.Listed} {
			if got[path] != k {
				t.Errorf("%s: %q, want %q; records %v", path, got[path], k, tr.Records)
			}
		}
		if _, ok := got["/tmp/new"]; ok {
			t.Errorf("/tmp/new, which the run wrote, is among what it touched")
		}
		_, err = r.TraceImage(ctx, img, os.Args[0], p) // this test binary: linked dynamically
		if !errors.Is(err, ErrTracer) {
			t.Errorf("a dynamic tracer: %v, want ErrTracer", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
