package tarball

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/slim-dev/slim/internal/ctxio"
	"github.com/slim-dev/slim/internal/size"
	"github.com/slim-dev/slim/internal/tempfile"
)

// WithCacheDir keeps each layer NewLayer compresses in dir, keyed by the digest of its
// uncompressed tar and the settings (and, when entries have a ContentID, by the
// headers and those IDs too), and reuses it when the same tar comes again. The output
// depends only on those (see WriteTar and the compressors), so a cached blob is the
// very one that compressing again would write; a warm run skips the compression,
// which at the best levels costs far more than the extra pass that hashes the tar.
// Every hit is verified before use (see fromCache), and the directory is kept under
// a size limit (WithCacheMax) by dropping the least recently used layers.
func WithCacheDir(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// WithCacheWarn receives one line for each cache entry found corrupt, removed and
// rebuilt.
func WithCacheWarn(warn func(string)) Option { return func(o *options) { o.cacheWarn = warn } }

// WithCacheRefresh makes the cache write-only: nothing is read from it, and what is
// built replaces what it held under the same keys (--no-cache), so a rebuild also
// repairs the cache.
func WithCacheRefresh() Option { return func(o *options) { o.cacheRefresh = true } }

// WithCacheMax sets the cache's size limit in bytes (default CacheLimit()).
func WithCacheMax(n int64) Option { return func(o *options) { o.cacheMax = n } }

// encodingVersion names the bytes this slim writes for a given tar and settings (the
// tar writer's normalisation, internal/deflate, the parallel block layout). It is in
// every cache key, with klauspost/compress's version, so that a cache filled by
// another slim is never served as this one's output: a layer must depend on its
// input, settings and slim's version, not on what a machine's cache holds. Bump it
// with any change to the bytes written; TestGoldenDigests refuses new golden digests
// under an old version.
const encodingVersion = 5

// keySettings is the part of a cache key after the content's: what shapes the
// compressed bytes. OCI and Docker layers of one tar are different entries.
func keySettings(o *options, mt types.MediaType) string {
	mts := sha256.Sum256([]byte(mt))
	return fmt.Sprintf("%s-%s-%x-e%d-%s", o.compression, o.level, mts[:4], encodingVersion, compressVersion())
}

// compressVersion is the version of klauspost/compress built in, whose encoders
// write the gzip and zstd streams.
func compressVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/klauspost/compress" {
				if d.Replace != nil {
					return "r" + d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

// cacheKey hashes the plan's tar (reading every file's content once), copying it
// into tarCopy, and names the cache entry for it and the settings that shape the
// compressed bytes.
func cacheKey(ctx context.Context, plan []Entry, o *options, mt types.MediaType, tarCopy io.Writer) (string, error) {
	h := sha256.New()
	if err := writePlan(ctxio.Writer(ctx, io.MultiWriter(h, tarCopy)), plan, o.readAhead); err != nil {
		return "", fmt.Errorf("hashing layer for the cache: %w", err)
	}
	return fmt.Sprintf("%x-%s", h.Sum(nil), keySettings(o, mt)), nil
}

// contentIDKey names the cache entry for the plan from its headers and the entries'
// content IDs when at least one entry with content has one. Only the files without an
// ID are read (and hashed, up to readAhead at once); a plan with no IDs at all gets
// no key here, since cacheKey reads everything anyway. Its keys start with "id-",
// apart from those of cacheKey.
func contentIDKey(ctx context.Context, plan []Entry, o *options, mt types.MediaType) (string, bool, error) {
	ids := make([]string, len(plan))
	var read []int
	for i, e := range plan {
		switch {
		case e.Open == nil:
		case e.ContentID != "":
			ids[i] = e.ContentID
		default:
			read = append(read, i)
		}
	}
	if len(read) == countContent(plan) {
		return "", false, nil
	}
	var eg errgroup.Group
	eg.SetLimit(max(1, o.readAhead))
	for _, i := range read {
		eg.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			sum, err := contentDigest(plan[i])
			ids[i] = sum
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return "", false, fmt.Errorf("hashing layer for the cache: %w", err)
	}
	h := sha256.New()
	enc := json.NewEncoder(h)
	for i, e := range plan {
		// The header as it will be written (already normalised) and the content's
		// name stand for the tar entry; JSON sorts the PAX records' keys.
		if err := enc.Encode(e.Header); err != nil {
			return "", false, fmt.Errorf("hashing layer for the cache: %w", err)
		}
		if err := enc.Encode(ids[i]); err != nil {
			return "", false, fmt.Errorf("hashing layer for the cache: %w", err)
		}
	}
	return fmt.Sprintf("id-%x-%s", h.Sum(nil), keySettings(o, mt)), true, nil
}

func countContent(plan []Entry) int {
	n := 0
	for _, e := range plan {
		if e.Open != nil {
			n++
		}
	}
	return n
}

// contentDigest reads an entry's content, with the size check the writer makes.
func contentDigest(e Entry) (string, error) {
	rc, err := e.Open()
	if err != nil {
		return "", fmt.Errorf("opening content of %q: %w", e.Header.Name, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(rc, e.Header.Size+1))
	if err != nil {
		return "", fmt.Errorf("reading content of %q: %w", e.Header.Name, err)
	}
	if n != e.Header.Size {
		return "", fmt.Errorf("reading content of %q: got %d bytes, header says %d: %w", e.Header.Name, n, e.Header.Size, ErrSizeMismatch)
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil)), nil
}

// The cache directory holds two kinds of files, and every one is written under a
// temporary name (internal/tempfile) and renamed, so concurrent runs filling one key
// never see, or truncate, each other's half-written files:
//
//	blobs/sha256/HEX  a compressed layer, named by its digest (shared by its keys)
//	keys/KEY          a cacheEntry: the digest, diff ID, size and media type of KEY's layer
//
// What the cache guards against, and what it cannot. A hit is used only after the
// entry's check (its fields and its key's name), the blob's size and digest and, for a
// tar key, its diff ID (its decompressed content) are checked against the key's entry,
// so damage (a bit flip, a truncated, swapped or misnamed file) is a miss: the entry
// is removed, a line says so, and the layer is rebuilt. A key made by cacheKey is the
// digest of the layer's tar, so its entry's diff ID must equal it: nobody can make
// such a key serve other files, short of a sha256 collision. A key made by
// contentIDKey names the sources (headers and content IDs), not the tar: whoever can
// write the cache directory and knows a key's inputs can make a consistent entry for
// it with other content, so its blob is not decompressed on a hit. The cache is as trusted as the directory it is in (a CI
// cache restored from another branch is as trusted as that branch); --no-cache
// bypasses it and replaces what it rebuilds.

// cacheEntry is what the cache keeps for each key.
type cacheEntry struct {
	Digest    v1.Hash         `json:"digest"`
	DiffID    v1.Hash         `json:"diffID"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"mediaType"`
	// Check binds the entry to its key (entryCheck): an entry damaged, or copied under
	// another key, does not match it and is a miss. An id- key's hit with a check
	// skips decompressing its blob (see fromCache).
	Check string `json:"check,omitempty"`
}

// entryCheck is what an entry's Check must be under key.
func entryCheck(key string, e cacheEntry) string {
	return fmt.Sprintf("%x", sha256.Sum256(fmt.Appendf(nil, "%s\n%s\n%s\n%d\n%s", key, e.Digest, e.DiffID, e.Size, e.MediaType)))
}

// DefaultCacheMax is the cache's size limit when neither WithCacheMax nor
// SLIM_CACHE_MAX sets one.
const DefaultCacheMax int64 = 10 << 30

// CacheLimit is the cache size limit SLIM_CACHE_MAX sets (bytes, or a size such as
// 10GiB or 500MB), else DefaultCacheMax.
func CacheLimit() (int64, error) {
	s := os.Getenv("SLIM_CACHE_MAX")
	if s == "" {
		return DefaultCacheMax, nil
	}
	n, err := size.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("reading SLIM_CACHE_MAX: %w (want bytes or a size such as 10GiB): %w", err, ErrBadOption)
	}
	return n, nil
}

func blobsDir(dir string) string { return filepath.Join(dir, "blobs", "sha256") }
func keysDir(dir string) string  { return filepath.Join(dir, "keys") }

// readEntry reads a key's entry; ok is false when there is none to read.
func readEntry(dir, key string) (e cacheEntry, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(keysDir(dir), key))
	if err != nil {
		return e, false, nil // nothing cached, or unreadable, which is the same
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, true, fmt.Errorf("its metadata does not parse: %w", err)
	}
	if e.Digest.Algorithm != "sha256" || len(e.Digest.Hex) != 64 || e.DiffID.Algorithm != "sha256" || e.Size < 0 {
		return e, true, fmt.Errorf("its metadata names no sha256 digest")
	}
	// Entries written before checks were have none: they are verified in full.
	if e.Check != "" && e.Check != entryCheck(key, e) {
		return e, true, fmt.Errorf("its metadata is damaged or another key's (its check does not match)")
	}
	// A tar key is the diff ID: an entry for other content is not this key's.
	if !strings.HasPrefix(key, "id-") && !strings.HasPrefix(key, e.DiffID.Hex+"-") {
		return e, true, fmt.Errorf("its diff ID %s is not the key's", e.DiffID)
	}
	return e, true, nil
}

