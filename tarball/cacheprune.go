package tarball

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slim-dev/slim/internal/tempfile"
)

// CacheItem is one layer in the cache: its blob and the keys that name it. A file the
// cache does not know (left by an older slim) is an item of its own, with no keys.
type CacheItem struct {
	// Name is the blob's digest, or the unknown file's path in the cache.
	Name string
	Size int64
	Keys int
	// LastUsed is when a build last wrote or reused it.
	LastUsed time.Time

	paths []string // keys first, then the blob: the order they are removed in
}

// CacheStats is what a cache directory holds, least recently used first.
type CacheStats struct {
	Dir   string
	Items []CacheItem
	Total int64
}

// CacheUsage lists a layer cache directory. A missing directory is an empty cache.
func CacheUsage(dir string) (CacheStats, error) {
	st := CacheStats{Dir: dir}
	byDigest := map[string]*CacheItem{}
	var items []*CacheItem
	add := func(name, path string, fi fs.FileInfo) *CacheItem {
		it := &CacheItem{Name: name, Size: fi.Size(), LastUsed: fi.ModTime(), paths: []string{path}}
		items = append(items, it)
		return it
	}
	blobs, keys := blobsDir(dir), keysDir(dir)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		if _, _, ok := tempfile.Owner(d.Name()); ok {
			return nil // another run's file being written, or a dead run's (below)
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if filepath.Dir(p) == blobs {
			byDigest[d.Name()] = add("sha256:"+d.Name(), p, fi)
		} else if filepath.Dir(p) != keys {
			rel, _ := filepath.Rel(dir, p)
			add(rel, p, fi)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("reading layer cache %s: %w", dir, err)
	}
	kents, _ := os.ReadDir(keys)
	for _, k := range kents {
		if _, _, ok := tempfile.Owner(k.Name()); ok {
			continue
		}
		p := filepath.Join(keys, k.Name())
		fi, err := k.Info()
		if err != nil {
			continue
		}
		var e cacheEntry
		b, err := os.ReadFile(p)
		if err == nil {
			err = json.Unmarshal(b, &e)
		}
		it := byDigest[e.Digest.Hex]
		if err != nil || it == nil {
			// A key without its blob serves nothing: it goes first.
			it = add("key "+k.Name(), p, fi)
			it.LastUsed = time.Time{}
			continue
		}
		it.Keys++
		it.Size += fi.Size()
		it.paths = append([]string{p}, it.paths...)
		if fi.ModTime().After(it.LastUsed) {
			it.LastUsed = fi.ModTime()
		}
	}
	slices.SortFunc(items, func(a, b *CacheItem) int {
		if c := a.LastUsed.Compare(b.LastUsed); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, it := range items {
		st.Items = append(st.Items, *it)
		st.Total += it.Size
	}
	return st, nil
}

// PruneCache removes the least recently used layers until the cache holds at most max
// bytes (0 empties it), and what killed runs left in it. It returns what it removed.
// A build reading a layer being removed has already linked it, or misses and rebuilds.
func PruneCache(dir string, max int64) (CacheStats, error) {
	removed := CacheStats{Dir: dir}
	for _, d := range []string{dir, blobsDir(dir), keysDir(dir)} {
		tempfile.RemoveDead(d)
	}
	st, err := CacheUsage(dir)
	if err != nil {
		return removed, err
	}
	total := st.Total
	for _, it := range st.Items {
		if total <= max {
			break
		}
		for _, p := range it.paths {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, fmt.Errorf("pruning layer cache %s: %w", dir, err)
			}
		}
		total -= it.Size
		removed.Items = append(removed.Items, it)
		removed.Total += it.Size
	}
	return removed, nil
}
