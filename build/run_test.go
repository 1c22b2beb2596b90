package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/baseimage"
)

func TestDockerRun(t *testing.T) {
	cfg := v1.Config{Entrypoint: []string{"/bin/tini", "--"}, Cmd: []string{"serve"}, Env: []string{"A=1"}, User: "app", WorkingDir: "/srv"}
	p := DockerRun(cfg, []string{"echo", "hi"})
	if strings.Join(p.Args, " ") != "/bin/tini -- echo hi" || p.User != "app" || p.Cwd != "/srv" {
		t.Errorf("process %+v: want the arguments after the entrypoint, the image's user and working directory", p)
	}
	if len(p.Env) != 2 || p.Env[0] != "A=1" || !strings.HasPrefix(p.Env[1], "PATH=/usr/local/sbin:") {
		t.Errorf("env %q: want the image's, and Docker's PATH when it sets none", p.Env)
	}
	if p := DockerRun(v1.Config{Cmd: []string{"serve"}, Env: []string{"PATH=/x"}}, nil); strings.Join(p.Args, " ") != "serve" || len(p.Env) != 1 || p.Cwd != "/" {
		t.Errorf("process %+v: want the image's Cmd, its own PATH only, and / as working directory", p)
	}
}

// busybox is the offline busybox image and its config file.
func busybox(t *testing.T) (v1.Image, *v1.ConfigFile) {
	t.Helper()
	img, err := baseimage.Busybox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return img, cf
}

// TestRunImage runs commands in an OCI-layout image through BuildKit: both streams
// and the exit status come back, there is no network, and the time limit kills.
func TestRunImage(t *testing.T) {
	c := needDaemon(t)
	img, cf := busybox(t)
	sh := func(script string) Process {
		return DockerRun(cf.Config, []string{"/bin/sh", "-c", script})
	}
	err := c.Run(t.Context(), func(ctx context.Context, r *Runner) error {
		out, err := r.RunImage(ctx, img, sh("echo out; echo err >&2; pwd; exit 3"))
		if err != nil {
			return err
		}
		if out.ExitCode != 3 || string(out.Stdout.Head) != "out\n/\n" || string(out.Stderr.Head) != "err\n" || out.TimedOut || out.Err != "" {
			t.Errorf("run: %+v, want exit 3, stdout \"out\\n/\\n\", stderr \"err\\n\"", out)
		}

		out, err = r.RunImage(ctx, img, sh("ls /sys/class/net; wget -q -T 5 -O- http://1.1.1.1/ || nc -w 5 1.1.1.1 53 </dev/null"))
		if err != nil {
			return err
		}
		if out.ExitCode == 0 || strings.TrimSpace(string(out.Stdout.Head)) != "lo" {
			t.Errorf("network: exit %d, stdout %q, stderr %q: want loopback only and the connection refused", out.ExitCode, out.Stdout.Head, out.Stderr.Head)
		}

		start := time.Now()
		out, err = r.RunImage(ctx, img, sh("echo started; sleep 1000"), WithTimeout(2*time.Second))
		if err != nil {
			return err
		}
		if !out.TimedOut || out.ExitCode == 0 || string(out.Stdout.Head) != "started\n" || time.Since(start) > time.Minute {
			t.Errorf("timeout: %+v after %s: want the sleep killed after 2s", out, time.Since(start))
		}

		out, err = r.RunImage(ctx, img, Process{Args: []string{"/no/such/program"}, Cwd: "/"})
		if err != nil {
			return err
		}
		if out.ExitCode == 0 || out.Err == "" && out.Stderr.Size == 0 {
			t.Errorf("missing program: %+v, want a failure that says why", out)
		}
		t.Logf("missing program: exit %d, err %q, stderr %q", out.ExitCode, out.Err, out.Stderr.Head)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRunStage runs a process in a solved stage, inside the Solve callback, with
// the stage's config as `docker run` would apply it.
func TestRunStage(t *testing.T) {
	c := needDaemon(t)
	dir := t.TempDir()
	df := "FROM busybox\nRUN mkdir /w && echo staged > /w/m\nWORKDIR /w\nENV GREETING=hey\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	req := Request{ContextDir: dir, NamedContexts: map[string]string{"busybox": "oci-layout://" + daemon.busybox + ":latest"},
		Progress: "plain", ProgressOutput: testWriter{t}, Run: true}
	err := c.Solve(t.Context(), req, func(ctx context.Context, stages map[string]*StageFS) error {
		r := RunnerFrom(ctx)
		if r == nil {
			t.Fatal("no runner in a callback of a Request with Run")
		}
		for _, s := range stages {
			cf, err := s.Config()
			if err != nil {
				return err
			}
			out, err := r.RunStage(ctx, s, DockerRun(cf.Config, []string{"/bin/sh", "-c", `cat m; echo "$GREETING"`}))
			if err != nil {
				return err
			}
			if out.ExitCode != 0 || string(out.Stdout.Head) != "staged\nhey\n" {
				t.Errorf("stage run: %+v", out)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
