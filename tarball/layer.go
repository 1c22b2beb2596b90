package tarball

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"runtime"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/semaphore"

	"github.com/slim-dev/slim/internal/ctxio"
	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/internal/progress"
	"github.com/slim-dev/slim/internal/tempfile"
)

// Layer is a layer written by NewLayer: its compressed blob lives in a temporary file,
// its digests were computed while it was written, and every read re-opens the file.
//
// Layer owns that file and Close removes it. An explicit Close, rather than a
// directory whose lifetime the caller manages, keeps the file's lifetime next to the
// value that needs it: a caller can hand layers to other packages and close each when
// its image has been written, and NewLayers can clean up after a partial failure
// without knowing where the caller keeps its scratch space.
type Layer struct {
	path        string
	compression Compression
	mediaType   types.MediaType
	digest      v1.Hash
	diffID      v1.Hash
	size        int64

	mu     sync.Mutex
	closed bool
}

var _ v1.Layer = (*Layer)(nil)

// NewLayer packs entries into a deterministic tar, compresses it once into a temporary
// file, and returns the layer. The compressed digest and size and the uncompressed
// diffID are computed in the same pass, so content is read exactly once and memory
// stays bounded whatever the layer's size. Call Close when the layer is no longer
// needed.
func NewLayer(entries []Entry, opts ...Option) (*Layer, error) {
	o := makeOptions(opts...)
	if err := o.validate(); err != nil {
		return nil, err
	}
	// Spools of killed runs are named (tempfile) so that a later run can take them away.
	tempfile.RemoveDead(o.tempDir)
	return newLayer(context.Background(), entries, &o, progress.Start(o.progress, "packing the new layer ("+string(o.compression)+")"))
}

// newLayer writes one layer, shown as st, which it ends.
func newLayer(ctx context.Context, entries []Entry, o *options, st progress.Step) (l *Layer, err error) {
	defer func() { st.Done(err) }()
	mt, err := mediaType(o)
	if err != nil {
		return nil, err
	}
	plan, err := planEntries(entries, o)
	if err != nil {
		return nil, fmt.Errorf("writing layer: %w", err)
	}
	// With the cache, the tar is written once, to a spool file while it is hashed
	// for the key; a miss compresses from that file. Reading the sources a second
	// time would cost more: a BuildKit stage's files cross the gateway again
	// (~150 MB/s), an image's are decompressed again. When the sources name their
	// content (Entry.ContentID), a first key needs only the content of the files
	// without one; when it misses (a rebuild whose files may still be the same
	// bytes) the tar's key is tried, and the layer is kept under both.
	var tarSpool *os.File
	if o.cacheDir != "" {
		var keys []string
		idKey, ok, err := contentIDKey(ctx, plan, o, mt)
		if err != nil {
			return nil, err
		}
		if ok {
			if l, err := fromCache(o, idKey); l != nil || err != nil {
				st.Log("from the layer cache")
				return l, err
			}
			keys = append(keys, idKey)
		}
		if tarSpool, err = tempfile.Unlinked(o.tempDir, "tar"); err != nil {
			return nil, err
		}
		defer tarSpool.Close()
		bw := bufio.NewWriterSize(tarSpool, 1<<20)
		key, err := cacheKey(ctx, plan, o, mt, bw)
		if err != nil {
			return nil, err
		}
		if err := bw.Flush(); err != nil {
			return nil, fmt.Errorf("writing tar spool file: %w", err)
		}
		if l, err := fromCache(o, key); l != nil || err != nil {
			st.Log("from the layer cache")
			if l != nil && len(keys) > 0 {
				toCache(o, keys, l)
			}
			return l, err
		}
		keys = append(keys, key)
		defer func() {
			if err == nil {
				toCache(o, keys, l)
			}
		}()
	}
	co := *o
	co.sizeHint = tarSizeBound(plan)
	f, err := tempfile.Create(o.tempDir, "layer")
	if err != nil {
		return nil, fmt.Errorf("creating layer spool file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()

	compHash, diffHash := sha256.New(), sha256.New()
	var size countWriter
	in, out := progress.NewCounter(st, "tar in", co.sizeHint), progress.NewCounter(st, string(o.compression)+" out", 0)
	defer in.Flush()
	defer out.Flush()
	bw := bufio.NewWriterSize(f, 1<<20)
	cw, err := newCompressor(io.MultiWriter(bw, compHash, &size, out), &co)
	if err != nil {
		return nil, err
	}
	tarOut := ctxio.Writer(ctx, io.MultiWriter(cw, diffHash, in))
	if tarSpool != nil {
		_, err = io.CopyBuffer(tarOut, io.NewSectionReader(tarSpool, 0, math.MaxInt64), make([]byte, 1<<20))
	} else {
		err = writePlan(tarOut, plan, o.readAhead)
	}
	if err != nil {
		cw.Close()
		return nil, fmt.Errorf("writing layer: %w", err)
	}
	if err := cw.Close(); err != nil {
		return nil, fmt.Errorf("finishing %s stream: %w", o.compression, err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("writing layer spool file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("closing layer spool file: %w", err)
	}
	return &Layer{
		path:        f.Name(),
		compression: o.compression,
		mediaType:   mt,
		digest:      sum(compHash),
		diffID:      sum(diffHash),
		size:        int64(size),
	}, nil
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
}

func mediaType(o *options) (types.MediaType, error) {
	mt, err := mediatype.Layer(o.mediaTypes, o.compression.Algorithm())
	if err != nil {
		return "", fmt.Errorf("choosing media type for %s layers: %w: %w", o.compression, err, ErrBadOption)
	}
	return mt, nil
}

// Digest returns the sha256 of the compressed blob.
func (l *Layer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID returns the sha256 of the uncompressed tar.
func (l *Layer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size returns the size of the compressed blob.
func (l *Layer) Size() (int64, error) { return l.size, nil }

// MediaType returns the layer's media type.
func (l *Layer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// Compression returns how the blob is compressed.
func (l *Layer) Compression() Compression { return l.compression }

// Compressed opens the spooled blob.
func (l *Layer) Compressed() (io.ReadCloser, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("opening layer %s: %w", l.digest, os.ErrClosed)
	}
	f, err := os.Open(l.path)
	if err != nil {
		return nil, fmt.Errorf("opening layer %s: %w", l.digest, err)
	}
	return f, nil
}

// Uncompressed opens the spooled blob and decompresses it on the fly.
func (l *Layer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rc, 1<<20)
	switch l.compression {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("decompressing layer %s: %w", l.digest, err)
		}
		return readCloser{Reader: zr, close: func() error { return errors.Join(zr.Close(), rc.Close()) }}, nil
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(zstdReadWindow))
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("decompressing layer %s: %w", l.digest, err)
		}
		return readCloser{Reader: zr, close: func() error { zr.Close(); return rc.Close() }}, nil
	}
	return readCloser{Reader: br, close: rc.Close}, nil
}

// Close removes the spooled blob. Readers already open keep working until closed
// (on Unix); new ones fail.
func (l *Layer) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing layer spool file: %w", err)
	}
	return nil
}

