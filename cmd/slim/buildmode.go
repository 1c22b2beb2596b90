package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball"
)

// runSlimBuild is the whole job with a Dockerfile: BuildKit solves the stages that --from
// names (and the target) in one session, and the job reads the files straight out of the
// solved stages while the session is open.
func runSlimBuild(cmd *cobra.Command, g *globalFlags, f *slimFlags, bf *buildFlags, contextDir string) error {
	if err := bf.Validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	progress := cmd.ErrOrStderr()
	df, err := os.ReadFile(bf.dockerfile(contextDir))
	if err != nil {
		return fmt.Errorf("reading the Dockerfile: %w", err)
	}
	stages, err := build.ParseStages(df)
	if err != nil {
		return err
	}
	target := stages[len(stages)-1]
	if bf.target != "" {
		if target, err = build.LookupStage(stages, bf.target); err != nil {
			return err
		}
	}
	ropts, err := g.refOptions()
	if err != nil {
		return err
	}
	warn := &switchWriter{w: progress}
	aopts, copts, err := f.assembleOptions(warn)
	if err != nil {
		return err
	}
	platforms, err := g.platforms()
	if err != nil {
		return err
	}

	// Every stage a --from names is solved; other SRCs are image references. A bare
	// word that is no stage is almost always a typo, not an image on Docker Hub.
	want := []string{target.Ref()}
	for _, fr := range f.froms {
		s, ok := build.ResolveStage(stages, fr.Source)
		if !ok && !strings.ContainsAny(fr.Source, "/:@.") {
			_, err := build.LookupStage(stages, fr.Source)
			return fmt.Errorf("%w; for an image, give its full name (docker.io/library/%s:latest)", err, fr.Source)
		}
		if ok && s.Index != target.Index {
			want = append(want, fr.Source)
		}
	}
	auto := len(f.froms) == 0
	if auto {
		for _, e := range target.CopyFrom {
			if s, ok := build.ResolveStage(stages, e.From); ok && s.Index != target.Index {
				want = append(want, e.From)
			}
		}
	}

	var platformStrings []string
	for _, p := range platforms {
		platformStrings = append(platformStrings, p.String())
	}
	req := bf.request(contextDir, platformStrings)
	req.Stages = dedupe(want)
	req.ProgressOutput = progress
	var results []*rebase.Result
	var result *rebase.Result // the platforms' results as one, once every callback is done
	// The outputs are written while BuildKit closes the session; the report is
	// printed after, when its display is done with the terminal.
	req.Finish = func() error {
		result = combine(results)
		return writeResult(cmd, result, f, g.insecure)
	}

	client, err := build.Connect(ctx, bf.connectOptions()...)
	if err != nil {
		return err
	}
	defer client.Close()

	baseOpts := []rebase.BaseOption{rebase.WithRefOptions(ropts...)}
	if len(platforms) == 1 {
		baseOpts = append(baseOpts, rebase.WithPlatform(platforms[0]))
	}
	base, err := rebase.ResolveBase(ctx, f.base, baseOpts...)
	if err != nil {
		return err
	}

	images := rebase.ImageSources(ropts...)
	defer func() {
		for _, r := range results {
			r.Close()
		}
	}()
	err = client.Solve(ctx, req, func(ctx context.Context, solved map[string]*build.StageFS) error {
		targetFS := solved[target.Ref()]
		p, err := imageref.ParsePlatform(targetFS.Platform)
		if err != nil {
			return fmt.Errorf("reading the stage platform %q: %w", targetFS.Platform, err)
		}
		froms := f.froms
		if auto {
			if froms, err = autoFroms(stages, target, solved, f.keep); err != nil {
				return err
			}
			step := build.StartStep(ctx, "[slim] auto mode: what the target stage copies, and its entrypoint")
			for _, fr := range froms {
				fmt.Fprintf(step, "taking %s\n", fr)
			}
			step.Done(nil)
		}
		source := func(ctx context.Context, src string, p v1.Platform) (rebase.Source, error) {
			if s, ok := build.ResolveStage(stages, src); ok {
				sfs := solvedStage(solved, stages, s)
				if sfs == nil {
					return rebase.Source{}, fmt.Errorf("stage %s was not solved", src)
				}
				cf, err := sfs.Config()
				if err != nil {
					return rebase.Source{}, err
				}
				return rebase.Source{FS: sfs, Config: cf}, nil
			}
			return images(ctx, src, p)
		}
		job := rebase.Job{From: froms, ConfigFrom: target.Ref(), Deps: f.depsMode, Packing: append(layerCache(bf.noCache), f.packing...), Assembly: aopts, Check: copts, CheckCache: checkCache(bf.noCache)}
		step := build.StartStep(ctx, fmt.Sprintf("[slim] packing %d sources onto %s for %s", len(groupSources(froms)), f.base, p.String()))
		warn.set(step) // the job's warnings become the step's log
		res, err := rebase.Run(ctx, job, base, source, p)
		warn.set(progress)
		step.Done(err)
		if err != nil {
			return err
		}
		results = append(results, res)
		if f.emitDockerfile != "" {
			return writeFileAtomic(f.emitDockerfile, []byte(emitDockerfile(df, stages, target, froms, f.base, res)))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return reportResult(cmd, result, f) // Finish ran: Solve returns no error otherwise
}

// solvedStage finds a stage among the solved ones, whichever key (name or index) asked for it.
func solvedStage(solved map[string]*build.StageFS, stages []build.Stage, s build.Stage) *build.StageFS {
	for k, sfs := range solved {
		if r, ok := build.ResolveStage(stages, k); ok && r.Index == s.Index {
			return sfs
		}
	}
	return nil
}

// combine turns the per-platform results of a build into one result: an index when
// there are several platforms.
func combine(results []*rebase.Result) *rebase.Result {
	if len(results) == 1 {
		return results[0]
	}
	out := &rebase.Result{Report: &rebase.Report{}}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, r := range results {
		cf, err := r.Image.ConfigFile()
		var p *v1.Platform
		if err == nil {
			p = cf.Platform()
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: r.Image, Descriptor: v1.Descriptor{Platform: p}})
		out.Report.Base = r.Report.Base
		out.Report.Sources = append(out.Report.Sources, r.Report.Sources...)
		out.Report.Images = append(out.Report.Images, r.Report.Images...)
		if out.Report.Files == nil {
			out.Report.Files = r.Report.Files
		}
	}
	out.Index = idx
	return out
}

// autoFroms is what slim takes when no --from is given: the files the target stage
// copies from other stages (its COPY --from lines), translated to --from specs with
// COPY's rules, plus the target's entrypoint (for a single-stage Dockerfile, where there
// are no such lines) and any --keep paths.
func autoFroms(stages []build.Stage, target build.Stage, solved map[string]*build.StageFS, keep []string) ([]extract.From, error) {
	var out []extract.From
	add := func(src, p, dest string) error {
		sp, err := extract.NewSpec(p, dest)
		if err != nil {
			return fmt.Errorf("translating COPY --from=%s %s %s: %w", src, p, dest, err)
		}
		out = append(out, extract.From{Source: src, Spec: sp})
		return nil
	}
	for _, e := range target.CopyFrom {
		s, ok := build.ResolveStage(stages, e.From)
		if !ok {
			// COPY --from=image: that image is a source of its own.
			for _, src := range e.Src {
				if err := add(e.From, "/"+strings.TrimPrefix(src, "/"), copyDest(e, src, false)); err != nil {
					return nil, err
				}
			}
			continue
		}
		sfs := solvedStage(solved, stages, s)
		for _, src := range e.Src {
			abs := "/" + strings.TrimPrefix(src, "/")
			isDir := false
			if fi, err := fs.Stat(sfs, strings.TrimPrefix(path.Clean(abs), "/")); err == nil {
				isDir = fi.IsDir()
			}
			if err := add(s.Ref(), abs, copyDest(e, src, isDir)); err != nil {
				return nil, err
			}
		}
	}
	tfs := solvedStage(solved, stages, target)
	cf, err := tfs.Config()
	if err != nil {
		return nil, err
	}
	if ep := entrypointPath(tfs, cf); ep != "" {
		if err := add(target.Ref(), ep, ""); err != nil {
			return nil, err
		}
	} else if len(out) == 0 && len(keep) == 0 {
		return nil, fmt.Errorf("stage %s copies nothing from other stages and has no entrypoint to take: give --from SRC:PATH or --keep PATH", target.Ref())
	}
	for _, k := range keep {
		if err := add(target.Ref(), k, ""); err != nil {
			return nil, err
		}
	}
	return dedupeFroms(out), nil
}

// copyDest applies COPY's destination rule: into the directory when DEST ends in "/" or
// several sources share it (for files), as the directory itself for a directory source.
func copyDest(e build.CopyEdge, src string, isDir bool) string {
	dest := e.Dest
	if !strings.HasPrefix(dest, "/") {
		dest = "/" + dest // relative to WORKDIR in Docker; slim assumes / (see README)
	}
	if isDir || strings.ContainsAny(src, "*?[") {
		return dest
	}
	if strings.HasSuffix(e.Dest, "/") || len(e.Src) > 1 {
		return path.Join(dest, path.Base(src))
	}
	return dest
}

// entrypointPath is the absolute path of the target's entrypoint program inside its
// stage, found through the config's PATH as a runtime would, or "" when it has none.
func entrypointPath(fsys fs.FS, cf *v1.ConfigFile) string {
	argv := append(append([]string{}, cf.Config.Entrypoint...), cf.Config.Cmd...)
	if len(argv) == 0 || argv[0] == "" {
		return ""
	}
	prog := argv[0]
	if strings.Contains(prog, "/") {
		if !path.IsAbs(prog) {
			prog = path.Join("/", cf.Config.WorkingDir, prog)
		}
		return prog
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range cf.Config.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range strings.Split(pathEnv, ":") {
		cand := path.Join("/", dir, prog)
		if fi, err := fs.Stat(fsys, strings.TrimPrefix(cand, "/")); err == nil && fi.Mode().IsRegular() {
			return cand
		}
	}
	return ""
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func dedupeFroms(xs []extract.From) []extract.From {
	seen := map[string]bool{}
	var out []extract.From
	for _, x := range xs {
		if k := x.String(); !seen[k] {
			seen[k] = true
			out = append(out, x)
		}
	}
	return out
}

func groupSources(froms []extract.From) map[string]bool {
	m := map[string]bool{}
	for _, f := range froms {
		m[f.Source] = true
	}
	return m
}

var errNoFrom = errors.New("nothing to take: give at least one --from SRC:PATH[:DEST], or a build CONTEXT to take what the target stage copies")

// layerCache keeps compressed layers for the next build with the same files, as
// BuildKit keeps its blobs, so a warm build skips the compression. Only builds use it.
// A stage's files name their content without being read (build.StageFS.ContentID),
// so an unchanged warm build moves none of them; the files that cannot are hashed,
// which from an image would cost a second decompression of its layers (--no-cache
// skips the cache).
func layerCache(noCache bool) []tarball.Option {
	dir, err := os.UserCacheDir()
	if noCache || err != nil {
		return nil
	}
	return []tarball.Option{tarball.WithCacheDir(filepath.Join(dir, "slim", "layers"))}
}

// checkCache keeps the fidelity check's outcome by result digest beside the layer
// cache: a warm build makes the very image it made before, and need not index it again
// to learn that it starts (--no-cache checks anyway).
func checkCache(noCache bool) string {
	dir, err := os.UserCacheDir()
	if noCache || err != nil {
		return ""
	}
	return filepath.Join(dir, "slim", "checks")
}

// switchWriter passes writes to a writer that can be swapped: the job's warnings go
// to the step running in BuildKit's display while it runs, to the terminal after.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
