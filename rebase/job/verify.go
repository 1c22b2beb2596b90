package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/rebase"
)

// ErrVerify means a --verify command behaved differently in the result than in the
// source. The run writes nothing (unless --force) and exits with status 4.
var ErrVerify = errors.New("the result behaves differently from the source")

// exitVerify is the exit status of an ErrVerify, so CI can tell a result that runs
// differently from a run that failed.
const exitVerify = 4

// Verify is --verify: commands run as `docker run IMAGE ARGS...` in the source (the
// stage or image whose config the result inherits) and in the result, with no
// network, whose exit status and stdout (and stderr, with Stderr) must agree.
type Verify struct {
	// Commands are the ARGS of each --verify; none runs nothing.
	Commands [][]string
	// Stderr adds stderr to what must agree (--verify-stderr).
	Stderr bool
	// Timeout bounds each run (--verify-timeout; default build.DefaultRunTimeout).
	Timeout time.Duration
	// Width is the columns a difference is shown in: side by side when there is
	// room for two columns of 40, else one output after the other (default 160).
	Width int
	// Connect finds BuildKit for an image run; a Dockerfile run uses Build.Connect.
	Connect []build.Option
}

// Verification is one --verify command run in the source and in the result.
type Verification struct {
	Command        []string `json:"command"`
	Platform       string   `json:"platform,omitempty"`
	SourceExitCode int      `json:"sourceExitCode"`
	ResultExitCode int      `json:"resultExitCode"`
	// ResultTimedOut is set when the result ran past --verify-timeout.
	ResultTimedOut bool `json:"resultTimedOut,omitempty"`
	// Stderr is true when stderr was compared too (--verify-stderr).
	Stderr bool `json:"stderr"`
	Equal  bool `json:"equal"`
}

// VerifyError is ErrVerify with the commands that differed.
type VerifyError struct {
	Platform string
	Commands [][]string
}

func (e *VerifyError) Error() string {
	cmds := make([]string, len(e.Commands))
	for i, c := range e.Commands {
		cmds[i] = argvString(c)
	}
	return fmt.Sprintf("--verify %s on %s: %v (outputs shown above); nothing was written (--force writes anyway)", strings.Join(cmds, ", "), e.Platform, ErrVerify)
}

func (e *VerifyError) Unwrap() error { return ErrVerify }

// ExitCode is the status slim exits with.
func (e *VerifyError) ExitCode() int { return exitVerify }

// runFunc runs a process in one side of a verification: the source or the result.
type runFunc func(ctx context.Context, p build.Process, opts ...build.RunOption) (*build.Output, error)

// side is the source or the result of a verification: how to run in it, and the
// config `docker run` would apply.
type side struct {
	run    runFunc
	config v1.Config
}

// verifier runs the --verify commands, platform by platform, and keeps the
// differences to show once no progress display is drawing.
type verifier struct {
	v        Verify
	force    bool
	warnings *warnings
	progress io.Writer
	diffs    []string
}

func newVerifier(cfg Config, w *warnings) *verifier {
	return &verifier{v: cfg.Verify, force: cfg.Force, warnings: w, progress: cfg.progress()}
}

// check runs every command in src and in res for one platform, records each in r,
// writes one line per command to log, and fails with a *VerifyError on a
// difference (a warning with --force).
func (vf *verifier) check(ctx context.Context, log io.Writer, platform string, src, res side, r *Report) error {
	opts := []build.RunOption{build.WithTimeout(vf.v.Timeout)}
	var differ [][]string
	for _, args := range vf.v.Commands {
		sp, rp := build.DockerRun(src.config, args), build.DockerRun(res.config, args)
		so, err := src.run(ctx, sp, opts...)
		if err != nil {
			return fmt.Errorf("--verify %s: running it in the source: %w", argvString(args), err)
		}
		if so.TimedOut {
			return fmt.Errorf("--verify %s: the source ran past --verify-timeout %s: give a command that ends, or a longer --verify-timeout", argvString(args), vf.timeout())
		}
		ro, err := res.run(ctx, rp, opts...)
		if err != nil {
			return fmt.Errorf("--verify %s: running it in the result: %w", argvString(args), err)
		}
		equal := so.ExitCode == ro.ExitCode && !ro.TimedOut && so.Stdout.Equal(ro.Stdout) && (!vf.v.Stderr || so.Stderr.Equal(ro.Stderr))
		r.Verifications = append(r.Verifications, Verification{
			Command: args, Platform: platform, SourceExitCode: so.ExitCode, ResultExitCode: ro.ExitCode,
			ResultTimedOut: ro.TimedOut, Stderr: vf.v.Stderr, Equal: equal,
		})
		if equal {
			fmt.Fprintf(log, "--verify %s: same in the result (exit %d)\n", argvString(args), so.ExitCode)
			continue
		}
		fmt.Fprintf(log, "--verify %s: DIFFERS in the result (exit %d in the source, %d in the result)\n", argvString(args), so.ExitCode, ro.ExitCode)
		differ = append(differ, args)
		vf.diffs = append(vf.diffs, vf.render(args, platform, outcome{sp, so}, outcome{rp, ro}))
	}
	if len(differ) == 0 {
		return nil
	}
	verr := &VerifyError{Platform: platform, Commands: differ}
	if vf.force {
		vf.warnings.warn(fmt.Sprintf("--verify %s on %s: %v; written anyway (--force)", argvString(differ[0]), platform, ErrVerify))
		return nil
	}
	return verr
}

