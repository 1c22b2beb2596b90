package job

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/rebase"
)

// ErrNoFrom means a run was given nothing to take.
var ErrNoFrom = errors.New("nothing to take: give at least one --from SRC:PATH[:DEST], or a build CONTEXT to take what the target stage copies")

// Images runs the job on sources that are image references. The first --from's
// source decides between one image and an index: an index source gives an index result
// (every platform it and the base share) unless cfg.Platforms picks exactly one.
func Images(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.From) == 0 {
		return nil, ErrNoFrom
	}
	progress := cfg.progress()
	warn := &warnings{w: progress}
	fmt.Fprintf(progress, "slim: resolving base %s\n", cfg.Base)
	base, err := rebase.ResolveBase(ctx, cfg.Base, cfg.baseOptions()...)
	if err != nil {
		return nil, err
	}
	first := cfg.From[0].Source
	ref, err := imageref.Parse(first, cfg.RefOptions...)
	if err != nil {
		return nil, err
	}
	if ref, err = imageref.Resolve(ctx, ref, cfg.RefOptions...); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "slim: %s\n", ref.Reading())
	srcImg, srcIdx, err := imageref.Open(ctx, ref, cfg.RefOptions...)
	if err != nil {
		return nil, err
	}
	if srcImg != nil && len(cfg.Platforms) > 0 {
		// A single image is one platform: --platform cannot make it another.
		if err := imageref.CheckPlatform(srcImg, cfg.Platforms...); err != nil {
			return nil, fmt.Errorf("reading %s: %w", first, err)
		}
	}
	j := plan{from: cfg.From, deps: cfg.Deps, packing: cfg.packing(), assembly: cfg.assembly(), platforms: cfg.Platforms, force: cfg.Force, warn: warn.warn, takeEntrypoint: true, metadata: cfg.PackageMetadata}
	opened := map[string]v1.Image{}
	if srcImg != nil {
		opened[first] = srcImg
	}
	sources := imageSources(opened, cfg.fsOptions(warn.warn), cfg.RefOptions...)
	var traces []TraceReport
	if len(cfg.Trace.Commands) > 0 {
		if srcIdx != nil && len(cfg.Platforms) != 1 {
			return nil, fmt.Errorf("--trace on %s, an index: %w: give the one platform to trace in with --platform", first, ErrTrace)
		}
		var traced []extract.From
		if traced, traces, err = traceImage(ctx, cfg, first, sources, rebase.ImagePlatform(srcImg, cfg.Platforms...), warn); err != nil {
			return nil, err
		}
		j.from = append(j.from[:len(j.from):len(j.from)], traced...)
	}
	var res *Result
	if srcIdx != nil && len(cfg.Platforms) != 1 {
		res, err = runIndex(ctx, j, base, srcIdx, sources)
	} else {
		res, err = run(ctx, j, base, sources, rebase.ImagePlatform(srcImg, cfg.Platforms...))
	}
	if err != nil {
		return nil, err
	}
	res.Report.Traces = traces
	if len(cfg.Verify.Commands) > 0 {
		if err := verifyImages(ctx, cfg, j, sources, res, warn); err != nil {
			res.Close()
			return nil, err
		}
	}
	if err := res.attest(ctx, cfg, warn.warn); err != nil {
		res.Close()
		return nil, err
	}
	res.Warnings = warn.list
	if err := res.write(ctx, cfg); err != nil {
		res.Close()
		return nil, err
	}
	return res, nil
}
