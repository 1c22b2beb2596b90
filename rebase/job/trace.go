package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/rootfs"
	"github.com/slim-dev/slim/internal/tracer"
)

// ErrTrace means a --trace command could not be traced: it did not start, or it
// ran past the time limit without touching anything.
var ErrTrace = errors.New("--trace failed")

// Trace is --trace: commands run as `docker run IMAGE ARGS...` would (see
// Verify), under a tracer, in the source whose config the result inherits, with
// no network and Verify.Timeout; every file they touched and did not write is
// taken from that source, with its closure.
type Trace struct {
	// Commands are the ARGS of each --trace.
	Commands [][]string
	// Tracer is the static tracer binary mounted into the runs (default: this
	// program, which slim is; see internal/tracer).
	Tracer string
}

// TraceReport is one --trace command's run.
type TraceReport struct {
	Command  []string `json:"command"`
	Platform string   `json:"platform,omitempty"`
	ExitCode int      `json:"exitCode"`
	// TimedOut is set when the time limit stopped the run: what it touched until
	// then is taken.
	TimedOut bool `json:"timedOut,omitempty"`
	// Touched counts the files found and not written; Taken those of the source.
	Touched int `json:"touched"`
	Taken   int `json:"taken"`
}

func (t Trace) tracer() (string, error) {
	if t.Tracer != "" {
		return t.Tracer, nil
	}
	bin, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("--trace: finding slim's own binary, the tracer: %w", err)
	}
	return bin, nil
}

// traceFunc runs a process under the tracer in the traced source.
type traceFunc func(ctx context.Context, bin string, p build.Process, opts ...build.RunOption) (*build.Traced, error)

// verbs say in the report what the traced run did with a file.
var verbs = map[tracer.Kind]string{
	tracer.Executed: "executed", tracer.Opened: "opened", tracer.Mapped: "mapped", tracer.Listed: "listed",
	tracer.Stated: "stat'ed", tracer.Accessed: "accessed", tracer.ReadLink: "readlink'ed", tracer.Entered: "entered",
}

// traceFroms runs every --trace command in the source named name and returns, as
// Exact specs of it, the files they touched that the source has, once each, with
// the first command's reason.
func traceFroms(ctx context.Context, cfg Config, name string, src source, run traceFunc, log io.Writer, warn func(string), platform string) ([]extract.From, []TraceReport, error) {
	bin, err := cfg.Trace.tracer()
	if err != nil {
		return nil, nil, err
	}
	links, ok := src.FS.(fs.ReadLinkFS)
	if !ok {
		return nil, nil, fmt.Errorf("--trace: source %s cannot be read: %w", name, errors.ErrUnsupported)
	}
	timeout := cfg.Verify.Timeout
	if timeout <= 0 {
		timeout = build.DefaultRunTimeout
	}
	var cfgOf v1.Config
	if src.Config != nil {
		cfgOf = src.Config.Config
	}
	var froms []extract.From
	var reports []TraceReport
	taken := map[string]bool{}
	for _, args := range cfg.Trace.Commands {
		tr, err := run(ctx, bin, build.DockerRun(cfgOf, args), build.WithTimeout(timeout))
		if err != nil {
			return nil, nil, fmt.Errorf("--trace %s: %w", argvString(args), err)
		}
		out := tr.Output
		touched := tracer.Touched(tr.Records)
		started := false
		for _, r := range touched {
			started = started || r.Kind == tracer.Executed
		}
		if !started {
			return nil, nil, fmt.Errorf("--trace %s: %w: the command did not start (exit %d%s): %s", argvString(args), ErrTrace, out.ExitCode, timedOut(out.TimedOut, timeout), strings.TrimSpace(out.Err+" "+string(out.Stderr.Head)))
		}
		rep := TraceReport{Command: args, Platform: platform, ExitCode: out.ExitCode, TimedOut: out.TimedOut, Touched: len(touched)}
		why := " by --trace " + argvString(args)
		for _, r := range touched {
			p := strings.TrimPrefix(r.Path, "/")
			if p == "" || strings.HasPrefix(r.Path, "/.slim-trace/") || taken[r.Path] {
				continue
			}
			if _, _, err := rootfs.Resolve(links, p, false); err != nil {
				continue // the run made it, or it is a mount of the runtime's
			}
			taken[r.Path] = true
			rep.Taken++
			froms = append(froms, extract.From{Source: name, Spec: extract.Spec{Path: r.Path, Exact: true, Reason: verbs[r.Kind] + why}})
		}
		reports = append(reports, rep)
		fmt.Fprintf(log, "--trace %s: exit %d%s, %d files touched, %d taken from %s\n", argvString(args), out.ExitCode, timedOut(out.TimedOut, timeout), rep.Touched, rep.Taken, name)
		if out.ExitCode != 0 && !out.TimedOut {
			warn(fmt.Sprintf("--trace %s exited with status %d: what it touched until then is taken; its output: %s", argvString(args), out.ExitCode, strings.TrimSpace(string(out.Stderr.Head))))
		}
	}
	return froms, reports, nil
}

func timedOut(yes bool, d time.Duration) string {
	if !yes {
		return ""
	}
	return fmt.Sprintf(", stopped at --verify-timeout %s", d)
}

// traceImage runs the --trace commands in the image source first for platform p,
// through BuildKit.
func traceImage(ctx context.Context, cfg Config, first string, sources sourceFunc, p v1.Platform, warn *warnings) ([]extract.From, []TraceReport, error) {
	src, err := sources(ctx, first, p)
	if err != nil {
		return nil, nil, err
	}
	progress := cfg.progress()
	fmt.Fprintln(progress, "slim: connecting to buildkit for --trace")
	client, err := build.Connect(ctx, cfg.Verify.Connect...)
	if err != nil {
		return nil, nil, err
	}
	defer client.Close()
	var froms []extract.From
	var reports []TraceReport
	err = client.Run(ctx, func(ctx context.Context, r *build.Runner) error {
		run := func(ctx context.Context, bin string, proc build.Process, o ...build.RunOption) (*build.Traced, error) {
			return r.TraceImage(ctx, src.Image, bin, proc, o...)
		}
		var err error
		froms, reports, err = traceFroms(ctx, cfg, first, src, run, prefixWriter{w: progress, prefix: "slim: "}, warn.warn, p.String())
		return err
	})
	return froms, reports, err
}

// traceStage runs the --trace commands in a Dockerfile run's config stage, inside
// the Solve callback (see build.RunnerFrom), as a step of BuildKit's display.
func traceStage(ctx context.Context, cfg Config, name string, stage *build.StageFS, warn *warnings) ([]extract.From, []TraceReport, error) {
	r := build.RunnerFrom(ctx)
	if r == nil {
		return nil, nil, errors.New("--trace: the build session cannot run processes")
	}
	cf, err := stage.Config()
	if err != nil {
		return nil, nil, err
	}
	step := build.StartStep(ctx, fmt.Sprintf("[slim] --trace: %d commands in stage %s", len(cfg.Trace.Commands), name))
	warn.set(step)
	defer warn.set(cfg.progress())
	run := func(ctx context.Context, bin string, proc build.Process, o ...build.RunOption) (*build.Traced, error) {
		return r.TraceStage(ctx, stage, bin, proc, o...)
	}
	froms, reports, err := traceFroms(ctx, cfg, name, source{FS: stage, Config: cf}, run, step, warn.warn, stage.Platform)
	step.Done(err)
	return froms, reports, err
}
