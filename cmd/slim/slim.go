package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/size"
	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/rebase/job"
	"github.com/slim-dev/slim/tarball"
)

// exitMaxSize is the status when the result is larger than --max-size, so CI can tell a
// broken budget from a failed run.
const exitMaxSize = 3

// slimFlags are the root command's flags: the whole job.
type slimFlags struct {
	from           []string
	base           string
	deps           string
	pkgMetadata    string
	sbom           optBool
	provenance     optBool
	entrypoint     string
	cmd            string
	env            []string
	user           string
	workdir        string
	labels         []string
	expose         []string
	force          bool
	compression    string
	level          string
	out            outputFlags
	report         string
	maxSize        string
	keep           []string
	emitDockerfile string
	verify         []string
	trace          []string
	verifyStderr   bool
	verifyTimeout  time.Duration
	build          buildFlags

	// parsed by Validate
	cfg    job.Config
	budget int64
}

// Validate checks the flags and turns them into the job's Config; buildMode is true
// when a Dockerfile is run, where no --from means "what the target stage copies from
// other stages".
func (f *slimFlags) Validate(buildMode bool) error {
	f.cfg = job.Config{Base: f.base}
	if len(f.from) == 0 && !buildMode {
		return job.ErrNoFrom
	}
	if !buildMode && (len(f.keep) > 0 || f.emitDockerfile != "") {
		return errors.New("--keep and --emit-dockerfile work with a Dockerfile: give the build CONTEXT")
	}
	for _, s := range f.from {
		fr, err := extract.ParseFrom(s)
		if err != nil {
			return err
		}
		f.cfg.From = append(f.cfg.From, fr)
	}
	var err error
	if f.cfg.Deps, err = extract.ParseDeps(f.deps); err != nil {
		return err
	}
	if f.cfg.PackageMetadata, err = job.ParsePackageMetadata(f.pkgMetadata); err != nil {
		return err
	}
	if f.cfg.Compression, f.cfg.Level, f.cfg.SourceDateEpoch, err = packing(f.compression, f.level); err != nil {
		return err
	}
	if f.cfg.Overrides, err = f.overrides(); err != nil {
		return err
	}
	f.cfg.Force = f.force
	if err := f.verification(); err != nil {
		return err
	}
	if f.maxSize != "" {
		if f.budget, err = size.Parse(f.maxSize); err != nil {
			return fmt.Errorf("parsing --max-size: %w", err)
		}
	}
	if err := f.out.Validate(f.cfg.Compression); err != nil {
		return err
	}
	f.cfg.Attest, err = job.ResolveAttest(f.out.parsed, f.sbom.get(), f.provenance.get())
	return err
}

// optBool is a boolean flag that knows whether it was given, so a default that depends
// on other flags (--sbom on for OCI and registry outputs) is decided once they are read.
type optBool struct {
	set, v bool
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.set, b.v = true, v
	return nil
}

func (b *optBool) String() string {
	if !b.set {
		return ""
	}
	return strconv.FormatBool(b.v)
}

func (b *optBool) Type() string     { return "bool" }
func (b *optBool) IsBoolFlag() bool { return true }

// get is the value given, nil when none was.
func (b *optBool) get() *bool {
	if !b.set {
		return nil
	}
	return &b.v
}

// packing reads --compression, --compression-level and SOURCE_DATE_EPOCH, refusing
// unknown values before any work starts.
func packing(compression, level string) (tarball.Compression, tarball.Level, time.Time, error) {
	c, err := tarball.ParseCompression(compression)
	if err != nil {
		return "", 0, time.Time{}, err
	}
	l, err := tarball.ParseLevel(level)
	if err != nil {
		return "", 0, time.Time{}, err
	}
	// A level out of the format's range (gzip 11) is refused now, not after the build.
	if err := tarball.Validate(tarball.WithCompression(c), tarball.WithLevel(l)); err != nil {
		return "", 0, time.Time{}, fmt.Errorf("--compression %s --compression-level %s: %w", c, level, err)
	}
	epoch, err := tarball.ParseSourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	return c, l, epoch, err
}

