package job

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/tempfile"
	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball"
)

// Dockerfile runs the job with a Dockerfile: BuildKit solves the stages that --from
// names (or, with no --from, those the target copies from) and the target in one
// session, and the files are read straight out of the solved stages while the session
// is open. Each platform gives one image; several give an index. The outputs are
// written while BuildKit closes the session.
func Dockerfile(ctx context.Context, cfg Config, b Build) (*Result, error) {
	df := b.Dockerfile
	target, err := df.Target(b.Target)
	if err != nil {
		return nil, err
	}
	want, err := df.StagesToSolve(target, cfg.From)
	if err != nil {
		return nil, err
	}
	progress := cfg.progress()
	warn := &warnings{w: progress}
	req := b.Request
	req.Dockerfile = df
	req.Stages = want
	req.ProgressOutput = progress
	req.Platforms = nil
	req.Run = len(cfg.Verify.Commands) > 0 || len(cfg.Trace.Commands) > 0
	req.Invocation = cfg.Attest.Provenance
	vf := newVerifier(cfg, warn)
	for _, p := range cfg.Platforms {
		req.Platforms = append(req.Platforms, p.String())
	}
	var results []*Result
	var result *Result // the platforms' results as one, once every callback is done
	done := false      // the result goes to the caller, who closes it
	defer func() {
		if !done {
			// combine hands the layers of every platform to result: closing the
			// platforms' results removes all spools, whether Finish ran or not.
			for _, r := range results {
				r.Close()
			}
		}
	}()
	req.Finish = func(ctx context.Context) error {
		var err error
		if result, err = combine(results); err != nil {
			return err
		}
		if err := result.attest(ctx, cfg, warn.warn); err != nil {
			return err
		}
		// Written and pushed under the build's display, as the image run's are.
		cfg := cfg
		cfg.Steps = build.Steps(ctx)
		return result.write(ctx, cfg)
	}

	client, err := build.Connect(ctx, b.Connect...)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	base, err := rebase.ResolveBase(ctx, cfg.Base, cfg.baseOptions()...)
	if err != nil {
		return nil, err
	}
	images := imageSources(nil, cfg.fsOptions(warn.warn), cfg.RefOptions...)
	noCache := b.Request.NoCache
	packing := cfg.packing()
	if dir := cacheDir(false, "layers"); dir != "" {
		packing = append(packing, tarball.WithCacheDir(dir), tarball.WithCacheWarn(warn.warn))
		if noCache {
			// --no-cache reads nothing cached, and replaces what it rebuilds.
			packing = append(packing, tarball.WithCacheRefresh())
		}
	}
	err = client.Solve(ctx, req, func(ctx context.Context, solved map[string]*build.StageFS) error {
		targetFS := solved[target.Ref()]
		p, err := imageref.ParsePlatform(targetFS.Platform)
		if err != nil {
			return fmt.Errorf("reading the stage platform %q: %w", targetFS.Platform, err)
		}
		froms := cfg.From
		if len(froms) == 0 {
			if froms, err = df.AutoFroms(target, solved, b.Keep, contextDir(b.Request.ContextDir)); err != nil {
				return err
			}
			if len(target.Runs) > 0 && len(cfg.Trace.Commands) == 0 {
				cf, err := targetFS.Config()
				if err != nil {
					return err
				}
				warn.warn(runsWarning(target, build.RunWorkdir(target, cf.Config.WorkingDir)))
			}
			step := build.StartStep(ctx, "[slim] auto mode: what the target stage copies, and its entrypoint")
			for _, fr := range froms {
				fmt.Fprintf(step, "taking %s\n", fr)
			}
			step.Done(nil)
		}
		var traces []TraceReport
		if len(cfg.Trace.Commands) > 0 {
			traced, reports, err := traceStage(ctx, cfg, target.Ref(), targetFS, warn)
			if err != nil {
				return err
			}
			froms, traces = append(froms[:len(froms):len(froms)], traced...), reports
		}
		source := func(ctx context.Context, src string, p v1.Platform) (source, error) {
			if s, ok := build.ResolveStage(df.Stages, src); ok {
				sfs := df.Solved(solved, s)
				if sfs == nil {
					return source{}, fmt.Errorf("stage %s was not solved", src)
				}
				cf, err := sfs.Config()
				if err != nil {
					return source{}, err
				}
				return source{FS: sfs, Config: cf}, nil
			}
			if v, ok := b.Request.NamedContexts[src]; ok {
				// COPY --from=NAME reads the named context BuildKit read.
				return namedContext(ctx, v, p, images)
			}
			return images(ctx, src, p)
		}
		// The new layer's bytes shown in the solve's display, under its own step.
		j := plan{from: froms, configFrom: target.Ref(), deps: cfg.Deps, packing: append(slices.Clip(packing), tarball.WithProgress(build.Steps(ctx))), assembly: cfg.assembly(), force: cfg.Force, warn: warn.warn, checkCache: cacheDir(noCache, "checks"), metadata: cfg.PackageMetadata}
		step := build.StartStep(ctx, fmt.Sprintf("[slim] packing %d sources onto %s for %s", countSources(froms), cfg.Base, p.String()))
		warn.set(step) // the job's warnings become the step's log
		res, err := run(ctx, j, base, source, p)
		warn.set(progress)
		step.Done(err)
		if err != nil {
			return err
		}
		res.Report.Traces = traces
		if inv := build.BuildInvocation(ctx); inv != nil {
			res.invocations = map[string]*build.Invocation{p.String(): inv}
		}
		if len(cfg.Verify.Commands) > 0 {
			if err := verifyStage(ctx, vf, targetFS, res, p.String()); err != nil {
				res.Close()
				return err
			}
		}
		results = append(results, res)
		if b.EmitDockerfile != "" {
			cf, err := res.Image.ConfigFile()
			if err != nil {
				return fmt.Errorf("reading the result's config: %w", err)
			}
			text := df.Emit(froms, cfg.Base, cfg.Base == rebase.Static, res.Report.Files, cf.Config)
			return tempfile.WriteAtomic(b.EmitDockerfile, []byte(text))
		}
		return nil
	})
	vf.show(progress) // BuildKit's display is done: the differences are not torn
	if err != nil {
		return nil, err
	}
	result.Warnings = warn.list
	done = true
	return result, nil // Finish ran: Solve returns no error otherwise
}

