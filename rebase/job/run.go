package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/extract/elfdeps"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/rootfs"
	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball"
)

// source is one --from source as the job sees it: a file system and the runtime config
// that goes with it. Build stages and images both become sources, so the rest of the
// job never knows where the files came from.
type source struct {
	// FS must implement io/fs.ReadLinkFS (imagefs.FS and build.StageFS do).
	FS     fs.FS
	Config *v1.ConfigFile
	// Image is the source image when there is one, for the size-before figures.
	Image v1.Image
}

// sourceFunc gives the source named by a --from SRC for one platform. The job calls it
// once per SRC and platform.
type sourceFunc func(ctx context.Context, src string, p v1.Platform) (source, error)

// plan is one platform-independent run after the build: which files to take from
// which sources, and how to pack, assemble and check them.
type plan struct {
	from []extract.From
	// configFrom names the SRC whose runtime config the result inherits (default:
	// the first --from's).
	configFrom string
	deps       extract.Deps
	packing    []tarball.Option
	// assembly sets the result's config overrides and epoch (the base's name and
	// the history are the job's own).
	assembly []rebase.AssemblyOption
	// platforms narrows an index run to these platforms (--platform p1,p2).
	platforms []v1.Platform
	// force and warn are the fidelity check's --force and where its warnings go,
	// which the check cache keys and replays.
	force bool
	warn  func(string)
	// takeEntrypoint takes the program the result's entrypoint starts, from the config
	// source, when no --from brought it (image mode).
	takeEntrypoint bool
	// metadata is --package-metadata.
	metadata PackageMetadata
	// checkCache, when set, is a directory where the outcome of the fidelity check
	// and the result's sizes are kept by image digest, so that a warm build whose
	// result is the very image already checked skips indexing it again.
	checkCache string
}

// run does the job for one platform; runIndex does it for every platform of an index
// source.
func run(ctx context.Context, job plan, base rebase.Base, source sourceFunc, p v1.Platform) (*Result, error) {
	res := &Result{Report: &Report{Base: base.Name}}
	img, err := runPlatform(ctx, job, base, source, p, res)
	if err != nil {
		res.Close()
		return nil, err
	}
	res.Image = img
	return res, nil
}

// runIndex does the job for every platform that the config source's index and the
// base both have (WithPlatforms narrows), and returns them under one index.
func runIndex(ctx context.Context, job plan, base rebase.Base, src v1.ImageIndex, source sourceFunc) (*Result, error) {
	res := &Result{Report: &Report{Base: base.Name}}
	layersFor := func(ctx context.Context, p v1.Platform, _ v1.Image) ([]v1.Layer, []string, error) {
		baseImg, err := base.ForPlatform(p)
		if err != nil {
			return nil, nil, err
		}
		layer, history, err := packSources(ctx, job, source, p, baseImg, res)
		if err != nil {
			return nil, nil, err
		}
		return []v1.Layer{layer}, []string{history}, nil
	}
	iopts := []rebase.IndexOption{rebase.WithPlatforms(job.platforms...)}
	for _, o := range job.assembly {
		iopts = append(iopts, o)
	}
	idx, err := rebase.AssembleIndex(ctx, base, src, layersFor, iopts...)
	if err != nil {
		res.Close()
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		res.Close()
		return nil, fmt.Errorf("reading assembled index: %w", err)
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			res.Close()
			return nil, fmt.Errorf("reading assembled image %s: %w", d.Digest, err)
		}
		p := platformOf(d.Platform)
		if err := checkAndReport(ctx, img, p, res.Report, job.check()); err != nil {
			res.Close()
			return nil, fmt.Errorf("checking %s: %w", p, err)
		}
	}
	res.Index = idx
	return res, nil
}

func platformOf(p *v1.Platform) string {
	if p == nil {
		return ""
	}
	return p.String()
}

func runPlatform(ctx context.Context, job plan, base rebase.Base, source sourceFunc, p v1.Platform, res *Result) (v1.Image, error) {
	baseImg, err := base.ForPlatform(p)
	if err != nil {
		return nil, err
	}
	layer, history, err := packSources(ctx, job, source, p, baseImg, res)
	if err != nil {
		return nil, err
	}
	cfgSrc, err := source(ctx, job.configSource(), p)
	if err != nil {
		return nil, err
	}
	opts := []rebase.AssembleOption{rebase.WithHistory(history), rebase.WithBaseName(base.AnnotationName())}
	for _, o := range job.assembly {
		opts = append(opts, o)
	}
	img, err := rebase.Assemble(ctx, baseImg, []v1.Layer{layer}, cfgSrc.Config, opts...)
	if err != nil {
		return nil, err
	}
	checkOpts := append(job.check(), rebase.WithSource(job.configSource(), cfgSrc.FS))
	if err := checkCached(ctx, job.checkCache, img, p.String(), res.Report, job.force, job.warn, checkOpts); err != nil {
		return nil, err
	}
	return img, nil
}

