package tarball

import (
	"archive/tar"
	"fmt"
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
		keys, _ := filepath.Glob(filepath.Join(cache, "keys", "*-"+string(c)+"-*"))
		if len(keys) != 1 {
			t.Fatalf("%s: %d cache keys, want 1", c, len(keys))
		}
		key := keys[0]
		blob := filepath.Join(cache, "blobs", "sha256", plain.digest.Hex)
		// The key names the encoder's version, so another slim's cache is not served.
		// (klauspost/compress's version follows it in a binary; a test binary's build
		// info lists no modules, so there it reads "unknown".)
		if base := filepath.Base(key); !strings.Contains(base, fmt.Sprintf("-e%d-", encodingVersion)) {
			t.Errorf("%s: cache key %s does not name the encoding version", c, base)
		}
		a, errA := os.Stat(second.path)
		b, errB := os.Stat(blob)
		if errA != nil || errB != nil || !os.SameFile(a, b) {
			t.Errorf("%s: the second layer was not served from the cache (%v %v)", c, errA, errB)
		}
		// A damaged cache entry is a miss, never a wrong layer.
		if err := os.WriteFile(key, []byte("{"), 0o644); err != nil {
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

// With content IDs the cache key needs no content: a hit opens nothing, and any
// change to a header, an ID or the settings is a miss that packs the new content.
func TestLayerCacheContentID(t *testing.T) {
	cache := t.TempDir()
	opens := 0
	entries := func(body, id string, mode int64) []Entry {
		return []Entry{
			{Header: &tar.Header{Typeflag: tar.TypeDir, Name: "a/", Mode: 0o755}},
			{
				Header: &tar.Header{Typeflag: tar.TypeReg, Name: "a/file", Mode: mode, Size: int64(len(body))},
				Open: func() (io.ReadCloser, error) {
					opens++
					return io.NopCloser(strings.NewReader(body)), nil
				},
				ContentID: id,
			},
		}
	}
	layer := func(es []Entry, opts ...Option) *Layer {
		t.Helper()
		l, err := NewLayer(es, append([]Option{WithCacheDir(cache), WithTempDir(t.TempDir())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	uncached := func(es []Entry) *Layer {
		t.Helper()
		l, err := NewLayer(es, WithTempDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}

	first := layer(entries("one", "id-1", 0o644))
	if opens != 1 {
		t.Fatalf("a miss opened the file %d times, want 1", opens)
	}
	if want := uncached(entries("one", "", 0o644)); first.digest != want.digest || first.diffID != want.diffID {
		t.Fatalf("the layer keyed by content ID is %s, packing the same entries gives %s", first.digest, want.digest)
	}
	opens = 0
	// The ID stands for the content: a hit does not open the file. (The body here
	// differs on purpose, to show the content is not read; a source must never
	// give one ID to two contents.)
	if hit := layer(entries("two", "id-1", 0o644)); hit.digest != first.digest || opens != 0 {
		t.Errorf("same ID and headers: got %s with %d opens, want the cached %s and no open", hit.digest, opens, first.digest)
	}
	for _, tc := range []struct {
		name string
		es   []Entry
		opts []Option
	}{
		{"another ID", entries("two", "id-2", 0o644), nil},
		{"another mode", entries("one", "id-1", 0o600), nil},
		{"another level", entries("one", "id-1", 0o644), []Option{WithLevel(LevelBest)}},
	} {
		opens = 0
		got := layer(tc.es, tc.opts...)
		if opens != 1 {
			t.Errorf("%s: opened the file %d times, want a miss that reads it once", tc.name, opens)
		}
		if got.digest == first.digest {
			t.Errorf("%s: served the first layer from the cache", tc.name)
		}
	}
	// A new ID for the same bytes (a rebuild that made the same file) misses by
	// ID, reads the content once, finds the layer by the tar's key, and keeps it
	// under the new ID too.
	opens = 0
	if got := layer(entries("one", "id-rebuilt", 0o644)); got.digest != first.digest || opens != 1 {
		t.Errorf("new ID, same bytes: got %s with %d opens, want the cached %s after one read", got.digest, opens, first.digest)
	}
	opens = 0
	if got := layer(entries("one", "id-rebuilt", 0o644)); got.digest != first.digest || opens != 0 {
		t.Errorf("the new ID again: got %s with %d opens, want a hit without reading", got.digest, opens)
	}
	// An entry without an ID is hashed for the key; on a hit it is the only one read.
	otherOpens := 0
	mixed := func() []Entry {
		return append(entries("one", "id-1", 0o644), Entry{
			Header: &tar.Header{Typeflag: tar.TypeReg, Name: "a/other", Mode: 0o644, Size: 1},
			Open:   func() (io.ReadCloser, error) { otherOpens++; return io.NopCloser(strings.NewReader("x")), nil },
		})
	}
	layer(mixed())
	opens, otherOpens = 0, 0
	if got, want := layer(mixed()), uncached(mixed()); got.digest != want.digest {
		t.Errorf("mixed IDs: got %s, want %s", got.digest, want.digest)
	}
	if opens != 1 || otherOpens != 2 { // the hit read "a/other" only; the uncached layer read both
		t.Errorf("a warm run with one file without an ID opened the ID'd file %d and the other %d times, want 0 and 1 (plus one each uncached)", opens-1, otherOpens-1)
	}
	// With no ID at all, the content key alone reads everything once.
	plainOpens := 0
	plain := []Entry{{
		Header: &tar.Header{Typeflag: tar.TypeReg, Name: "p", Mode: 0o644, Size: 1},
		Open:   func() (io.ReadCloser, error) { plainOpens++; return io.NopCloser(strings.NewReader("p")), nil },
	}}
	layer(plain)
	layer(plain)
	if plainOpens != 2 {
		t.Errorf("without IDs, two runs opened the file %d times, want 2", plainOpens)
	}
}
