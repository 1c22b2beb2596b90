package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/internal/tempfile"
	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball"
	"github.com/slim-dev/slim/tarball/output"
)

// Result is what a run made: one image, or an index of one image per platform, the
// report of what it did and the warnings it gave on the way.
type Result struct {
	Image    v1.Image
	Index    v1.ImageIndex
	Report   *Report
	Warnings []string
	layers   []*tarball.Layer
	// invocations are the builds' invocations by platform, for provenance.
	invocations map[string]*build.Invocation
}

// Close removes the spooled layer files. Call it once the result has been written.
func (r *Result) Close() error {
	var errs []error
	for _, l := range r.layers {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// write writes the result to every output of cfg. It prints nothing, so that a
// build can run it while BuildKit's display is still up.
func (r *Result) write(ctx context.Context, cfg Config) error {
	if len(cfg.Outputs) == 0 {
		return nil
	}
	var subject any = r.Image
	if r.Index != nil {
		subject = r.Index
	}
	return output.Write(ctx, subject, cfg.Outputs, append(cfg.OutputOptions, output.WithSteps(cfg.Steps))...)
}

// WriteReport writes the report as JSON to path (--report), atomically.
func (r *Result) WriteReport(path string) error {
	b, err := json.MarshalIndent(r.Report, "", "  ")
	if err != nil {
		return err
	}
	if err := tempfile.WriteAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("writing --report: %w", err)
	}
	return nil
}

// combine turns the per-platform results of a build into one result: an index when
// there are several platforms, in the images' own family as an image source's index is.
func combine(results []*Result) (*Result, error) {
	if len(results) == 1 {
		return results[0], nil
	}
	out := &Result{Report: &Report{}}
	var images []rebase.PlatformImage
	for _, r := range results {
		images = append(images, rebase.PlatformImage{Image: r.Image, Platform: rebase.ImagePlatform(r.Image)})
		out.Report.Base = r.Report.Base
		out.Report.Sources = append(out.Report.Sources, r.Report.Sources...)
		out.Report.Images = append(out.Report.Images, r.Report.Images...)
		out.Report.Verifications = append(out.Report.Verifications, r.Report.Verifications...)
		if out.Report.Files == nil {
			out.Report.Files = r.Report.Files
		}
		out.layers = append(out.layers, r.layers...)
		for pl, inv := range r.invocations {
			if out.invocations == nil {
				out.invocations = map[string]*build.Invocation{}
			}
			out.invocations[pl] = inv
		}
	}
	idx, err := rebase.Index("", images...)
	if err != nil {
		return nil, err
	}
	out.Index = idx
	return out, nil
}