// overrides are the config flags: --entrypoint, --cmd, --env, --user, --workdir,
// --label, --expose.
func (f *slimFlags) overrides() ([]rebase.AssemblyOption, error) {
	var opts []rebase.AssemblyOption
	if f.entrypoint != "" {
		args, err := parseArgv(f.entrypoint)
		if err != nil {
			return nil, fmt.Errorf("parsing --entrypoint: %w", err)
		}
		opts = append(opts, rebase.WithEntrypoint(args...))
	}
	if f.cmd != "" {
		args, err := parseArgv(f.cmd)
		if err != nil {
			return nil, fmt.Errorf("parsing --cmd: %w", err)
		}
		opts = append(opts, rebase.WithCmd(args...))
	}
	if len(f.env) > 0 {
		opts = append(opts, rebase.WithEnv(f.env...))
	}
	if f.user != "" {
		opts = append(opts, rebase.WithUser(f.user))
	}
	if f.workdir != "" {
		opts = append(opts, rebase.WithWorkdir(f.workdir))
	}
	for _, l := range f.labels {
		k, v, _ := strings.Cut(l, "=")
		opts = append(opts, rebase.WithLabel(k, v))
	}
	if len(f.expose) > 0 {
		opts = append(opts, rebase.WithExpose(f.expose...))
	}
	return opts, nil
}

// verification reads --verify, --verify-stderr, --verify-timeout and --trace.
func (f *slimFlags) verification() error {
	var err error
	if f.cfg.Verify.Commands, err = commands("--verify", f.verify); err != nil {
		return err
	}
	if f.cfg.Trace.Commands, err = commands("--trace", f.trace); err != nil {
		return err
	}
	// A slim built with cgo cannot be the tracer: SLIM_TRACER names a static one.
	f.cfg.Trace.Tracer = os.Getenv("SLIM_TRACER")
	if f.verifyTimeout <= 0 {
		return fmt.Errorf("--verify-timeout %s: want a positive duration (e.g. 30s, 2m)", f.verifyTimeout)
	}
	f.cfg.Verify.Stderr, f.cfg.Verify.Timeout = f.verifyStderr, f.verifyTimeout
	f.cfg.Verify.Width, _ = strconv.Atoi(os.Getenv("COLUMNS"))
	f.cfg.Verify.Connect = f.build.connectOptions()
	return nil
}

// commands parses the values of a repeatable command flag (--verify, --trace).
func commands(flag string, values []string) ([][]string, error) {
	var out [][]string
	for _, v := range values {
		args, err := parseArgv(v)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", flag, err)
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("%s needs a command: a JSON array or words", flag)
		}
		out = append(out, args)
	}
	return out, nil
}

// parseArgv takes a JSON array (exec form, as in a Dockerfile) or words split on spaces.
func parseArgv(s string) ([]string, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		var args []string
		if err := json.Unmarshal([]byte(s), &args); err != nil {
			return nil, fmt.Errorf("%q is not a JSON array of strings: %w", s, err)
		}
		return args, nil
	}
	return strings.Fields(s), nil
}