// entrypoint is the program the result's entrypoint starts, looked up in src the way
// the runtime will look it up, when the job takes it (image mode, as auto mode does for
// a Dockerfile): "" otherwise, or when src has no such program (the check says so).
func (j plan) entrypoint(src source, cfg v1.Config) string {
	links, ok := src.FS.(fs.ReadLinkFS)
	if !j.takeEntrypoint || !ok || j.deps == extract.DepsNone {
		return ""
	}
	return build.EntrypointPath(links, &v1.ConfigFile{Config: cfg})
}

// healthcheck is the program the config's healthcheck runs (rebase.HealthcheckArgv),
// found as execvp finds it, and its arguments: "" when there is none, when no
// dependencies are taken, or when the source lacks it too.
func (j plan) healthcheck(src source, cfg v1.Config) (string, []string) {
	links, ok := src.FS.(fs.ReadLinkFS)
	argv := rebase.HealthcheckArgv(cfg)
	if !ok || j.deps == extract.DepsNone || len(argv) == 0 {
		return "", nil
	}
	p, err := rootfs.LookPath(links, argv[0], rootfs.PathEnv(cfg.Env), cfg.WorkingDir)
	if err != nil {
		return "", nil
	}
	return p, argv[1:]
}

// namedFiles takes the files the config names by path (namedFiles), with their
// closure, unless taken is given and has them.
func (j plan) namedFiles(src source, cfg v1.Config, taken *extract.FileSet) []extract.Option {
	if j.deps == extract.DepsNone || src.FS == nil {
		return nil
	}
	var opts []extract.Option
	for _, n := range namedFiles(src.FS, cfg) {
		if taken == nil || !taken.Has(n[0]) {
			opts = append(opts, extract.WithFile(n[0], n[1]))
		}
	}
	return opts
}

func healthcheckWhy(cfg v1.Config, source string) string {
	return fmt.Sprintf("healthcheck %q of the config of %s", rebase.HealthcheckArgv(cfg)[0], source)
}

func (j plan) warnf(format string, args ...any) {
	if j.warn != nil {
		j.warn(fmt.Sprintf(format, args...))
	}
}

// check is the fidelity check's options: --force, and where warnings go.
func (j plan) check() []rebase.CheckOption {
	opts := []rebase.CheckOption{rebase.WithWarn(j.warn)}
	if j.force {
		opts = append(opts, rebase.WithForce())
	}
	return opts
}

func (j plan) configSource() string {
	if j.configFrom != "" {
		return j.configFrom
	}
	if len(j.from) > 0 {
		return j.from[0].Source
	}
	return ""
}

