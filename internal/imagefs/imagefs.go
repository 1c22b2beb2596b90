// Package imagefs owns the merged, read-only file system of a container
// image: every layer is indexed once in a single streaming pass (digest
// checked on the way), whiteouts and opaque directories are applied, and
// file content is read lazily from the layer blobs when a file is opened.
//
// The index keeps per file only its header fields and where its bytes are
// (layer, offset in the uncompressed tar stream, size), so memory grows with
// the number of entries and never with the size of the layers.
//
// Hard links stay hard links where a tar-minded reader looks (Lstat, Walk,
// ReadDir's Info give tar.TypeLink headers naming the file with the content)
// and read as the file everywhere else, so extractors can keep a pair as one
// file. What rewriting the layers needs on top (which layer each path comes
// from, where whiteouts act, what a kept base shows) is recorded on request:
// WithRewriteInfo.
package imagefs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/slim-dev/slim/internal/progress"
)

var (
	// ErrDigestMismatch means a layer blob's bytes do not hash to its digest.
	ErrDigestMismatch = errors.New("layer digest mismatch")
	// ErrCorruptLayer means a layer blob could not be decompressed or its tar
	// stream could not be read (corrupt or truncated).
	ErrCorruptLayer = errors.New("corrupt layer")
	// ErrLoop means resolving a path followed more than 40 symbolic links.
	ErrLoop = errors.New("too many levels of symbolic links")
	// ErrDiffIDMismatch means a layer's uncompressed stream does not hash to the diff
	// ID its image's config lists.
	ErrDiffIDMismatch = errors.New("layer diff id mismatch")
	// ErrUnsafeEntry means a tar entry's name, or a hard link's target, climbs out of
	// the root ("../x"). Docker refuses such layers; slim does too, for every command.
	ErrUnsafeEntry = errors.New("unsafe tar entry")
)

// maxHops matches Linux's MAXSYMLINKS, so a path that resolves in a running
// container resolves here too.
const maxHops = 40

// Option configures New.
type Option func(*options)

type options struct {
	largest     int
	concurrency int
	rewrite     bool
	keepBase    int
	spool       bool
	spoolDir    string
	lenient     func(string)
	efficiency  bool
	progress    progress.Sink
}