// NewLayers builds one layer per entry set, in parallel with one worker per core, and
// returns them in input order. Their bytes are the same as NewLayer's for each set.
// On error or cancellation every layer already made is closed.
func NewLayers(ctx context.Context, sets [][]Entry, opts ...Option) ([]*Layer, error) {
	o := makeOptions(opts...)
	if err := o.validate(); err != nil {
		return nil, err
	}
	tempfile.RemoveDead(o.tempDir)
	procs := runtime.GOMAXPROCS(0)
	workers := max(1, min(procs, len(sets)))
	if o.workers == 0 {
		// Cores are shared between layers first; a stream only gets several when
		// there are fewer layers than cores. Output does not depend on this.
		o.workers = max(1, procs/workers)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// zstd's best encoder takes 100–150 MiB whatever the layer (its match tables are
	// large and fixed, its window up to 128 MiB; measured: 102 MiB RSS at a 32 MiB
	// window, 141 MiB at 128 MiB), so two at once break the 256 MiB budget: best-level
	// zstd layers take turns, other layers still share the cores. Output does not
	// depend on this.
	var turns int64 // weight each layer takes of bestZstd: 1 for best-level zstd
	if o.compression == Zstd && o.level == LevelBest {
		turns = 1
	}
	bestZstd := semaphore.NewWeighted(1)
	layers := make([]*Layer, len(sets))
	errs := make([]error, len(sets))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := bestZstd.Acquire(ctx, turns); err != nil {
					errs[i] = fmt.Errorf("building layer %d: %w", i, err)
					continue
				}
				l, err := newLayer(ctx, sets[i], &o, progress.Start(o.progress, fmt.Sprintf("packing layer %d of %d (%s)", i+1, len(sets), o.compression)))
				bestZstd.Release(turns)
				if err != nil {
					errs[i] = fmt.Errorf("building layer %d: %w", i, err)
					cancel()
					continue
				}
				layers[i] = l
			}
		})
	}
feed:
	for i := range sets {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()

	err := firstError(errs)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		for _, l := range layers {
			if l != nil {
				l.Close()
			}
		}
		return nil, err
	}
	return layers, nil
}

// firstError returns the error that stopped the others: one that is not the
// cancellation NewLayers itself caused, else the first.
func firstError(errs []error) error {
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }
