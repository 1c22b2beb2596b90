package rebase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/tarball"
)

// Source is one --from source as the job sees it: a file system and the runtime config
// that goes with it. Build stages and images both become Sources, so the job never
// knows where the files came from.
type Source struct {
	// FS must implement io/fs.ReadLinkFS (imagefs.FS and build.StageFS do).
	FS     fs.FS
	Config *v1.ConfigFile
	// Image is the source image when there is one, for the size-before figures.
	Image v1.Image
}

// SourceFunc gives the Source named by a --from SRC for one platform. The job calls it
// once per SRC and platform.
type SourceFunc func(ctx context.Context, src string, p v1.Platform) (Source, error)

// Job is the whole slim run after the build: which files to take from which sources,
// the base to lay them on, and how to pack them.
type Job struct {
	From []extract.From
	// ConfigFrom names the SRC whose runtime config the result inherits (default: the
	// first --from's).
	ConfigFrom string
	Deps       extract.Deps
	// Packing options for the new layer (compression, level, epoch).
	Packing []tarball.Option
	// Assembly sets the result's config overrides, epoch and media types (the base's
	// name and the history are the job's own).
	Assembly []AssemblyOption
	// Platforms narrows RunIndex to these platforms (--platform p1,p2).
	Platforms []v1.Platform
	// Check configures the fidelity check (--force, warnings); the job names the
	// source itself.
	Check []CheckOption
	// CheckCache, when set, is a directory where the outcome of the fidelity check
	// and the result's sizes are kept by image digest, so that a warm build whose
	// result is the very image already checked skips indexing it again.
	CheckCache string
}

// Result is what a job made: an image, or an index when the config source is one, and
// the report of what it did.
type Result struct {
	Image  v1.Image
	Index  v1.ImageIndex
	Report *Report
	layers []*tarball.Layer
}

