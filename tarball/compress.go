package tarball

import (
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// zstdBestWindow is the window at LevelBest: the largest power of two whose encoder
// fits limits.CompressorMemory (TestBestWindowFitsBudget checks it). klauspost's
// stream encoder keeps two windows of history (it slides the window down only when
// the second is full) beside its match tables, so a 128 MiB window peaked at 310 MiB
// RSS on a 470 MiB rootfs layer; 64 MiB peaked at 182 MiB for 0.14% more bytes.
const zstdBestWindow = 64 << 20

// zstdBestTables is what klauspost's best encoder holds besides its history: a
// 4M-entry long and a 256K-entry short table of 8-byte entries, and block buffers.
const zstdBestTables = 40 << 20

// zstdReadWindow is the largest window slim's readers accept: what `zstd -d` (and
// every decoder that follows the format's defaults) accepts without --long, and what
// slim's best level wrote before its window was sized from the memory budget.
const zstdReadWindow = 128 << 20

// NewCompressWriter returns a writer that compresses into w as the options say
// (compression and level). Close must be called to finish the stream; it does not
// close w. The bytes written depend only on the input and the options, never on
// GOMAXPROCS.
func NewCompressWriter(w io.Writer, opts ...Option) (io.WriteCloser, error) {
	o := makeOptions(opts...)
	if err := o.validate(); err != nil {
		return nil, err
	}
	return newCompressor(w, &o)
}

func (o *options) streamWorkers() int {
	if o.workers > 0 {
		return o.workers
	}
	return runtime.GOMAXPROCS(0)
}

func newCompressor(w io.Writer, o *options) (io.WriteCloser, error) {
	switch o.compression {
	case Gzip:
		return newParallelGzip(w, gzipLevel(o.level), o.gzipBlock, o.streamWorkers()), nil
	case Zstd:
		if o.level != LevelBest && parallelZstdLevel(zstdLevel(o.level)) {
			zw, err := newParallelZstd(w, zstdLevel(o.level), zstdFrameSize, o.streamWorkers())
			if err != nil {
				return nil, fmt.Errorf("creating zstd encoder at level %s: %w", o.level, err)
			}
			return zw, nil
		}
		zw, err := zstd.NewWriter(w, zstdOptions(o)...)
		if err != nil {
			return nil, fmt.Errorf("creating zstd encoder at level %s: %w", o.level, err)
		}
		return zw, nil
	case Uncompressed:
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("creating compressor %q: %w", o.compression, ErrBadCompression)
}

func gzipLevel(l Level) int {
	switch l {
	case LevelDefault:
		// gzip's own default, pinned: klauspost's DefaultCompression (5 today) may
		// move, and with it every default-level digest.
		return 6
	case LevelBest:
		return gzipOptimal
	}
	return int(l)
}

func zstdOptions(o *options) []zstd.EOption {
	zo := []zstd.EOption{
		// The frame checksum lets `zstd -t` and other readers verify a layer without
		// the registry digest at hand.
		zstd.WithEncoderCRC(true),
		// Stream concurrency in klauspost zstd only overlaps block encoding with
		// filling; block boundaries do not depend on it (TestCompressionIdenticalAcrossWorkers
		// proves it), so it is safe to use every core.
		zstd.WithEncoderConcurrency(o.streamWorkers()),
	}
	if o.level == LevelBest {
		zo = append(zo, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithWindowSize(bestWindow(o.sizeHint)))
	} else {
		zo = append(zo, zstd.WithEncoderLevel(zstdLevel(o.level)))
	}
	return zo
}

// zstdLevel maps a level below best to klauspost's encoder levels.
func zstdLevel(l Level) zstd.EncoderLevel {
	if l == LevelDefault {
		return zstd.SpeedDefault
	}
	return zstd.EncoderLevelFromZstd(int(l))
}

// bestWindow is the zstd window at LevelBest: zstdBestWindow, or the smallest power of two
// holding the whole stream when its size is known to be smaller. It depends only on
// the entries, so it is as deterministic as the bytes it compresses.
func bestWindow(sizeHint int64) int {
	if sizeHint <= 0 || sizeHint >= zstdBestWindow {
		return zstdBestWindow
	}
	w := 1 << 20
	for int64(w) < sizeHint {
		w <<= 1
	}
	return w
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
