package tarball

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/slim-dev/slim/internal/limits"
	"github.com/slim-dev/slim/internal/mediatype"
)

func TestParseCompression(t *testing.T) {
	tests := []struct {
		in      string
		want    Compression
		wantErr error
	}{
		{"gzip", Gzip, nil},
		{"GZIP", Gzip, nil},
		{"zstd", Zstd, nil},
		{"uncompressed", Uncompressed, nil},
		{"none", Uncompressed, nil},
		{"bzip2", "", ErrBadCompression},
		{"", "", ErrBadCompression},
	}
	for _, tt := range tests {
		got, err := ParseCompression(tt.in)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("ParseCompression(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    Level
		wantErr error
	}{
		{"best", LevelBest, nil},
		{"default", LevelDefault, nil},
		{"", LevelDefault, nil},
		{"9", 9, nil},
		{"19", 19, nil},
		{"0", 0, ErrBadLevel},
		{"23", 0, ErrBadLevel},
		{"-1", 0, ErrBadLevel},
		{"fast", 0, ErrBadLevel},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil {
			if back, err := ParseLevel(got.String()); err != nil || back != got {
				t.Errorf("ParseLevel(%q.String()) = %v, %v", got, back, err)
			}
		}
	}
}

func TestOptionsRefuseBadCombinations(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		wantErr error
	}{
		{"gzip level 10", []Option{WithCompression(Gzip), WithLevel(10)}, ErrBadLevel},
		{"gzip level -3", []Option{WithCompression(Gzip), WithLevel(-3)}, ErrBadLevel},
		{"zstd level 23", []Option{WithCompression(Zstd), WithLevel(23)}, ErrBadLevel},
		{"uncompressed with level", []Option{WithCompression(Uncompressed), WithLevel(6)}, ErrBadLevel},
		{"uncompressed at the CLI's default level best", []Option{WithCompression(Uncompressed), WithLevel(LevelBest)}, nil},
		{"unknown compression", []Option{WithCompression("lz4")}, ErrBadCompression},
		{"zstd with docker types", []Option{WithCompression(Zstd), WithMediaTypes(mediatype.Docker)}, ErrBadOption},
		{"unknown media types", []Option{WithMediaTypes("appc")}, ErrBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewCompressWriter(io.Discard, tt.opts...); !errors.Is(err, tt.wantErr) {
				t.Errorf("NewCompressWriter() error = %v, want %v", err, tt.wantErr)
			}
			if _, err := NewLayer([]Entry{file("a", "a", 0o644)}, tt.opts...); !errors.Is(err, tt.wantErr) {
				t.Errorf("NewLayer() error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// testData is compressible but not trivial: random words from a small vocabulary,
// with some incompressible stretches, long enough to span many gzip blocks.
func testData(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"layer ", "slim ", "image ", "tar ", "gzip ", "zstd ", "\n", "lib", "so.6 ", "usr/"}
	var b bytes.Buffer
	for b.Len() < n {
		if r.IntN(50) == 0 {
			for range 2000 {
				b.WriteByte(byte(r.Uint32()))
			}
			continue
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

func compress(t testing.TB, data []byte, opts ...Option) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewCompressWriter(&buf, opts...)
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes make block boundaries fall inside writes.
	for p := data; len(p) > 0; {
		k := min(len(p), 77777)
		if _, err := w.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decompress(t testing.TB, c Compression, blob []byte) []byte {
	t.Helper()
	var r io.Reader
	switch c {
	case Gzip:
		// The standard library's reader, not klauspost's: any gzip reader must
		// accept the block-parallel stream.
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		r = zr
	case Zstd:
		zr, err := zstd.NewReader(bytes.NewReader(blob), zstd.WithDecoderMaxWindow(zstdBestWindow))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		r = bytes.NewReader(blob)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompressing %s: %v", c, err)
	}
	return out
}

// TestCompressionIdenticalAcrossWorkers is the determinism promise: the number of
// goroutines a stream uses must never change its bytes, so digests do not depend on
// the machine or GOMAXPROCS.
func TestCompressionIdenticalAcrossWorkers(t *testing.T) {
	data := testData(3<<20 + 12345)
	tests := []struct {
		name string
		opts []Option
	}{
		{"gzip best, 64 KiB blocks", []Option{WithCompression(Gzip), WithLevel(LevelBest), func(o *options) { o.gzipBlock = 64 << 10 }}},
		{"gzip default", []Option{WithCompression(Gzip)}},
		{"gzip 1", []Option{WithCompression(Gzip), WithLevel(1)}},
		{"zstd best", []Option{WithCompression(Zstd), WithLevel(LevelBest)}},
		{"zstd default", []Option{WithCompression(Zstd)}},
		{"zstd 3", []Option{WithCompression(Zstd), WithLevel(3)}},
		{"zstd 7", []Option{WithCompression(Zstd), WithLevel(7)}},
		{"uncompressed", []Option{WithCompression(Uncompressed)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := makeOptions(tt.opts...)
			var first []byte
			for _, workers := range []int{1, 2, 3, 8} {
				got := compress(t, data, append(tt.opts, withWorkers(workers))...)
				if first == nil {
					first = got
					if !bytes.Equal(decompress(t, o.compression, got), data) {
						t.Fatalf("round trip with %d workers changed the data", workers)
					}
					continue
				}
				if !bytes.Equal(got, first) {
					t.Fatalf("%d workers: %d bytes differ from 1 worker's %d bytes", workers, len(got), len(first))
				}
			}
		})
	}
}

func TestGzipEdgeSizes(t *testing.T) {
	const block = 4 << 10
	for _, n := range []int{0, 1, block - 1, block, block + 1, 3 * block, 10*block + 7} {
		data := testData(n)
		blob := compress(t, data, WithCompression(Gzip), WithLevel(9), func(o *options) { o.gzipBlock = block })
		if got := decompress(t, Gzip, blob); !bytes.Equal(got, data) {
			t.Errorf("%d bytes: round trip gave %d bytes", n, len(got))
		}
	}
}

// TestCompressedStreamsReadByCLI checks that the reference tools decode what this
// package writes: `zstd -d` with its default window limit (no --long), and `gzip -t`
// on the block-parallel stream.
func TestCompressedStreamsReadByCLI(t *testing.T) {
	data := testData(5 << 20)
	tests := []struct {
		tool string
		args []string
		opts []Option
	}{
		{"zstd", []string{"-d", "-c", "-q"}, []Option{WithCompression(Zstd), WithLevel(LevelBest)}},
		{"zstd", []string{"-d", "-c", "-q"}, []Option{WithCompression(Zstd)}},
		{"gzip", []string{"-d", "-c"}, []Option{WithCompression(Gzip), WithLevel(LevelBest)}},
	}
	for _, tt := range tests {
		path, err := exec.LookPath(tt.tool)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed", tt.tool)
			}
			t.Skipf("%s not installed (under CI=true this fails)", tt.tool)
		}
		f := filepath.Join(t.TempDir(), "blob")
		blob := compress(t, data, tt.opts...)
		if err := os.WriteFile(f, blob, 0o644); err != nil {
			t.Fatal(err)
		}
		if o := makeOptions(tt.opts...); o.compression == Zstd && o.level == LevelBest {
			// With no size known up front the full 128 MiB window is announced:
			// the limit `zstd -d` accepts without --long.
			var h zstd.Header
			if err := h.Decode(blob); err != nil || h.WindowSize != zstdBestWindow {
				t.Errorf("zstd best frame window = %d (%v), want %d", h.WindowSize, err, zstdBestWindow)
			}
		}
		cmd := exec.Command(path, append(tt.args, f)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v: %s", tt.tool, tt.args, err, stderr.Bytes())
		}
		if !bytes.Equal(out, data) {
			t.Errorf("%s %v: decoded %d bytes, want the original %d", tt.tool, tt.args, len(out), len(data))
		}
	}
}

func TestCompressWriterAfterClose(t *testing.T) {
	w, err := NewCompressWriter(io.Discard, WithCompression(Gzip))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestGzipWriteErrorSurfaces(t *testing.T) {
	w, err := NewCompressWriter(&failWriter{after: 100}, WithCompression(Gzip), func(o *options) { o.gzipBlock = 4 << 10 })
	if err != nil {
		t.Fatal(err)
	}
	data := testData(1 << 20)
	_, werr := w.Write(data)
	cerr := w.Close()
	if werr == nil && cerr == nil {
		t.Fatal("a failing destination went unnoticed")
	}
}

// TestBestWindowFitsBudget checks that zstd best's window is the largest power of two
// whose encoder (two windows of history and the tables) fits limits.CompressorMemory.
func TestBestWindowFitsBudget(t *testing.T) {
	need := func(w int64) int64 { return 2*w + zstdBestTables }
	if need(zstdBestWindow) > limits.CompressorMemory {
		t.Errorf("a %d MiB window needs %d MiB, over the %d MiB budget", zstdBestWindow>>20, need(zstdBestWindow)>>20, limits.CompressorMemory>>20)
	}
	if zstdBestWindow < zstdReadWindow && need(2*zstdBestWindow) <= limits.CompressorMemory {
		t.Errorf("a %d MiB window would fit the %d MiB budget too: raise zstdBestWindow", 2*zstdBestWindow>>20, limits.CompressorMemory>>20)
	}
}