func countSources(froms []extract.From) int {
	m := map[string]bool{}
	for _, f := range froms {
		m[f.Source] = true
	}
	return len(m)
}

func contextDir(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}

// namedContext is the source a --build-context NAME=VALUE gives COPY --from=NAME: an
// image reference (oci-layout://, docker-image://) or a local directory.
func namedContext(ctx context.Context, v string, p v1.Platform, images sourceFunc) (source, error) {
	if ref, ok := strings.CutPrefix(v, "docker-image://"); ok {
		return images(ctx, ref, p)
	}
	if strings.Contains(v, "://") {
		return images(ctx, v, p)
	}
	fi, err := os.Stat(v)
	if err != nil || !fi.IsDir() {
		return source{}, fmt.Errorf("build context %s: neither a directory nor an image reference", v)
	}
	return source{FS: os.DirFS(v), Config: &v1.ConfigFile{}}, nil
}

// runsWarning tells that what the target's RUN instructions wrote is not taken beyond
// the working directory (build.RunWorkdir): auto mode reads COPY lines and the
// entrypoint's needs, and a file a RUN made elsewhere (a config
// under /etc, a data directory, a CA bundle from a package) is in the image only when
// the closure or the user's user entries happen to take it.
func runsWarning(target build.Stage, workdir string) string {
	lines := make([]string, len(target.Runs))
	for i, l := range target.Runs {
		lines[i] = strconv.Itoa(l)
	}
	what := "RUN at line"
	if len(lines) > 1 {
		what = "RUNs at lines"
	}
	takes := "only what the entrypoint's closure and user need"
	if workdir != "" {
		takes = "the working directory " + workdir + " and what the entrypoint's closure and user need"
	}
	return fmt.Sprintf("stage %s: of what the %s %s wrote, auto mode takes %s: "+
		"name the other files and directories the program reads with --keep PATH, or take what a run touches with --trace CMD (--verify CMD checks the result)",
		target.Ref(), what, strings.Join(lines, ", "), takes)
}