func (vf *verifier) timeout() time.Duration {
	if vf.v.Timeout > 0 {
		return vf.v.Timeout
	}
	return build.DefaultRunTimeout
}

// show writes the differences kept so far to w.
func (vf *verifier) show(w io.Writer) {
	for _, d := range vf.diffs {
		io.WriteString(w, d)
	}
}

// verifyImages runs the --verify commands in every image of an image run's result
// and in its config source for the same platform, through BuildKit.
func verifyImages(ctx context.Context, cfg Config, j plan, sources sourceFunc, res *Result, warn *warnings) error {
	images, err := resultImages(res)
	if err != nil {
		return err
	}
	progress := cfg.progress()
	fmt.Fprintln(progress, "slim: connecting to buildkit for --verify")
	client, err := build.Connect(ctx, cfg.Verify.Connect...)
	if err != nil {
		return err
	}
	defer client.Close()
	vf := newVerifier(cfg, warn)
	defer vf.show(progress)
	return client.Run(ctx, func(ctx context.Context, r *build.Runner) error {
		for _, pi := range images {
			src, err := sources(ctx, j.configSource(), pi.Platform)
			if err != nil {
				return err
			}
			srcCfg, resCfg, err := configs(src.Config, pi.Image)
			if err != nil {
				return err
			}
			srcSide := side{config: srcCfg, run: func(ctx context.Context, p build.Process, o ...build.RunOption) (*build.Output, error) {
				return r.RunImage(ctx, src.Image, p, o...)
			}}
			resSide := side{config: resCfg, run: func(ctx context.Context, p build.Process, o ...build.RunOption) (*build.Output, error) {
				return r.RunImage(ctx, pi.Image, p, o...)
			}}
			log := prefixWriter{w: progress, prefix: "slim: "}
			if err := vf.check(ctx, log, pi.Platform.String(), srcSide, resSide, res.Report); err != nil {
				return err
			}
		}
		return nil
	})
}

// verifyStage runs the --verify commands in a Dockerfile run's config stage and in
// its result for one platform, inside the Solve callback (see build.RunnerFrom).
func verifyStage(ctx context.Context, vf *verifier, stage *build.StageFS, res *Result, platform string) error {
	r := build.RunnerFrom(ctx)
	if r == nil {
		return errors.New("--verify: the build session cannot run processes")
	}
	cf, err := stage.Config()
	if err != nil {
		return err
	}
	srcCfg, resCfg, err := configs(cf, res.Image)
	if err != nil {
		return err
	}
	step := build.StartStep(ctx, fmt.Sprintf("[slim] --verify: %d commands in stage %s and in the result", len(vf.v.Commands), stage.Stage.Ref()))
	vf.warnings.set(step) // a --force warning joins the step's log
	defer vf.warnings.set(vf.progress)
	err = vf.check(ctx, step, platform,
		side{config: srcCfg, run: func(ctx context.Context, p build.Process, o ...build.RunOption) (*build.Output, error) {
			return r.RunStage(ctx, stage, p, o...)
		}},
		side{config: resCfg, run: func(ctx context.Context, p build.Process, o ...build.RunOption) (*build.Output, error) {
			return r.RunImage(ctx, res.Image, p, o...)
		}}, res.Report)
	step.Done(err)
	return err
}