func makeOptions(opts []Option) options {
	o := options{largest: 10, concurrency: runtime.GOMAXPROCS(0)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.concurrency < 1 {
		o.concurrency = 1
	}
	if o.largest < 0 {
		o.largest = 0
	}
	return o
}

// WithLargest sets how many of each layer's biggest files LayerIndex.Files
// lists (default 10).
func WithLargest(n int) Option { return func(o *options) { o.largest = n } }

// WithConcurrency sets how many layers are indexed at once (default
// GOMAXPROCS): decompression is CPU bound, more workers than cores only
// add memory.
func WithConcurrency(n int) Option { return func(o *options) { o.concurrency = n } }

// WithSpool keeps each layer's uncompressed tar stream, as the indexing pass
// decompresses it, in an unlinked temporary file in dir ("" for the system's),
// and serves file content from there. It is for callers that read most of the
// image (recompressing, squashing), in any order: each layer is then
// decompressed exactly once, at the cost of disk space for the uncompressed
// layers. Without it a read out of tar order decompresses the layer again from
// the start. Layers that WithRewriteInfo keeps as base are not spooled: their
// content is never read. Close drops the spool.
func WithSpool(dir string) Option {
	return func(o *options) { o.spool, o.spoolDir = true, dir }
}

// WithProgress shows the reading and indexing of each layer as a step of s, with
// its compressed bytes read.
func WithProgress(s progress.Sink) Option { return func(o *options) { o.progress = s } }

// WithLenient drops the tar entries that climb out of the root (ErrUnsafeEntry)
// instead of refusing their layer, and tells warn of each, with its layer: "layer 2
// (sha256:…): dropped entry "../x", which climbs out of the root". warn is called from
// one goroutine at a time. Limits (path length and depth, entry count) still refuse.
func WithLenient(warn func(string)) Option {
	return func(o *options) {
		if warn == nil {
			warn = func(string) {}
		}
		o.lenient = warn
	}
}

// dropper is the drop function indexLayer gets for layer i: nil unless WithLenient.
func (o *options) dropper(mu *sync.Mutex, i int, digest v1.Hash) func(string) {
	if o.lenient == nil {
		return nil
	}
	return func(what string) {
		mu.Lock()
		defer mu.Unlock()
		o.lenient(fmt.Sprintf("layer %d (%s): %s; dropped", i, digest, what))
	}
}

// FileStat is a file path and its size in bytes.
type FileStat struct {
	Path string
	Size int64
}

// LayerIndex describes one layer as indexed.
type LayerIndex struct {
	Digest    v1.Hash
	DiffID    v1.Hash
	MediaType types.MediaType
	// Size is the compressed blob size, UncompressedSize the tar stream size.
	Size             int64
	UncompressedSize int64
	// Entries counts every tar entry, whiteouts and markers included.
	Entries int
	// Wasted counts the bytes of regular files of this layer that the
	// image does not show: overwritten or deleted by later layers (by a
	// whiteout, an opaque directory or a deleted parent), or overwritten
	// later in this same layer.
	Wasted int64
	// Files lists the layer's biggest regular files, biggest first.
	Files []FileStat
}

// FS is the merged view of an image's layers. It implements fs.FS,
// fs.StatFS, fs.ReadDirFS, fs.ReadFileFS and fs.ReadLinkFS, and is safe for
// concurrent use. Close releases the layer readers it keeps open.
type FS struct {
	root    *node
	layers  []LayerIndex
	sources []source
	rewrite *rewriteInfo // nil unless WithRewriteInfo
	// efficiency is dive's score, nil unless WithEfficiency.
	efficiency *Efficiency
}

// New indexes img: each layer is read once, layers in parallel, and the
// merged tree is built from the per-layer indexes in layer order.
func New(ctx context.Context, img v1.Image, opts ...Option) (*FS, error) {
	o := makeOptions(opts)
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing image layers: %w", err)
	}
	// DiffIDs come from the config: asking a layer for its DiffID makes ggcr decompress
	// the whole blob a second time for layouts and archives (measured: 2.5× the indexing time).
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	if len(cf.RootFS.DiffIDs) != len(layers) {
		return nil, fmt.Errorf("image config lists %d diff ids for %d layers: %w", len(cf.RootFS.DiffIDs), len(layers), ErrCorruptLayer)
	}
	f := &FS{
		layers:  make([]LayerIndex, len(layers)),
		sources: make([]source, len(layers)),
	}
	indexes := make([][]rawEntry, len(layers))

	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if f.sources[i], err = newSource(l); err != nil {
			return nil, fmt.Errorf("reading layer %d: %w", i, err)
		}
	}

	var warnMu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.concurrency)
	for i := range layers {
		src := f.sources[i]
		spoolDir := ""
		if o.spool && !(o.rewrite && i < o.keepBase) {
			spoolDir = cmp.Or(o.spoolDir, os.TempDir())
		}
		g.Go(func() (err error) {
			st := progress.Start(o.progress, fmt.Sprintf("reading layer %d of %d %s", i+1, len(layers), shortHex(src.digest)))
			defer func() { st.Done(err) }()
			li, raws, err := indexLayer(gctx, src, o.largest, spoolDir, cf.RootFS.DiffIDs[i], o.dropper(&warnMu, i, src.digest), st)
			if err != nil {
				return fmt.Errorf("indexing layer %d (%s): %w", i, src.digest, err)
			}
			f.layers[i], indexes[i] = li, raws
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		f.dropSpools()
		return nil, err
	}

	b := newBuilder(len(layers))
	if o.rewrite {
		b.rewrite = &rewriteInfo{keepBase: o.keepBase, hides: make([][]Hide, len(layers))}
		f.rewrite = b.rewrite
	}
	var eff *efficiencyCounter
	if o.efficiency {
		eff = &efficiencyCounter{paths: map[string]*pathUse{}}
	}
	for i, raws := range indexes {
		if eff != nil {
			eff.addLayer(b, i, raws)
		}
		b.applyLayer(i, raws)
		indexes[i] = nil // let the raw entries go as soon as they are merged
	}
	for i := range f.layers {
		f.layers[i].Wasted = b.wasted[i]
	}
	f.root = b.finish()
	if eff != nil {
		f.efficiency = eff.result()
	}
	return f, nil
}

// CheckLayers reads layers as New does (digest, diff ID, the rule for tar entries,
// limits) without building a view, for code that passes layers on without reading
// them otherwise (rebase moves an image's own layers as they are). Of the options,
// only WithLenient and WithConcurrency apply: with WithLenient, unsafe entries are
// reported, not refused, and dropped lists the layers (indexes into layers) that have
// any, in order; the caller must not pass those on as they are (see FilterUnsafe).
func CheckLayers(ctx context.Context, layers []v1.Layer, opts ...Option) (dropped []int, err error) {
	o := makeOptions(opts)
	var mu sync.Mutex
	has := make([]bool, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.concurrency)
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		src, err := newSource(l)
		if err != nil {
			return nil, fmt.Errorf("reading layer %d: %w", i, err)
		}
		diffID, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("reading diff id of layer %d (%s): %w", i, src.digest, err)
		}
		var drop func(string)
		if d := o.dropper(&mu, i, src.digest); d != nil {
			drop = func(what string) { has[i] = true; d(what) }
		}
		g.Go(func() error {
			if _, _, err := indexLayer(gctx, src, 0, "", diffID, drop, progress.Start(nil, "")); err != nil {
				return fmt.Errorf("checking layer %d (%s): %w", i, src.digest, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, h := range has {
		if h {
			dropped = append(dropped, i)
		}
	}
	return dropped, nil
}

// Layers returns a copy of the per-layer index, bottom layer first.
func (f *FS) Layers() []LayerIndex {
	out := make([]LayerIndex, len(f.layers))
	for i, l := range f.layers {
		l.Files = append([]FileStat(nil), l.Files...)
		out[i] = l
	}
	return out
}

// Close releases the decompressors kept for reading files in tar order and
// the spool files of WithSpool. The FS stays usable (content is then read
// from the layer blobs again), but a file whose reading began from a spool
// fails its next read.
func (f *FS) Close() error {
	var errs []error
	for i := range f.sources {
		errs = append(errs, f.sources[i].pool.closeIdle())
	}
	errs = append(errs, f.dropSpools())
	return errors.Join(errs...)
}

func (f *FS) dropSpools() error {
	var errs []error
	for i := range f.sources {
		errs = append(errs, f.sources[i].spool.close())
	}
	return errors.Join(errs...)
}

// source is what the FS needs to re-read a layer blob.
type source struct {
	layer  v1.Layer
	digest v1.Hash
	codec  codec
	pool   *cursorPool
	spool  *spool // the uncompressed tar stream, with WithSpool
}

func newSource(l v1.Layer) (source, error) {
	d, err := l.Digest()
	if err != nil {
		return source{}, fmt.Errorf("reading digest: %w", err)
	}
	mt, err := l.MediaType()
	if err != nil {
		return source{}, fmt.Errorf("reading media type of %s: %w", d, err)
	}
	return source{layer: l, digest: d, codec: codecFor(mt), pool: newCursorPool(), spool: &spool{}}, nil
}

// shortHex is a digest as BuildKit's display shows a layer: its first 12 hex digits.
func shortHex(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Algorithm + ":" + h.Hex[:12]
	}
	return h.String()
}
