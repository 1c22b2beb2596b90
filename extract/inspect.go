package extract

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/imagefs"
)

// Report says where an image's bytes go. Its JSON form is documented in README.md
// ("slim inspect --json"); keep the two in step.
type Report struct {
	Reference string        `json:"reference"`
	Digest    string        `json:"digest"`
	MediaType string        `json:"mediaType"`
	Platform  string        `json:"platform,omitempty"`
	Layers    []LayerReport `json:"layers"`
	Totals    Totals        `json:"totals"`
}

// LayerReport is one layer of a Report.
type LayerReport struct {
	Index            int        `json:"index"`
	Digest           string     `json:"digest"`
	DiffID           string     `json:"diffID"`
	MediaType        string     `json:"mediaType"`
	Size             int64      `json:"size"`
	UncompressedSize int64      `json:"uncompressedSize"`
	Entries          int        `json:"entries"`
	CreatedBy        string     `json:"createdBy"`
	Wasted           int64      `json:"wasted"`
	Largest          []FileSize `json:"largest"`
}

// FileSize is one file and its content size.
type FileSize struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// Totals sums the layers. Efficiency is 1 − wasted/uncompressed, the score dive reports.
type Totals struct {
	Size             int64   `json:"size"`
	UncompressedSize int64   `json:"uncompressedSize"`
	Entries          int     `json:"entries"`
	Wasted           int64   `json:"wasted"`
	Efficiency       float64 `json:"efficiency"`
}

type inspectOptions struct {
	largest int
	ref     string
	fsOpts  []imagefs.Option
}

// InspectOption configures Inspect.
type InspectOption func(*inspectOptions)

// WithImageOptions adds options to the reading of the image (imagefs.WithLenient).
func WithImageOptions(opts ...imagefs.Option) InspectOption {
	return func(o *inspectOptions) { o.fsOpts = append(o.fsOpts, opts...) }
}

// WithLargest sets how many of each layer's largest files the report lists.
func WithLargest(n int) InspectOption { return func(o *inspectOptions) { o.largest = n } }

// WithReference records the reference the user typed, so the report names the image as they did.
func WithReference(ref string) InspectOption { return func(o *inspectOptions) { o.ref = ref } }

// Inspect indexes every layer of img once and reports sizes, entry counts, the history line
// that created each layer, wasted bytes and the largest files.
func Inspect(ctx context.Context, img v1.Image, opts ...InspectOption) (*Report, error) {
	o := inspectOptions{largest: 10}
	for _, opt := range opts {
		opt(&o)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("computing image digest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, fmt.Errorf("reading manifest media type: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	fsys, err := imagefs.New(ctx, img, append([]imagefs.Option{imagefs.WithLargest(o.largest)}, o.fsOpts...)...)
	if err != nil {
		return nil, err
	}
	r := &Report{Reference: o.ref, Digest: digest.String(), MediaType: string(mt), Layers: []LayerReport{}}
	if cfg.OS != "" {
		r.Platform = cfg.Platform().String()
	}
	createdBy := layerHistory(cfg)
	for i, l := range fsys.Layers() {
		lr := LayerReport{
			Index:            i,
			Digest:           l.Digest.String(),
			DiffID:           l.DiffID.String(),
			MediaType:        string(l.MediaType),
			Size:             l.Size,
			UncompressedSize: l.UncompressedSize,
			Entries:          l.Entries,
			Wasted:           l.Wasted,
			Largest:          []FileSize{},
		}
		if i < len(createdBy) {
			lr.CreatedBy = createdBy[i]
		}
		for _, f := range l.Files {
			lr.Largest = append(lr.Largest, FileSize{Path: f.Path, Size: f.Size})
		}
		r.Layers = append(r.Layers, lr)
		r.Totals.Size += lr.Size
		r.Totals.UncompressedSize += lr.UncompressedSize
		r.Totals.Entries += lr.Entries
		r.Totals.Wasted += lr.Wasted
	}
	r.Totals.Efficiency = 1
	if r.Totals.UncompressedSize > 0 {
		r.Totals.Efficiency = 1 - float64(r.Totals.Wasted)/float64(r.Totals.UncompressedSize)
	}
	return r, nil
}

// layerHistory returns the created_by line of each non-empty history entry, which pair with
// the layers in order (empty_layer entries such as ENV have no layer).
func layerHistory(cfg *v1.ConfigFile) []string {
	var out []string
	for _, h := range cfg.History {
		if h.EmptyLayer {
			continue
		}
		out = append(out, h.CreatedBy)
	}
	return out
}