// packSources selects the files of every --from for platform p, merges them and packs
// them into one deterministic layer. One layer, not one per source: it compresses
// best and a slim image has nothing to share with other images above its base. What
// baseImg already holds identically is left out of the layer.
func packSources(ctx context.Context, job plan, source sourceFunc, p v1.Platform, baseImg v1.Image, res *Result) (v1.Layer, string, error) {
	var set *extract.FileSet
	var specs []string
	traced := 0
	configTaken := false // whether a --from took files from the config's source
	for _, group := range groupBySource(job.from) {
		src, err := source(ctx, group.source, p)
		if err != nil {
			return nil, "", err
		}
		if err := res.Report.addBefore(group.source, p.String(), src); err != nil {
			return nil, "", err
		}
		var cfg v1.Config
		if src.Config != nil {
			cfg = src.Config.Config
		}
		opts := []extract.Option{extract.WithDeps(job.deps), extract.WithSourceName(group.source), extract.WithWarn(job.warn)}
		if group.source == job.configSource() {
			configTaken = true
			// The files the result runs see its config, overrides included (--env LANG).
			cfg = rebase.RuntimeConfig(src.Config, job.assembly...)
			if ep := job.entrypoint(src, cfg); ep != "" {
				why := fmt.Sprintf("entrypoint %q of the config of %s", slices.Concat(cfg.Entrypoint, cfg.Cmd)[0], group.source)
				opts = append(opts, extract.WithProgram(ep, why))
			}
			// The result keeps the healthcheck: without its command (curl, a script) the
			// container starts, then is reported unhealthy and restarted.
			if hc, args := job.healthcheck(src, cfg); hc != "" {
				opts = append(opts, extract.WithRun(hc, args, healthcheckWhy(cfg, group.source)))
			}
			// In the same selection as the entrypoint, so that the runtime it starts
			// reads what they import.
			opts = append(opts, job.namedFiles(src, cfg, nil)...)
		}
		opts = append(opts, extract.WithConfig(cfg))
		taken, err := extract.Select(src.FS, group.specs, opts...)
		if err != nil && (taken == nil || !errors.Is(err, elfdeps.ErrMissing)) {
			return nil, "", fmt.Errorf("taking files from %s: %w", group.source, err)
		}
		// What the entrypoint needs is refused by the fidelity check, which looks at the
		// result as a runtime starts it; the rest of what was taken may never run (a
		// stdlib script with a #! of another machine), so it is taken as it is.
		for _, m := range elfdeps.Missing(err) {
			job.warnf("%s is not in %s: taken without it (the fidelity check refuses the image if the entrypoint needs it)", m, group.source)
		}
		if set == nil {
			set = taken
		} else if err := set.Merge(taken); err != nil {
			return nil, "", err
		}
		for _, s := range group.specs {
			if s.Exact {
				traced++ // --trace's files: counted, not listed
				continue
			}
			specs = append(specs, extract.From{Source: group.source, Spec: s}.String())
		}
	}
	if set == nil {
		return nil, "", ErrNoFrom
	}
	if name := job.configSource(); name != "" {
		src, err := source(ctx, name, p)
		if err != nil {
			return nil, "", err
		}
		needs, err := configFiles(ctx, src, name, rebase.RuntimeConfig(src.Config, job.assembly...), baseImg, set)
		if err != nil {
			return nil, "", fmt.Errorf("taking what the config needs from %s: %w", name, err)
		}
		if needs != nil {
			if err := set.Merge(needs); err != nil {
				return nil, "", err
			}
		}
		// When no --from took files from the config's source (a Dockerfile's target in
		// auto mode, which takes what the target copies from other stages), what the
		// config names comes from it all the same: the files named by path in its
		// arguments and Env, and the healthcheck's command, with their closure.
		cfg := rebase.RuntimeConfig(src.Config, job.assembly...)
		var more []extract.Option
		if !configTaken {
			more = job.namedFiles(src, cfg, set)
			if hc, args := job.healthcheck(src, cfg); hc != "" {
				more = append(more, extract.WithRun(hc, args, healthcheckWhy(cfg, name)))
			}
		}
		if len(more) > 0 {
			opts := []extract.Option{extract.WithDeps(job.deps), extract.WithSourceName(name), extract.WithWarn(job.warn), extract.WithConfig(cfg)}
			taken, err := extract.Select(src.FS, nil, append(opts, more...)...)
			if err != nil && (taken == nil || !errors.Is(err, elfdeps.ErrMissing)) {
				return nil, "", fmt.Errorf("taking what the config names from %s: %w", name, err)
			}
			if err := set.Merge(taken); err != nil {
				return nil, "", err
			}
		}
	}
	if job.metadata != MetadataNone {
		pkgs, err := keepPackages(set, job.warnf)
		if err != nil {
			return nil, "", err
		}
		if res.Report.Packages == nil {
			res.Report.Packages = pkgs // the first platform's, as Files
		}
	}
	// glibc system configuration the closure added: the base's own copy stays.
	added := map[string]bool{}
	for _, f := range set.Files() {
		if name := cleanPath(f.Path); f.Added() && elfdeps.SystemConfig(name) {
			added[name] = true
		}
	}
	entries, overlap, err := dropBaseDuplicates(ctx, baseImg, set.Entries(), added)
	if err != nil {
		return nil, "", fmt.Errorf("comparing the new layer with the base: %w", err)
	}
	layer, err := tarball.NewLayer(entries, job.packing...)
	if err != nil {
		return nil, "", fmt.Errorf("packing the new layer: %w", err)
	}
	res.layers = append(res.layers, layer)
	files := set.Files()
	if res.Report.Files == nil {
		res.Report.Files = files // the first platform's; others take the same paths
	}
	history := fmt.Sprintf("slim --from %s (%d files, %d added by --deps)", strings.Join(specs, " --from "), len(files), countDeps(files))
	if traced > 0 {
		history = fmt.Sprintf("slim --from %s --trace (%d files, %d touched by --trace, %d added by --deps)", strings.Join(specs, " --from "), len(files), traced, countDeps(files))
	}
	if overlap.same+overlap.baseConfig+overlap.replaced > 0 {
		history = strings.TrimSuffix(history, ")") + fmt.Sprintf(", %d left to the base, %d replacing the base's)", overlap.same+overlap.baseConfig, overlap.replaced)
	}
	return layer, history, nil
}

func countDeps(files []extract.File) int {
	n := 0
	for _, f := range files {
		if f.Added() {
			n++
		}
	}
	return n
}

type sourceGroup struct {
	source string
	specs  []extract.Spec
}

// groupBySource keeps the order in which sources first appear, so reports and
// history read as the command line does.
func groupBySource(from []extract.From) []sourceGroup {
	var out []sourceGroup
	at := map[string]int{}
	for _, f := range from {
		i, ok := at[f.Source]
		if !ok {
			i = len(out)
			at[f.Source] = i
			out = append(out, sourceGroup{source: f.Source})
		}
		out[i].specs = append(out[i].specs, f.Spec)
	}
	return out
}