// configs are the runtime configs of a source and of a result image.
func configs(src *v1.ConfigFile, res v1.Image) (v1.Config, v1.Config, error) {
	var sc v1.Config
	if src != nil {
		sc = src.Config
	}
	cf, err := res.ConfigFile()
	if err != nil {
		return v1.Config{}, v1.Config{}, fmt.Errorf("reading the result's config: %w", err)
	}
	return sc, cf.Config, nil
}

// resultImages are the images of a result with their platforms.
func resultImages(res *Result) ([]rebase.PlatformImage, error) {
	if res.Index == nil {
		return []rebase.PlatformImage{{Image: res.Image, Platform: rebase.ImagePlatform(res.Image)}}, nil
	}
	im, err := res.Index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the result's index: %w", err)
	}
	var out []rebase.PlatformImage
	for _, d := range im.Manifests {
		img, err := res.Index.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading result image %s: %w", d.Digest, err)
		}
		out = append(out, rebase.PlatformImage{Image: img, Platform: rebase.ImagePlatform(img)})
	}
	return out, nil
}

// prefixWriter writes each Write (a line) to w after prefix.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// argvString shows an argv as --verify takes it: a JSON array.
func argvString(args []string) string {
	b, _ := json.Marshal(args)
	return string(b)
}

// maxShownLines bounds each stream in a shown difference.
const maxShownLines = 40

// render shows the source's and the result's outputs of one command: side by side
// when Width leaves two columns of 40 (each section aligned with its peer), else one
// after the other, each labelled.
func (vf *verifier) render(args []string, platform string, src, res outcome) string {
	var b strings.Builder
	what := "exit status and stdout"
	if vf.v.Stderr {
		what = "exit status, stdout and stderr"
	}
	fmt.Fprintf(&b, "\nslim: --verify %s on %s: the result differs from the source (compared: %s)\n", argvString(args), platform, what)
	left, right := src.sections("source"), res.sections("result")
	width := vf.v.Width
	if width <= 0 {
		width = 160
	}
	col := (width - 3) / 2
	if col < 40 {
		for _, sec := range append(left, right...) {
			for _, l := range sec {
				b.WriteString(l + "\n")
			}
		}
		return b.String()
	}
	for i := range left {
		l, r := wrap(left[i], col), wrap(right[i], col)
		for j := range max(len(l), len(r)) {
			var a, c string
			if j < len(l) {
				a = l[j]
			}
			if j < len(r) {
				c = r[j]
			}
			b.WriteString(strings.TrimRight(fmt.Sprintf("%-*s │ %s", col, a, c), " ") + "\n")
		}
	}
	return b.String()
}

// outcome is one side's run of a command: the process as started, and its end.
type outcome struct {
	process build.Process
	out     *build.Output
}

// sections are the outcome as labelled lines: the status, stdout and stderr.
func (o outcome) sections(name string) [][]string {
	head := []string{fmt.Sprintf("%s: %s, exit %d", name, argvString(o.process.Args), o.out.ExitCode)}
	if o.out.TimedOut {
		head[0] += " (killed at --verify-timeout)"
	}
	if o.out.Err != "" {
		head = append(head, "  "+o.out.Err)
	}
	secs := [][]string{head}
	for _, s := range []struct {
		name string
		s    build.Stream
	}{{"stdout", o.out.Stdout}, {"stderr", o.out.Stderr}} {
		lines := []string{fmt.Sprintf("%s %s (%d bytes):", name, s.name, s.s.Size)}
		if text := strings.TrimSuffix(string(s.s.Head), "\n"); text != "" {
			ls := strings.Split(text, "\n")
			for i, l := range ls {
				if i == maxShownLines {
					lines = append(lines, fmt.Sprintf("  … %d more lines", len(ls)-i))
					break
				}
				lines = append(lines, "  "+strings.ToValidUTF8(strings.ReplaceAll(l, "\t", "    "), "?"))
			}
		}
		if s.s.Truncated() {
			lines = append(lines, fmt.Sprintf("  … only the first %d bytes are kept", len(s.s.Head)))
		}
		secs = append(secs, lines)
	}
	return secs
}

// wrap breaks lines longer than width (in runes) into several.
func wrap(lines []string, width int) []string {
	var out []string
	for _, l := range lines {
		r := []rune(l)
		for len(r) > width {
			out = append(out, string(r[:width]))
			r = append([]rune("  "), r[width:]...)
		}
		out = append(out, string(r))
	}
	return out
}