// Close removes the spooled layer files. Call it once the result has been written.
func (r *Result) Close() error {
	var errs []error
	for _, l := range r.layers {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// Run does the job for one platform; RunIndex does it for every platform of an index
// source.
func Run(ctx context.Context, job Job, base Base, source SourceFunc, p v1.Platform) (*Result, error) {
	res := &Result{Report: &Report{Base: base.Name}}
	img, err := runPlatform(ctx, job, base, source, p, res)
	if err != nil {
		res.Close()
		return nil, err
	}
	res.Image = img
	return res, nil
}

// RunIndex does the job for every platform that the config source's index and the
// base both have (WithPlatforms narrows), and returns them under one index.
func RunIndex(ctx context.Context, job Job, base Base, src v1.ImageIndex, source SourceFunc) (*Result, error) {
	res := &Result{Report: &Report{Base: base.Name}}
	layersFor := func(ctx context.Context, p v1.Platform, _ v1.Image) ([]v1.Layer, []string, error) {
		layer, history, err := packSources(ctx, job, source, p, res)
		if err != nil {
			return nil, nil, err
		}
		return []v1.Layer{layer}, []string{history}, nil
	}
	iopts := []IndexOption{WithPlatforms(job.Platforms...)}
	for _, o := range job.Assembly {
		iopts = append(iopts, o)
	}
	idx, err := AssembleIndex(ctx, base, src, layersFor, iopts...)
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
		if err := checkAndReport(ctx, img, p, res.Report, job.Check); err != nil {
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

func runPlatform(ctx context.Context, job Job, base Base, source SourceFunc, p v1.Platform, res *Result) (v1.Image, error) {
	baseImg, err := base.ForPlatform(p)
	if err != nil {
		return nil, err
	}
	layer, history, err := packSources(ctx, job, source, p, res)
	if err != nil {
		return nil, err
	}
	cfgSrc, err := source(ctx, job.configFrom(), p)
	if err != nil {
		return nil, err
	}
	opts := []AssembleOption{WithHistory(history), WithBaseName(base.AnnotationName())}
	for _, o := range job.Assembly {
		opts = append(opts, o)
	}
	img, err := Assemble(ctx, baseImg, []v1.Layer{layer}, cfgSrc.Config, opts...)
	if err != nil {
		return nil, err
	}
	checkOpts := append([]CheckOption{WithSource(job.configFrom(), cfgSrc.FS)}, job.Check...)
	if err := checkCached(ctx, job.CheckCache, img, p.String(), res.Report, checkOpts); err != nil {
		return nil, err
	}
	return img, nil
}

func (j Job) configFrom() string {
	if j.ConfigFrom != "" {
		return j.ConfigFrom
	}
	if len(j.From) > 0 {
		return j.From[0].Source
	}
	return ""
}

// packSources selects the files of every --from for platform p, merges them and packs
// them into one deterministic layer. One layer, not one per source: it compresses
// best and a slim image has nothing to share with other images above its base.
func packSources(ctx context.Context, job Job, source SourceFunc, p v1.Platform, res *Result) (v1.Layer, string, error) {
	var set *extract.FileSet
	var specs []string
	for _, group := range groupBySource(job.From) {
		src, err := source(ctx, group.source, p)
		if err != nil {
			return nil, "", err
		}
		if err := res.Report.addBefore(group.source, p.String(), src); err != nil {
			return nil, "", err
		}
		var env []string
		if src.Config != nil {
			env = src.Config.Config.Env
		}
		fs, err := extract.Select(src.FS, group.specs, extract.WithDeps(job.Deps), extract.WithEnv(env), extract.WithSourceName(group.source))
		if err != nil {
			return nil, "", fmt.Errorf("taking files from %s: %w", group.source, err)
		}
		if set == nil {
			set = fs
		} else if err := set.Merge(fs); err != nil {
			return nil, "", err
		}
		for _, s := range group.specs {
			specs = append(specs, extract.From{Source: group.source, Spec: s}.String())
		}
	}
	if set == nil {
		return nil, "", fmt.Errorf("nothing to take: give at least one --from SRC:PATH: %w", ErrBadOption)
	}
	layer, err := tarball.NewLayer(set.Entries(), job.Packing...)
	if err != nil {
		return nil, "", fmt.Errorf("packing the new layer: %w", err)
	}
	res.layers = append(res.layers, layer)
	files := set.Files()
	if res.Report.Files == nil {
		res.Report.Files = files // the first platform's; others take the same paths
	}
	history := fmt.Sprintf("slim --from %s (%d files, %d added by --deps)", strings.Join(specs, " --from "), len(files), countDeps(files))
	return layer, history, nil
}

func countDeps(files []extract.File) int {
	n := 0
	for _, f := range files {
		if !strings.HasPrefix(f.Reason, "--from") && f.Reason != "parent directory" {
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

// ImageSources is the SourceFunc for --from sources that are image references: each
// reference is opened once per platform and indexed once.
func ImageSources(ropts ...imageref.Option) SourceFunc {
	cache := map[string]Source{}
	return func(ctx context.Context, src string, p v1.Platform) (Source, error) {
		key := src + "|" + p.String()
		if s, ok := cache[key]; ok {
			return s, nil
		}
		ref, err := imageref.Parse(src, ropts...)
		if err != nil {
			return Source{}, err
		}
		img, err := imageref.Image(ctx, ref, append(append([]imageref.Option{}, ropts...), imageref.WithPlatform(p))...)
		if err != nil {
			return Source{}, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return Source{}, fmt.Errorf("reading config of %s: %w", src, err)
		}
		// Spooled: the closure and the packer read files in their own order, and
		// each step back in a layer would decompress it again from the start
		// (measured: 4× the indexing pass on the C program bench image).
		fsys, err := imagefs.New(ctx, img, imagefs.WithSpool(""))
		if err != nil {
			return Source{}, fmt.Errorf("reading %s: %w", src, err)
		}
		s := Source{FS: fsys, Config: cf, Image: img}
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
func checkCached(ctx context.Context, dir string, img v1.Image, platform string, r *Report, opts []CheckOption) error {
	if dir == "" {
		return checkAndReport(ctx, img, platform, r, opts)
	}
	d, err := img.Digest()
	if err != nil {
		return fmt.Errorf("reading result digest: %w", err)
	}
	o := makeCheckOptions(opts)
	file := filepath.Join(dir, fmt.Sprintf("%s-%s-force=%t.json", d.Hex, checkVersion, o.force))
	if b, err := os.ReadFile(file); err == nil {
		var c checkOutcome
		if json.Unmarshal(b, &c) == nil && len(c.Layers) > 0 {
			for _, w := range c.Warnings {
				o.warn(w)
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
	record := WithWarn(func(msg string) {
		c.Warnings = append(c.Warnings, msg)
		o.warn(msg)
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
func checkAndReport(ctx context.Context, img v1.Image, platform string, r *Report, opts []CheckOption) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("checking image: reading config: %w", err)
	}
	fsys, err := imagefs.New(ctx, img, imagefs.WithLargest(0))
	if err != nil {
		return fmt.Errorf("checking image: reading layers: %w", err)
	}
	defer fsys.Close()
	o := makeCheckOptions(opts)
	if err := check(cf, fsys, &o); err != nil {
		return err
	}
	// Every job writes exactly one layer above its base.
	return r.addAfter(img, fsys, platform, 1)
}