// fromCache returns the cached layer for key, as a hard link (or copy) in the spool
// directory that the returned Layer owns, or nil when there is none. The spool is
// verified, so what is checked is what is shipped, whatever happens to the cache's
// names meanwhile. A corrupt entry is removed (and said so) and is a miss.
func fromCache(o *options, key string) (*Layer, error) {
	if o.cacheRefresh {
		return nil, nil
	}
	e, ok, err := readEntry(o.cacheDir, key)
	if !ok {
		return nil, nil
	}
	blob := filepath.Join(blobsDir(o.cacheDir), e.Digest.Hex)
	if err != nil {
		cacheCorrupt(o, key, "", err)
		return nil, nil
	}
	f, err := tempfile.Create(o.tempDir, "layer")
	if err != nil {
		return nil, fmt.Errorf("creating layer spool file: %w", err)
	}
	spool := f.Name()
	f.Close()
	os.Remove(spool)
	if err := linkOrCopy(blob, spool); err != nil {
		return nil, nil // pruned meanwhile, or never written: a miss
	}
	// An id- key names its sources, not its tar, so decompressing to check the diff ID
	// protects it from nothing that its entry's check does not: a forged entry is as
	// easy to make consistent either way (see above). It cost a warm run 40 ms of its
	// 90 (BENCHMARKS.md, the whole job's warm row); a tar key's diff ID is its name, and
	// is checked.
	full := !strings.HasPrefix(key, "id-") || e.Check == ""
	if err := verifyBlob(spool, o.compression, e, full); err != nil {
		if a, errA := os.Stat(spool); errA == nil {
			// The blob goes only if it is still the one checked: another run may
			// have put a good one in its place meanwhile.
			if b, errB := os.Stat(blob); errB == nil && os.SameFile(a, b) {
				cacheCorrupt(o, key, blob, err)
			} else {
				cacheCorrupt(o, key, "", err)
			}
		}
		os.Remove(spool)
		return nil, nil
	}
	if e.Check == "" {
		// An older slim's entry, now verified in full: with its check, the next hit
		// of an id- key need not decompress.
		e.Check = entryCheck(key, e)
		if meta, err := json.Marshal(e); err == nil {
			_ = tempfile.WriteAtomic(filepath.Join(keysDir(o.cacheDir), key), meta)
		}
	}
	// Touched for least-recently-used pruning.
	now := time.Now()
	_ = os.Chtimes(blob, now, now)
	_ = os.Chtimes(filepath.Join(keysDir(o.cacheDir), key), now, now)
	return &Layer{path: spool, compression: o.compression, mediaType: e.MediaType, digest: e.Digest, diffID: e.DiffID, size: e.Size}, nil
}

