package tarball

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cacheEntries is a layer big enough to take a moment to compress, so concurrent
// writers overlap.
func cacheEntries(body string) []Entry {
	return []Entry{dir("a/", 0o755), file("a/file", strings.Repeat(body, 50_000), 0o644)}
}

func cachedLayer(t *testing.T, cache string, es []Entry, opts ...Option) (*Layer, []string) {
	t.Helper()
	var warnings []string
	l, err := NewLayer(es, append([]Option{WithCacheDir(cache), WithTempDir(t.TempDir()),
		WithCacheWarn(func(s string) { warnings = append(warnings, s) })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, warnings
}

func onlyKey(t *testing.T, cache string) string {
	t.Helper()
	keys, _ := filepath.Glob(filepath.Join(cache, "keys", "*"))
	if len(keys) != 1 {
		t.Fatalf("cache has keys %v, want one", keys)
	}
	return keys[0]
}

// A same-size corrupted blob is noticed on the next hit: one warning, the entry is
// removed and rebuilt, and the layer is the right one.
func TestLayerCacheCorruptBlob(t *testing.T) {
	t.Parallel()
	for _, c := range []Compression{Gzip, Zstd, Uncompressed} {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			cache := t.TempDir()
			want, _ := cachedLayer(t, cache, cacheEntries("right "), WithCompression(c))
			blob := filepath.Join(cache, "blobs", "sha256", want.digest.Hex)
			b, err := os.ReadFile(blob)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0xff
			// Written in place: the hard link the first layer holds is the same file.
			if err := os.WriteFile(blob+".new", b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(blob+".new", blob); err != nil {
				t.Fatal(err)
			}
			got, warnings := cachedLayer(t, cache, cacheEntries("right "), WithCompression(c))
			if got.digest != want.digest || got.diffID != want.diffID {
				t.Errorf("after corruption got %s, want %s", got.digest, want.digest)
			}
			checkLayer(t, got)
			if len(warnings) != 1 || !strings.Contains(warnings[0], "corrupt") || !strings.Contains(warnings[0], "rebuilding") {
				t.Errorf("warnings %q, want one line saying the entry is corrupt and rebuilt", warnings)
			}
			// Rebuilt: the next hit is clean.
			if again, warnings := cachedLayer(t, cache, cacheEntries("right "), WithCompression(c)); len(warnings) != 0 || again.digest != want.digest {
				t.Errorf("after the rebuild: %s, warnings %q", again.digest, warnings)
			}
		})
	}
}

// An entry replaced consistently (another layer's blob, named by its own digest, and
// metadata that matches it) is not shipped for a tar key: the key is the diff ID.
func TestLayerCacheSwappedEntry(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	want, _ := cachedLayer(t, cache, cacheEntries("right "))
	key := onlyKey(t, cache)
	other, _ := cachedLayer(t, t.TempDir(), cacheEntries("evil! "))
	fake, err := os.ReadFile(other.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		blob string // where the fake blob goes
	}{
		{"blob named by its digest", other.digest.Hex},
		{"blob under the old name", want.digest.Hex},
	} {
		if err := os.WriteFile(filepath.Join(cache, "blobs", "sha256", tc.blob), fake, 0o644); err != nil {
			t.Fatal(err)
		}
		meta, _ := json.Marshal(cacheEntry{Digest: other.digest, DiffID: other.diffID, Size: other.size, MediaType: other.mediaType})
		if tc.name == "blob under the old name" {
			// The metadata keeps the key's diff ID and claims the fake's digest.
			meta, _ = json.Marshal(cacheEntry{Digest: want.digest, DiffID: want.diffID, Size: other.size, MediaType: other.mediaType})
		}
		if err := os.WriteFile(key, meta, 0o644); err != nil {
			t.Fatal(err)
		}
		got, warnings := cachedLayer(t, cache, cacheEntries("right "))
		if got.digest != want.digest || got.diffID != want.diffID {
			t.Errorf("%s: a swapped entry was shipped: %s, want %s", tc.name, got.digest, want.digest)
		}
		if len(warnings) != 1 {
			t.Errorf("%s: warnings %q, want one", tc.name, warnings)
		}
	}
}

// --no-cache (WithCacheRefresh) reads nothing from the cache and replaces what it
// rebuilds, so a rebuild repairs a bad entry.
func TestLayerCacheRefresh(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	want, _ := cachedLayer(t, cache, cacheEntries("right "))
	blob := filepath.Join(cache, "blobs", "sha256", want.digest.Hex)
	b, _ := os.ReadFile(blob)
	b[len(b)/2] ^= 0xff
	os.Remove(blob)
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, warnings := cachedLayer(t, cache, cacheEntries("right "), WithCacheRefresh())
	if got.digest != want.digest || len(warnings) != 0 {
		t.Errorf("refresh: %s, warnings %q", got.digest, warnings)
	}
	if fixed, _ := os.ReadFile(blob); bytes.Equal(fixed, b) {
		t.Errorf("refresh left the corrupt blob")
	}
	if _, warnings := cachedLayer(t, cache, cacheEntries("right ")); len(warnings) != 0 {
		t.Errorf("after the refresh: warnings %q", warnings)
	}
}

// TestCacheFillProcess is not a test: TestLayerCacheConcurrentProcesses runs the test
// binary with it selected, to fill a cache key from another process.
func TestCacheFillProcess(t *testing.T) {
	dir := os.Getenv("SLIM_TEST_CACHE_FILL")
	if dir == "" {
		t.Skip("a child process of TestLayerCacheConcurrentProcesses, not a test: skipped in every run, CI included, unless that test starts it")
	}
	l, err := NewLayer(cacheEntries("shared "), WithCacheDir(dir), WithLevel(LevelBest), WithTempDir(os.Getenv("SLIM_TEST_CACHE_TMP")))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("digest", l.digest)
	l.Close()
}

// Eight processes filling one cache key at once, round after round (the first all
// miss, later ones hit while others may still write): all succeed, all build the same
// layer, and the entry left is valid.
func TestLayerCacheConcurrentProcesses(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	want, err := NewLayer(cacheEntries("shared "), WithLevel(LevelBest), WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	for round := range 3 {
		var wg sync.WaitGroup
		outs := make([]string, 8)
		errs := make([]error, 8)
		for i := range 8 {
			wg.Go(func() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestCacheFillProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), "SLIM_TEST_CACHE_FILL="+cache, "SLIM_TEST_CACHE_TMP="+t.TempDir())
				b, err := cmd.CombinedOutput()
				outs[i], errs[i] = string(b), err
			})
		}
		wg.Wait()
		for i := range 8 {
			if errs[i] != nil || !strings.Contains(outs[i], "digest "+want.digest.String()) {
				t.Fatalf("round %d, process %d: %v\n%s", round, i, errs[i], outs[i])
			}
		}
	}
	e, ok, err := readEntry(cache, filepath.Base(onlyKey(t, cache)))
	if !ok || err != nil || e.Digest != want.digest {
		t.Fatalf("entry %+v, %v, %v", e, ok, err)
	}
	if err := verifyBlob(filepath.Join(cache, "blobs", "sha256", e.Digest.Hex), Gzip, e, true); err != nil {
		t.Errorf("the entry left is not valid: %v", err)
	}
	left, _ := os.ReadDir(filepath.Join(cache, "blobs", "sha256"))
	if len(left) != 1 {
		t.Errorf("blobs left: %v, want one", left)
	}
}