// imageSources is the sourceFunc for --from sources that are image references: each
// reference is opened once per platform and indexed once. opened holds single images
// the caller has already opened, by source: opening a daemon image again would run
// `docker save` again.
func imageSources(opened map[string]v1.Image, fsOpts []imagefs.Option, ropts ...imageref.Option) sourceFunc {
	cache := map[string]source{}
	return func(ctx context.Context, src string, p v1.Platform) (source, error) {
		key := src + "|" + p.String()
		if s, ok := cache[key]; ok {
			return s, nil
		}
		img := opened[src]
		if img == nil {
			ref, err := imageref.Parse(src, ropts...)
			if err != nil {
				return source{}, err
			}
			if img, err = imageref.Image(ctx, ref, append(append([]imageref.Option{}, ropts...), imageref.WithPlatform(p))...); err != nil {
				return source{}, err
			}
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return source{}, fmt.Errorf("reading config of %s: %w", src, err)
		}
		opts := fsOpts
		if steps := build.Steps(ctx); steps != nil {
			// Inside a build: the layers read show in the solve's display.
			opts = append(slices.Clip(fsOpts), imagefs.WithProgress(steps))
		}
		fsys, err := extract.OpenImage(ctx, img, opts...)
		if err != nil {
			return source{}, fmt.Errorf("reading %s: %w", src, err)
		}
		s := source{FS: fsys, Config: cf, Image: img}
		cache[key] = s
		return s, nil
	}
}

// checkVersion names the check's rules in CheckCache keys: a change to what Check
// looks at must change it, so that no outcome of the old rules is reused.
const checkVersion = "check1"

// checkOutcome is what CheckCache keeps for an image that passed the check.
type checkOutcome struct {
	Warnings []string      `json:"warnings,omitempty"`
	Layers   []LayerReport `json:"layers"`
}

// checkCached is checkAndReport, answered from dir when the same image passed before.
// The check and the sizes depend only on the image, which its digest names, and on
// --force; a failure is never kept, so a failing image is checked (and its problems
// shown with their hints) every time. The warnings of the first check are shown again.
func checkCached(ctx context.Context, dir string, img v1.Image, platform string, r *Report, force bool, warn func(string), opts []rebase.CheckOption) error {
	if dir == "" {
		return checkAndReport(ctx, img, platform, r, opts)
	}
	d, err := img.Digest()
	if err != nil {
		return fmt.Errorf("reading result digest: %w", err)
	}
	if warn == nil {
		warn = func(string) {}
	}
	file := filepath.Join(dir, fmt.Sprintf("%s-%s-force=%t.json", d.Hex, checkVersion, force))
	if b, err := os.ReadFile(file); err == nil {
		var c checkOutcome
		if json.Unmarshal(b, &c) == nil && len(c.Layers) > 0 {
			for _, w := range c.Warnings {
				warn(w)
			}
			s := SizeReport{Platform: platform, Digest: d.String(), Layers: c.Layers}
			for _, l := range c.Layers {
				s.Size += l.Size
				s.Uncompressed += l.Uncompressed
			}
			r.Images = append(r.Images, s)
			return nil
		}
	}
	var c checkOutcome
	record := rebase.WithWarn(func(msg string) {
		c.Warnings = append(c.Warnings, msg)
		warn(msg)
	})
	if err := checkAndReport(ctx, img, platform, r, append(opts[:len(opts):len(opts)], record)); err != nil {
		return err
	}
	c.Layers = r.Images[len(r.Images)-1].Layers
	// Failing to keep the outcome is not failing the job: the next run checks again.
	if b, err := json.Marshal(c); err == nil && os.MkdirAll(dir, 0o755) == nil {
		if f, err := os.CreateTemp(dir, ".tmp-*"); err == nil {
			_, werr := f.Write(b)
			if cerr := f.Close(); werr != nil || cerr != nil || os.Rename(f.Name(), file) != nil {
				os.Remove(f.Name())
			}
		}
	}
	return nil
}

// checkAndReport indexes a result once, for the fidelity check and for the report.
func checkAndReport(ctx context.Context, img v1.Image, platform string, r *Report, opts []rebase.CheckOption) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("checking image: reading config: %w", err)
	}
	fsys, err := imagefs.New(ctx, img, imagefs.WithLargest(0))
	if err != nil {
		return fmt.Errorf("checking image: reading layers: %w", err)
	}
	defer fsys.Close()
	if err := rebase.CheckIndexed(cf, fsys, opts...); err != nil {
		return err
	}
	// Every job writes exactly one layer above its base.
	return r.addAfter(img, fsys, platform, 1)
}
