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
	opens := 0
	entries := func() []Entry {
		body := strings.Repeat("cache me ", 10_000)
		return []Entry{{
			Header: &tar.Header{Typeflag: tar.TypeReg, Name: "a/file", Mode: 0o644, Size: int64(len(body))},
			Open: func() (io.ReadCloser, error) {
				opens++
				return io.NopCloser(strings.NewReader(body)), nil
			},
		}}
	}
	for _, c := range []Compression{Gzip, Zstd} {
		tmp := t.TempDir()
		opts := []Option{WithCompression(c), WithLevel(LevelBest), WithTempDir(tmp)}
		plain, err := NewLayer(entries(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		opens = 0
		first, err := NewLayer(entries(), append(opts, WithCacheDir(cache))...)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		// A miss reads each source once: the tar hashed for the key is the one
		// compressed (a BuildKit stage's files would cross the gateway twice).
		if opens != 1 {
			t.Errorf("%s: a cache miss opened the file %d times, want 1", c, opens)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 2 { // the two layers' blobs
			t.Errorf("%s: temp dir holds %d files after two layers, want 2", c, len(left))
		}
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
