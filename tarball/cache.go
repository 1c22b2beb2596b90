package tarball

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/slim-dev/slim/internal/ctxio"
)

// WithCacheDir keeps each layer NewLayer compresses in dir, keyed by the digest of its
// uncompressed tar and the settings (and, when entries have a ContentID, by the
// headers and those IDs too), and reuses it when the same tar comes again. The output
// depends only on those (see WriteTar and the compressors), so a cached blob is the
// very one that compressing again would write; a warm run skips the compression,
// which at the best levels costs far more than the extra pass that hashes the tar.
// As BuildKit's own cache does, the directory grows until the user clears it.
func WithCacheDir(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// encodingVersion names the bytes this slim writes for a given tar and settings (the
// tar writer's normalisation, internal/deflate, the parallel block layout). It is in
// every cache key, with klauspost/compress's version, so that a cache filled by
// another slim is never served as this one's output: a layer must depend on its
// input, settings and slim's version, not on what a machine's cache holds. Bump it
// with any change to the bytes written; TestGoldenDigests refuses new golden digests
// under an old version.
const encodingVersion = 3

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

// cacheEntry is what the cache keeps beside each blob.
type cacheEntry struct {
	Digest    v1.Hash         `json:"digest"`
	DiffID    v1.Hash         `json:"diffID"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"mediaType"`
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

// fromCache returns the cached layer for key, as a hard link (or copy) in the spool
// directory that the returned Layer owns, or nil when there is none.
func fromCache(o *options, key string) (*Layer, error) {
	meta, err := os.ReadFile(filepath.Join(o.cacheDir, key+".json"))
	if err != nil {
		return nil, nil // a miss: nothing cached, or unreadable, which is the same
	}
	var e cacheEntry
	if err := json.Unmarshal(meta, &e); err != nil {
		return nil, nil
	}
	f, err := os.CreateTemp(o.tempDir, "slim-layer-*")
	if err != nil {
		return nil, fmt.Errorf("creating layer spool file: %w", err)
	}
	spool := f.Name()
	f.Close()
	os.Remove(spool)
	if err := linkOrCopy(filepath.Join(o.cacheDir, key), spool); err != nil {
		return nil, nil
	}
	if fi, err := os.Stat(spool); err != nil || fi.Size() != e.Size {
		os.Remove(spool)
		return nil, nil
	}
	return &Layer{path: spool, compression: o.compression, mediaType: e.MediaType, digest: e.Digest, diffID: e.DiffID, size: e.Size}, nil
}

// toCache keeps a freshly written layer. Failing to cache is not failing to build, so
// errors are dropped; the blob goes in before its metadata so a reader never finds
// metadata without its blob.
func toCache(o *options, key string, l *Layer) {
	if err := os.MkdirAll(o.cacheDir, 0o755); err != nil {
		return
	}
	blob := filepath.Join(o.cacheDir, key)
	tmp := blob + ".tmp"
	os.Remove(tmp)
	if err := linkOrCopy(l.path, tmp); err != nil {
		return
	}
	if err := os.Rename(tmp, blob); err != nil {
		os.Remove(tmp)
		return
	}
	meta, _ := json.Marshal(cacheEntry{Digest: l.digest, DiffID: l.diffID, Size: l.size, MediaType: l.mediaType})
	if err := os.WriteFile(tmp, meta, 0o644); err == nil {
		os.Rename(tmp, blob+".json")
	}
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