func cacheCorrupt(o *options, key, blob string, why error) {
	_ = os.Remove(filepath.Join(keysDir(o.cacheDir), key))
	if blob != "" {
		_ = os.Remove(blob)
	}
	if o.cacheWarn != nil {
		o.cacheWarn(fmt.Sprintf("layer cache entry %s in %s is corrupt (%v): removed, rebuilding the layer", shortKey(key), o.cacheDir, why))
	}
}

func shortKey(key string) string {
	if len(key) > 19 {
		return key[:19] + "…"
	}
	return key
}

// verifyBlob checks a cached blob against its entry: size, digest, and, with full,
// the digest of what it decompresses to. Decompressing costs a fraction of
// compressing again (BenchmarkCacheHit), and without it a blob whose digest and
// metadata were swapped together would decompress to files a tar key never named.
func verifyBlob(path string, c Compression, e cacheEntry, full bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	compHash := sha256.New()
	var n countWriter
	tee := io.TeeReader(f, io.MultiWriter(compHash, &n))
	br := bufio.NewReaderSize(tee, 1<<20)
	var r io.Reader = br
	if !full {
		c = Uncompressed // only read through, for the size and the digest
	}
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("decompressing: %w", err)
		}
		defer zr.Close()
		r = zr
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(zstdReadWindow), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return fmt.Errorf("decompressing: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	diffHash := sha256.New()
	if _, err := io.CopyBuffer(diffHash, r, make([]byte, 1<<20)); err != nil {
		return fmt.Errorf("decompressing: %w", err)
	}
	// Bytes after the compressed stream still count towards the digest.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return err
	}
	if int64(n) != e.Size {
		return fmt.Errorf("%d bytes, its metadata says %d", n, e.Size)
	}
	if got := sum(compHash); got != e.Digest {
		return fmt.Errorf("content has digest %s, its metadata says %s", got, e.Digest)
	}
	if got := sum(diffHash); full && got != e.DiffID {
		return fmt.Errorf("content has diff ID %s, its metadata says %s", got, e.DiffID)
	}
	return nil
}