// Over the limit, the least recently used layers go; a hit counts as a use.
func TestPruneCache(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	var layers []*Layer
	for i := range 4 {
		l, _ := cachedLayer(t, cache, []Entry{file("f", strings.Repeat(fmt.Sprint(i), 100_000), 0o644)}, WithCompression(Uncompressed))
		layers = append(layers, l)
		old := time.Now().Add(time.Duration(i-10) * time.Hour)
		os.Chtimes(filepath.Join(cache, "blobs", "sha256", l.digest.Hex), old, old)
		keys, _ := filepath.Glob(filepath.Join(cache, "keys", "*"))
		for _, k := range keys {
			os.Chtimes(k, old, old)
		}
	}
	// Layer 0, the oldest, is used again.
	cachedLayer(t, cache, []Entry{file("f", strings.Repeat("0", 100_000), 0o644)}, WithCompression(Uncompressed))
	// A file an older slim left counts, and is older than all.
	legacy := filepath.Join(cache, "0123-gzip-legacy")
	os.WriteFile(legacy, make([]byte, 1000), 0o644)
	os.Chtimes(legacy, time.Unix(1, 0), time.Unix(1, 0))

	st, err := CacheUsage(cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Items) != 5 || st.Total < 4*100_000 {
		t.Fatalf("usage: %d items, %d bytes", len(st.Items), st.Total)
	}
	removed, err := PruneCache(cache, st.Total-1000-150_000)
	if err != nil {
		t.Fatal(err)
	}
	// The legacy file, then layers 1 and 2 (layer 0 was used last, 3 is newest).
	var gone []string
	for _, it := range removed.Items {
		gone = append(gone, it.Name)
	}
	wantGone := []string{"0123-gzip-legacy", layers[1].digest.String(), layers[2].digest.String()}
	if strings.Join(gone, " ") != strings.Join(wantGone, " ") {
		t.Errorf("pruned %v, want %v", gone, wantGone)
	}
	for i, l := range layers {
		_, err := os.Stat(filepath.Join(cache, "blobs", "sha256", l.digest.Hex))
		if kept := err == nil; kept != (i == 0 || i == 3) {
			t.Errorf("layer %d kept = %v", i, kept)
		}
	}
	if keys, _ := filepath.Glob(filepath.Join(cache, "keys", "*")); len(keys) != 2 {
		t.Errorf("%d keys left, want 2", len(keys))
	}
	// A build over the limit prunes after its write.
	cachedLayer(t, cache, []Entry{file("f", strings.Repeat("9", 100_000), 0o644)}, WithCompression(Uncompressed), WithCacheMax(150_000))
	if st, _ := CacheUsage(cache); len(st.Items) != 1 || st.Total > 150_000 {
		t.Errorf("after a write over the limit: %d items, %d bytes", len(st.Items), st.Total)
	}
	if _, err := PruneCache(cache, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := CacheUsage(cache); len(st.Items) != 0 {
		t.Errorf("prune to 0 left %v", st.Items)
	}
}

// An id- key's entry is bound to its key by its check: damaged (a diff ID that
// still parses) or copied from another key, it is a miss, said once and rebuilt; an
// entry of an older slim, without a check, is verified in full and used.
func TestLayerCacheIDKeyEntryCheck(t *testing.T) {
	t.Parallel()
	withIDs := func(body string) []Entry {
		es := cacheEntries(body)
		for i := range es {
			es[i].ContentID = body + es[i].Header.Name
		}
		return es
	}
	cache := t.TempDir()
	want, warnings := cachedLayer(t, cache, withIDs("right "))
	if len(warnings) != 0 {
		t.Fatalf("first build warned: %q", warnings)
	}
	ids, _ := filepath.Glob(filepath.Join(cache, "keys", "id-*"))
	if len(ids) != 1 {
		t.Fatalf("content-ID keys %v, want one", ids)
	}
	key := ids[0]
	good, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if got, warnings := cachedLayer(t, cache, withIDs("right ")); len(warnings) != 0 || got.digest != want.digest {
		t.Fatalf("clean hit: %s, warnings %q", got.digest, warnings)
	}
	other, _ := cachedLayer(t, cache, withIDs("other "))
	var otherKey string
	keys, _ := filepath.Glob(filepath.Join(cache, "keys", "id-*"))
	for _, k := range keys {
		if k != key {
			otherKey = k
		}
	}
	if otherKey == "" {
		t.Fatalf("keys %v: want a second id- key", keys)
	}
	var e cacheEntry
	if err := json.Unmarshal(good, &e); err != nil {
		t.Fatal(err)
	}
	damaged := e
	damaged.DiffID.Hex = strings.Repeat("0", 64)
	damagedMeta, _ := json.Marshal(damaged)
	copied, err := os.ReadFile(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	legacy := e
	legacy.Check = ""
	legacyMeta, _ := json.Marshal(legacy)
	for _, tc := range []struct {
		name  string
		meta  []byte
		warns int
	}{
		{"damaged diff ID", damagedMeta, 1},
		{"another key's entry", copied, 1},
		{"no check (an older slim)", legacyMeta, 0},
	} {
		if err := os.WriteFile(key, tc.meta, 0o644); err != nil {
			t.Fatal(err)
		}
		got, warnings := cachedLayer(t, cache, withIDs("right "))
		if got.digest != want.digest || got.diffID != want.diffID {
			t.Errorf("%s: got %s (other content: %s), want %s", tc.name, got.digest, other.digest, want.digest)
		}
		checkLayer(t, got)
		if len(warnings) != tc.warns {
			t.Errorf("%s: warnings %q, want %d", tc.name, warnings, tc.warns)
		}
	}
	// The older entry, verified, got its check.
	b, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	var upgraded cacheEntry
	if err := json.Unmarshal(b, &upgraded); err != nil || upgraded.Check != entryCheck(filepath.Base(key), upgraded) {
		t.Errorf("the older entry after its hit: %s (%v)", b, err)
	}
}
