package tarball

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLayerCache(t *testing.T) {
	cache := t.TempDir()
	entries := func() []Entry {
		body := strings.Repeat("cache me ", 10_000)
		return []Entry{{
			Header: &tar.Header{Typeflag: tar.TypeReg, Name: "a/file", Mode: 0o644, Size: int64(len(body))},
			Open:   func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
		}}
	}
	for _, c := range []Compression{Gzip, Zstd} {
		opts := []Option{WithCompression(c), WithLevel(LevelBest), WithTempDir(t.TempDir())}
		plain, err := NewLayer(entries(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		first, err := NewLayer(entries(), append(opts, WithCacheDir(cache))...)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		second, err := NewLayer(entries(), append(opts, WithCacheDir(cache))...)
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		for _, l := range []*Layer{first, second} {
			if l.digest != plain.digest || l.diffID != plain.diffID || l.size != plain.size || l.mediaType != plain.mediaType {
				t.Errorf("%s: cached layer %+v differs from the uncached %+v", c, l, plain)
			}
		}
		blobs, _ := filepath.Glob(filepath.Join(cache, "*-"+string(c)+"-*"))
		var blob string
		for _, b := range blobs {
			if !strings.HasSuffix(b, ".json") {
				blob = b
			}
		}
		a, errA := os.Stat(second.path)
		b, errB := os.Stat(blob)
		if errA != nil || errB != nil || !os.SameFile(a, b) {
			t.Errorf("%s: the second layer was not served from the cache (%v %v)", c, errA, errB)
		}
		// A damaged cache entry is a miss, never a wrong layer.
		if err := os.WriteFile(blob+".json", []byte("{"), 0o644); err != nil {
			t.Fatal(err)
		}
		third, err := NewLayer(entries(), append(opts, WithCacheDir(cache))...)
		if err != nil {
			t.Fatal(err)
		}
		if third.digest != plain.digest {
			t.Errorf("%s: after damage got %s, want %s", c, third.digest, plain.digest)
		}
		third.Close()
		if err := second.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(blob); err != nil {
			t.Errorf("%s: closing a cached layer removed the cache's blob: %v", c, err)
		}
	}
}