// toCache keeps a freshly written (or just verified) layer under keys. Failing to
// cache is not failing to build, so errors are dropped. The blob goes in before the
// keys, so a key never names a blob that was not there; a blob already there with
// the right size stays (a corrupt one is caught by the next hit), unless refreshing.
func toCache(o *options, keys []string, l *Layer) {
	blobs, kdir := blobsDir(o.cacheDir), keysDir(o.cacheDir)
	if os.MkdirAll(blobs, 0o755) != nil || os.MkdirAll(kdir, 0o755) != nil {
		return
	}
	blob := filepath.Join(blobs, l.digest.Hex)
	if fi, err := os.Stat(blob); o.cacheRefresh || err != nil || fi.Size() != l.size {
		f, err := tempfile.Create(blobs, "")
		if err != nil {
			return
		}
		tmp := f.Name()
		f.Close()
		os.Remove(tmp)
		if linkOrCopy(l.path, tmp) != nil || os.Rename(tmp, blob) != nil {
			os.Remove(tmp)
			return
		}
	} else {
		now := time.Now()
		_ = os.Chtimes(blob, now, now)
	}
	for _, k := range keys {
		e := cacheEntry{Digest: l.digest, DiffID: l.diffID, Size: l.size, MediaType: l.mediaType}
		e.Check = entryCheck(k, e)
		meta, _ := json.Marshal(e)
		if tempfile.WriteAtomic(filepath.Join(kdir, k), meta) != nil {
			return
		}
	}
	limit := o.cacheMax
	if limit <= 0 {
		limit, _ = CacheLimit() // checked by validate
	}
	// Sizes only: the keys are read to rank the layers once the limit is passed.
	if cacheSize(o.cacheDir) > limit {
		_, _ = PruneCache(o.cacheDir, limit)
	}
}

// cacheSize is the bytes of every file under dir.
func cacheSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// linkOrCopy hard-links src to dst, or copies it across file systems.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}
