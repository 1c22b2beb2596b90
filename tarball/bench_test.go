package tarball

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// benchTar returns a ~100 MB tar of this machine's /usr/lib files (see usrLibEntries),
// written into the benchmark's temporary directory. SLIM_BENCH_TAR names an existing
// tar to use instead, so the same bytes can be fed to gzip, pigz and zstd.
func benchTar(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("SLIM_BENCH_TAR"); p != "" {
		return p
	}
	entries, err := usrLibEntries()
	if err != nil {
		b.Skipf("listing /usr/lib: %v", err)
	}
	p := filepath.Join(b.TempDir(), "usrlib.tar")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := WriteTar(f, entries, WithParents()); err != nil {
		b.Fatal(err)
	}
	return p
}

// usrLibEntries picks the benchmark's files: every fourth regular file under 4 MiB
// in /usr/lib, in walk order, until 100 MB.
func usrLibEntries() ([]Entry, error) {
	const target = 100_000_000
	var entries []Entry
	var total int64
	i := 0
	err := filepath.WalkDir("/usr/lib", func(p string, d fs.DirEntry, err error) error {
		if err != nil || total > target {
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() >= 4<<20 {
			return nil
		}
		if i++; i%4 != 0 {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		f.Close()
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return nil
		}
		hdr.Name = p
		entries = append(entries, Entry{Header: hdr, Open: func() (io.ReadCloser, error) { return os.Open(p) }})
		total += info.Size()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if total < target/2 {
		return nil, fmt.Errorf("only %d bytes of files under /usr/lib", total)
	}
	return entries, nil
}

func benchCompress(b *testing.B, opts ...Option) {
	path := benchTar(b)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var out countWriter
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		out = 0
		w, err := NewCompressWriter(&out, opts...)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(w, f); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.ReportMetric(float64(out), "compressed-bytes")
	b.ReportMetric(float64(out)/float64(fi.Size()), "ratio")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
}

// BenchmarkGzipBest compresses the benchmark tar at gzip LevelBest with one worker per
// core. Compare with `pigz -9 -p 2`, `gzip -9` on the same tar (SLIM_BENCH_TAR).
func BenchmarkGzipBest(b *testing.B) { benchCompress(b, WithCompression(Gzip), WithLevel(LevelBest)) }

// BenchmarkZstdBest compresses the benchmark tar at zstd LevelBest (128 MiB window).
// Compare with `zstd -19 -T2` on the same tar.
func BenchmarkZstdBest(b *testing.B) { benchCompress(b, WithCompression(Zstd), WithLevel(LevelBest)) }

// BenchmarkNewLayerGzipBest is the whole layer path on the same files: tar writing,
// both digests, compression and spooling, to show the single pass costs little more
// than compression alone.
func BenchmarkNewLayerGzipBest(b *testing.B) {
	entries, err := usrLibEntries()
	if err != nil {
		b.Skipf("listing /usr/lib: %v", err)
	}
	b.ReportAllocs()
	dir := b.TempDir()
	for b.Loop() {
		l, err := NewLayer(entries, WithCompression(Gzip), WithLevel(LevelBest), WithParents(), WithTempDir(dir))
		if err != nil {
			b.Fatal(err)
		}
		size, _ := l.Size()
		b.ReportMetric(float64(size), "compressed-bytes")
		l.Close()
	}
}

// BenchmarkGzipDefault is the everyday setting, for scale.
func BenchmarkGzipDefault(b *testing.B) { benchCompress(b, WithCompression(Gzip)) }

// BenchmarkCacheHit is a warm build's layer: the key from content IDs (no file read),
// then the hit's verification (the entry's check, the cached blob's size and digest;
// no decompression: 86 ms against 456 ms for gzip with it, on /usr/lib), which is all
// that a hit costs over linking the blob. Compare with BenchmarkNewLayerGzipBest, the
// miss.
func BenchmarkCacheHit(b *testing.B) {
	entries, err := usrLibEntries()
	if err != nil {
		b.Skipf("listing /usr/lib: %v", err)
	}
	for i := range entries {
		entries[i].ContentID = entries[i].Header.Name
	}
	for _, c := range []Compression{Gzip, Zstd} {
		b.Run(string(c), func(b *testing.B) {
			opts := []Option{WithCompression(c), WithParents(), WithTempDir(b.TempDir()), WithCacheDir(b.TempDir())}
			l, err := NewLayer(entries, opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(l.size)
			l.Close()
			b.ReportAllocs()
			for b.Loop() {
				l, err := NewLayer(entries, opts...)
				if err != nil {
					b.Fatal(err)
				}
				l.Close()
			}
		})
	}
}