func newSlimFlags(cmd *cobra.Command) *slimFlags {
	f := &slimFlags{}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.from, "from", nil, "SRC:PATH[:DEST] to take (repeatable); PATH may be a glob (*, ?, [..], **); a trailing / takes a directory's contents")
	fl.StringVar(&f.base, "base", "scratch", "base to lay the files on: scratch, static (built in, offline), alpine, distroless, distroless/static|base|cc, or any image reference")
	fl.StringVar(&f.deps, "deps", "auto", "auto: add the ELF shared-library closure of every executable taken; none: take only what --from names")
	fl.StringVar(&f.pkgMetadata, "package-metadata", "auto", "auto: keep, for scanners, the package metadata of the packages whose files the result holds (dpkg status.d, apk db, language packages' metadata); none: leave it out")
	fl.VarPF(&f.sbom, "sbom", "", "attach an SPDX 2.3 SBOM of each image as an in-toto attestation manifest, as buildx does (the result becomes an index); default on when every output is a registry push (an OCI layout only when asked), --sbom=false to leave it out").NoOptDefVal = "true"
	fl.VarPF(&f.provenance, "provenance", "", "attach SLSA v0.2 provenance (sources, base, --from specs, slim's version) as buildx's mode=min does; default on when every output is a registry push (an OCI layout only when asked), --provenance=false to leave it out").NoOptDefVal = "true"
	fl.StringVar(&f.entrypoint, "entrypoint", "", `override the entrypoint (JSON array, e.g. '["/app/server","-v"]', or words)`)
	fl.StringVar(&f.cmd, "cmd", "", "override the cmd (JSON array or words)")
	fl.StringArrayVar(&f.env, "env", nil, "set an environment variable K=V (repeatable)")
	fl.StringVar(&f.user, "user", "", "override the user (name or uid[:gid])")
	fl.StringVar(&f.workdir, "workdir", "", "override the working directory")
	fl.StringArrayVar(&f.labels, "label", nil, "set a label K=V (repeatable)")
	fl.StringArrayVar(&f.expose, "expose", nil, "expose a port, e.g. 8080/tcp (repeatable)")
	fl.BoolVar(&f.force, "force", false, "write the image even when the fidelity check finds it cannot start")
	fl.StringVar(&f.compression, "compression", "gzip", "layer compression: gzip, zstd or uncompressed")
	fl.StringVar(&f.level, "compression-level", "best", "compression level: best, default or a number (gzip 1-9, zstd 1-22)")
	fl.StringVar(&f.report, "report", "", "also write the report as JSON to this file")
	fl.StringVar(&f.maxSize, "max-size", "", "fail with exit status 3 when the result's compressed size is larger (e.g. 20MB, 15MiB)")
	fl.StringArrayVar(&f.keep, "keep", nil, "with a Dockerfile and no --from: also keep this path of the target stage (repeatable)")
	fl.StringVar(&f.emitDockerfile, "emit-dockerfile", "", "with a Dockerfile: write the multi-stage Dockerfile equivalent to what slim did to this file")
	fl.StringArrayVar(&f.verify, "verify", nil, "run `CMD` (JSON array or words) in the source and in the result as 'docker run IMAGE CMD' does (after the image's ENTRYPOINT, with its env, user and workdir), with no network; a different exit status or stdout writes nothing and exits 4 (repeatable)")
	fl.StringArrayVar(&f.trace, "trace", nil, "run `CMD` (JSON array or words) in the source as --verify does, under a tracer, and take every file it touched (repeatable)")
	fl.BoolVar(&f.verifyStderr, "verify-stderr", false, "--verify also compares stderr")
	fl.DurationVar(&f.verifyTimeout, "verify-timeout", build.DefaultRunTimeout, "time limit of each --verify and --trace run; the process is killed after it")
	f.out.register(fl)
	f.build.register(fl)
	return f
}

func runSlim(cmd *cobra.Command, g *globalFlags, f *slimFlags, args []string) error {
	buildMode := len(args) > 0 || f.build.file != ""
	if err := f.Validate(buildMode); err != nil {
		return err
	}
	cfg := f.cfg
	cfg.Lenient = g.lenient
	var err error
	if cfg.RefOptions, err = g.refOptions(); err != nil {
		return err
	}
	if cfg.Platforms, err = g.platforms(); err != nil {
		return err
	}
	cfg.Outputs, cfg.OutputOptions = f.out.parsed, f.out.options(g.insecure)
	cfg.Progress = cmd.ErrOrStderr()
	var res *job.Result
	if buildMode {
		b, err := f.buildJob(args, g.progress)
		if err != nil {
			return err
		}
		res, err = job.Dockerfile(cmd.Context(), cfg, b)
		if err != nil {
			return err
		}
	} else {
		// BuildKit's display, as a build shows, for the image run's own steps.
		disp, err := g.display(cmd, "Slimming")
		if err != nil {
			return err
		}
		cfg.Steps, cfg.Progress = disp, disp.Lines()
		res, err = job.Images(cmd.Context(), cfg)
		disp.Close()
		if err != nil {
			return err
		}
	}
	defer res.Close()
	if g.quiet {
		if err := printDigest(cmd.OutOrStdout(), res.Image, res.Index); err != nil {
			return err
		}
	} else {
		if len(cfg.Outputs) == 0 {
			fmt.Fprintln(cmd.ErrOrStderr(), noOutput)
		}
		printReport(cmd.OutOrStdout(), res.Report)
	}
	var subject any = res.Image
	if res.Index != nil {
		subject = res.Index
	}
	if err := f.out.writeIDFiles(subject); err != nil {
		return err
	}
	if f.report != "" {
		if err := res.WriteReport(f.report); err != nil {
			return err
		}
	}
	if f.budget > 0 {
		for _, im := range res.Report.Images {
			if im.Size > f.budget {
				return &budgetError{size: im.Size, budget: f.budget, platform: im.Platform}
			}
		}
	}
	return nil
}

