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
	// WastedFiles are the paths more than one layer holds, as dive lists them: how many
	// layers, and the size of every copy together; largest first.
	WastedFiles []WastedFile `json:"wastedFiles"`
}

// WastedFile is a path several layers hold.
type WastedFile struct {
	Path  string `json:"path"`
	Count int    `json:"count"`
	Size  int64  `json:"size"`
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

// Totals sums the layers. Wasted is slim's figure: the bytes later layers hide (what
// recompress removes). Efficiency, WastedBytes, UserSize and UserWastedPercent are
// dive's (imagefs.Efficiency), the figures its CI rules test.
type Totals struct {
	Size              int64   `json:"size"`
	UncompressedSize  int64   `json:"uncompressedSize"`
	Entries           int     `json:"entries"`
	Wasted            int64   `json:"wasted"`
	Efficiency        float64 `json:"efficiency"`
	WastedBytes       int64   `json:"wastedBytes"`
	UserSize          int64   `json:"userSize"`
	UserWastedPercent float64 `json:"userWastedPercent"`
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
	fsys, err := imagefs.New(ctx, img, append([]imagefs.Option{imagefs.WithLargest(o.largest), imagefs.WithEfficiency()}, o.fsOpts...)...)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	r := &Report{Reference: o.ref, Digest: digest.String(), MediaType: string(mt), Layers: []LayerReport{}, WastedFiles: []WastedFile{}}
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
	e := fsys.Efficiency()
	r.Totals.Efficiency, r.Totals.WastedBytes = e.Score, e.WastedBytes
	r.Totals.UserSize, r.Totals.UserWastedPercent = e.UserSize, e.UserWastedPercent
	for _, f := range e.Files {
		r.WastedFiles = append(r.WastedFiles, WastedFile{Path: f.Path, Count: f.Count, Size: f.Size})
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