// buildJob is the Dockerfile part of the job: the build flags, and the Dockerfile
// read once.
func (f *slimFlags) buildJob(args []string, progress string) (job.Build, error) {
	if err := f.build.Validate(); err != nil {
		return job.Build{}, err
	}
	contextDir := "."
	if len(args) > 0 {
		contextDir = args[0]
	}
	df, err := f.build.readDockerfile(contextDir)
	if err != nil {
		return job.Build{}, err
	}
	return job.Build{
		Dockerfile:     df,
		Request:        f.build.request(contextDir, df, nil, progress),
		Connect:        f.build.connectOptions(),
		Target:         f.build.target,
		Keep:           f.keep,
		EmitDockerfile: f.emitDockerfile,
	}, nil
}

type budgetError struct {
	size, budget int64
	platform     string
}

func (e *budgetError) Error() string {
	return fmt.Sprintf("the result (%s) is %s compressed, over --max-size %s", e.platform, humanSize(e.size), humanSize(e.budget))
}

func (e *budgetError) ExitCode() int { return exitMaxSize }

func printReport(out io.Writer, r *job.Report) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tIMAGE\tPLATFORM\tSIZE\tUNCOMPRESSED\t")
	for _, s := range r.Sources {
		fmt.Fprintf(tw, "before\t%s\t%s\t%s\t%s\t\n", s.Name, s.Platform, sizeOrDash(s.Size), sizeOrDash(s.Uncompressed))
	}
	bs, bu := r.Before()
	for _, im := range r.Images {
		fmt.Fprintf(tw, "after\t%s\t%s\t%s\t%s\t\n", "on "+r.Base, im.Platform, humanSize(im.Size), humanSize(im.Uncompressed))
	}
	tw.Flush()
	for _, im := range r.Images {
		if bs > 0 {
			fmt.Fprintf(out, "%s: %.1f%% smaller compressed", im.Platform, 100*(1-float64(im.Size)/float64(bs)))
			if bu > 0 {
				fmt.Fprintf(out, ", %.1f%% smaller uncompressed", 100*(1-float64(im.Uncompressed)/float64(bu)))
			}
			fmt.Fprintln(out)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
		for _, l := range im.Layers {
			kind := "base"
			if l.New {
				kind = "new"
			}
			fmt.Fprintf(tw, "  layer\t%s\t%s\t%s\t%s\t\n", shortDigest(l.Digest), kind, humanSize(l.Size), humanSize(l.Uncompressed))
		}
		tw.Flush()
	}
	fmt.Fprintf(out, "\nFiles taken (%d)\n", len(r.Files))
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, fl := range r.Files {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", tablePath(fl.Path), humanSize(fl.Size), tableReason(fl.Reason))
	}
	tw.Flush()
}

func sizeOrDash(n int64) string {
	if n < 0 {
		return "-"
	}
	return humanSize(n)
}

// tablePath shows an image path in a table as users write it, with one leading slash,
// its middle left out past 100 bytes: tabwriter pads a column to its longest cell, so
// one path 3000 directories deep made every row 6 kB wide.
func tablePath(p string) string { return shorten("/"+strings.TrimLeft(p, "/"), 100) }

// tableReason is a file's reason in the last column, which pads nothing: it is cut only
// where a path in it would make a line of kilobytes (the JSON report has it whole).
func tableReason(s string) string { return shorten(s, 240) }

// shorten is s with its middle left out when it is over limit bytes, cut at UTF-8
// boundaries.
func shorten(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	half := (limit - 4) / 2
	head, tail := half, len(s)-half
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return s[:head] + "…" + s[tail:]
}
