package imagefs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/slim-dev/slim/internal/progress"
	"hash"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/slim-dev/slim/internal/limits"
	"github.com/slim-dev/slim/internal/mediatype"
)

// blobBufSize: large reads of the blob keep the number of calls through
// the hashing layer small. The decompressed side is read into the tar
// scanner's buffer (scanBufSize).
const blobBufSize = 1 << 20

type codec int

const (
	codecSniff codec = iota // unknown media type: look at the magic bytes
	codecNone
	codecGzip
	codecZstd
)

func codecFor(mt types.MediaType) codec {
	c, ok := mediatype.LayerCompression(mt)
	switch {
	case !ok:
		return codecSniff
	case c == compression.GZip:
		return codecGzip
	case c == compression.ZStd:
		return codecZstd
	}
	return codecNone
}

const (
	gzipMagic = "\x1f\x8b"
	zstdMagic = "\x28\xb5\x2f\xfd"
)

// decompress wraps br by codec. concurrent lets zstd decode blocks ahead in
// goroutines, worth it for the one-pass indexing, not for short lazy reads.
func decompress(c codec, br *bufio.Reader, concurrent bool) (io.ReadCloser, error) {
	switch sniff(c, br) {
	case codecGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("opening gzip stream: %w", err)
		}
		return zr, nil
	case codecZstd:
		conc := 1
		if concurrent {
			conc = 0 // klauspost's default: min(4, GOMAXPROCS)
		}
		// 128 MiB is what the zstd CLI accepts without --long; klauspost's
		// 512 MiB default would let a hostile frame header make every
		// layer reader allocate that much.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(conc), zstd.WithDecoderLowmem(!concurrent),
			zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, fmt.Errorf("opening zstd stream: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// sniff resolves codecSniff by the stream's magic bytes.
func sniff(c codec, br *bufio.Reader) codec {
	if c != codecSniff {
		return c
	}
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte(gzipMagic)):
		return codecGzip
	case bytes.HasPrefix(magic, []byte(zstdMagic)):
		return codecZstd
	}
	return codecNone
}

// blobReader hashes and counts the compressed bytes as they are read, and
// turns io.EOF into ErrDigestMismatch when the hash is wrong, so no caller
// can consume a whole corrupted blob without noticing.
type blobReader struct {
	ctx  context.Context
	r    io.Reader
	h    hash.Hash
	want v1.Hash
	n    int64
	err  error // sticky result of the check at EOF
	done bool
}

func newBlobReader(ctx context.Context, r io.Reader, want v1.Hash) *blobReader {
	b := &blobReader{ctx: ctx, r: r, want: want}
	switch want.Algorithm {
	case "sha256":
		b.h = sha256.New()
	case "sha512":
		b.h = sha512.New()
	}
	return b
}

func (b *blobReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, b.eof()
	}
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.h != nil {
		b.h.Write(p[:n])
	}
	if errors.Is(err, io.EOF) {
		b.done = true
		return n, b.eof()
	}
	return n, err
}

// eof verifies the digest once the whole blob has gone through.
func (b *blobReader) eof() error {
	if b.err == nil && b.h != nil {
		if got := hex.EncodeToString(b.h.Sum(nil)); got != b.want.Hex {
			b.err = fmt.Errorf("%w: read %d bytes hashing to %s:%s", ErrDigestMismatch, b.n, b.want.Algorithm, got)
		}
		b.h = nil
	}
	if b.err != nil {
		return b.err
	}
	return io.EOF
}

// drain reads the rest of the blob and reports a digest mismatch, if any.
func (b *blobReader) drain() error {
	if _, err := io.Copy(io.Discard, b); err != nil {
		return err
	}
	return nil
}

type entryKind uint8

const (
	kindEntry entryKind = iota
	kindWhiteout
	kindOpaque
)

// rawEntry is one tar entry of one layer, before merging. For whiteouts
// path is the deleted path, for opaque markers the directory.
type rawEntry struct {
	path string
	kind entryKind
	node node
}

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	opaqueMarker   = ".wh..wh..opq"
)

// indexLayer reads a layer once: headers are recorded with the offset of
// their content, content is skipped, the blob digest is checked at the end.
// The uncompressed stream is hashed too and must be diffID, the config's word for it.
// drop, when not nil, is told of each unsafe entry (ErrUnsafeEntry), which is then left
// out of the index instead of refusing the layer: WithLenient.
func indexLayer(ctx context.Context, src source, largest int, spoolDir string, diffID v1.Hash, drop func(string), st progress.Step) (LayerIndex, []rawEntry, error) {
	li := LayerIndex{Digest: src.digest, DiffID: diffID}
	mt, err := src.layer.MediaType()
	if err != nil {
		return li, nil, fmt.Errorf("reading media type: %w", err)
	}
	li.MediaType = mt
	rc, err := src.layer.Compressed()
	if err != nil {
		return li, nil, fmt.Errorf("opening blob: %w", err)
	}
	defer rc.Close()
	total, _ := src.layer.Size()
	read := progress.NewCounter(st, "read", total)
	defer read.Flush()

	blob := newBlobReader(ctx, read.Reader(rc), src.digest)
	bufSize := blobBufSize
	if size, err := src.layer.Size(); err == nil && size < blobBufSize {
		bufSize = max(int(size), 4096) // small layers, small buffers
	}
	var sw *spoolWriter
	if spoolDir != "" {
		if sw, err = newSpoolWriter(spoolDir); err != nil {
			return li, nil, err
		}
	}
	dh := hasherFor(diffID)
	raws, ucount, entries, big, err := readTar(blob, src.codec, bufSize, largest, sw, dh, drop)
	if err == nil {
		err = blob.drain()
	}
	if err == nil && dh != nil {
		if got := hex.EncodeToString(dh.Sum(nil)); got != diffID.Hex {
			err = fmt.Errorf("%w: the uncompressed layer hashes to %s:%s, the config's diff_ids say %s", ErrDiffIDMismatch, diffID.Algorithm, got, diffID)
		}
	} else if !errors.Is(err, ErrDigestMismatch) && ctx.Err() == nil {
		// A corrupt stream is often a blob that does not match its digest;
		// saying so is the more useful error.
		if derr := blob.drain(); errors.Is(derr, ErrDigestMismatch) {
			err = fmt.Errorf("%w (%w)", derr, err)
		}
	}
	if err != nil {
		if sw != nil {
			sw.abort()
		}
		return li, nil, err
	}
	if sw != nil {
		f, err := sw.finish()
		if err != nil {
			return li, nil, err
		}
		src.spool.set(f)
	}
	li.Size = blob.n
	li.UncompressedSize = ucount
	li.Entries = entries
	li.Files = big
	return li, raws, nil
}

// readTar decompresses and parses one layer stream. The errors it returns
// wrap ErrCorruptLayer unless they come from the blob reader itself.
func readTar(blob *blobReader, c codec, bufSize, largest int, spool *spoolWriter, diffHash hash.Hash, drop func(string)) (raws []rawEntry, size int64, entries int, big []FileStat, err error) {
	corrupt := func(what string, err error) error {
		if errors.Is(err, ErrDigestMismatch) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("%w: %s: %w", ErrCorruptLayer, what, err)
	}
	br := bufio.NewReaderSize(blob, bufSize)
	var dec io.ReadCloser
	if c = sniff(c, br); c == codecGzip && blob.h != nil {
		// The digest covers every compressed byte, hence what gzip's
		// CRC-32 would check: see gzipNoCRC. Without a digest to check
		// (an unknown algorithm) the CRC stays.
		if dec, err = newGzipNoCRC(br); err != nil {
			err = fmt.Errorf("opening gzip stream: %w", err)
		}
	} else {
		dec, err = decompress(c, br, true)
	}
	if err != nil {
		return nil, 0, 0, nil, corrupt("decompressing", err)
	}
	defer dec.Close()
	var r io.Reader = dec
	if spool != nil {
		r = teeReader{r: r, w: spool}
	}
	if diffHash != nil {
		r = io.TeeReader(r, diffHash)
	}
	ts := newTarScanner(r, scanBufSize)
	top := &largestFiles{max: largest}
	for {
		h, off, err := ts.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, 0, nil, corrupt(fmt.Sprintf("reading tar header after %d entries", entries), err)
		}
		ordinal := entries
		entries++
		if entries > limits.EntriesPerLayer {
			return nil, 0, 0, nil, limits.Exceeded("the layer's entry count", int64(entries), limits.EntriesPerLayer, "entries")
		}
		if err := checkEntry(h); err != nil {
			if drop == nil || !errors.Is(err, ErrUnsafeEntry) {
				return nil, 0, 0, nil, err
			}
			drop(strings.TrimPrefix(err.Error(), ErrUnsafeEntry.Error()+": "))
			continue
		}
		if r, ok := rawFromHeader(h, off, ordinal); ok {
			if r.kind == kindEntry && r.node.typ == tar.TypeReg {
				top.add(FileStat{Path: r.path, Size: r.node.size})
			}
			raws = append(raws, r)
		}
	}
	// Read past the end-of-archive blocks to the end of the stream: the
	// decompressor checks its trailer (gzip CRC) at the end, and the
	// uncompressed size is the whole stream.
	size, err = ts.finish()
	if err != nil {
		return nil, 0, 0, nil, corrupt("reading past end of tar", err)
	}
	return raws, size, entries, top.sorted(), nil
}

// hasherFor hashes what d names, nil for an algorithm slim does not know (the
// check is then left out, as ggcr does).
func hasherFor(d v1.Hash) hash.Hash {
	switch d.Algorithm {
	case "sha256":
		return sha256.New()
	case "sha512":
		return sha512.New()
	}
	return nil
}

// checkEntry applies the one rule for tar entries, whatever reads them: a name (or a
// hard link's target) that climbs out of the root is refused, as Docker refuses it,
// and so is a path over limits.PathBytes or limits.PathDepth. Absolute names are
// read from the root, as every runtime reads them; symbolic links may point anywhere,
// since they resolve inside the container's root.
func checkEntry(h *tar.Header) error {
	if n := len(h.Name); n > limits.PathBytes {
		return limits.Exceeded("the path of entry "+ShortName(h.Name), int64(n), limits.PathBytes, "bytes")
	}
	if n := strings.Count(strings.Trim(h.Name, "/"), "/") + 1; n > limits.PathDepth {
		return limits.Exceeded("the path of entry "+ShortName(h.Name), int64(n), limits.PathDepth, "components")
	}
	if _, ok := cleanName(h.Name); !ok {
		return fmt.Errorf("%w: entry %s climbs out of the root", ErrUnsafeEntry, ShortName(h.Name))
	}
	if h.Typeflag == tar.TypeLink {
		if len(h.Linkname) > limits.PathBytes {
			return limits.Exceeded("the target of hard link "+ShortName(h.Name), int64(len(h.Linkname)), limits.PathBytes, "bytes")
		}
		if _, ok := cleanName(h.Linkname); !ok {
			return fmt.Errorf("%w: hard link %s to %s climbs out of the root", ErrUnsafeEntry, ShortName(h.Name), ShortName(h.Linkname))
		}
	}
	return nil
}

// ShortName quotes a name for a message: non-UTF-8 bytes escaped (\xff), and the
// middle of a very long one left out, so one hostile name cannot flood a terminal.
func ShortName(name string) string {
	const keep = 60
	if len(name) <= 2*keep+20 {
		return strconv.Quote(name)
	}
	return strconv.Quote(name[:keep]) + fmt.Sprintf("…(%d bytes)…", len(name)-2*keep) + strconv.Quote(name[len(name)-keep:])
}

// cleanName turns a tar entry name into an fs.ValidPath name ("." for the
// root). ok is false for names that climb out of the root: those entries
// are dropped rather than clamped, as a safe extractor would.
func cleanName(name string) (string, bool) {
	name = strings.TrimLeft(name, "/")
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	return p, true
}

func rawFromHeader(h *tar.Header, offset int64, ordinal int) (rawEntry, bool) {
	p, ok := cleanName(h.Name)
	if !ok {
		return rawEntry{}, false
	}
	if base := path.Base(p); strings.HasPrefix(base, whiteoutPrefix) {
		dir := path.Dir(p)
		switch {
		case base == opaqueMarker:
			return rawEntry{path: dir, kind: kindOpaque}, true
		case strings.HasPrefix(base, whiteoutMeta), base == whiteoutPrefix:
			return rawEntry{}, false // aufs bookkeeping (.wh..wh.plnk and such)
		}
		return rawEntry{path: path.Join(dir, base[len(whiteoutPrefix):]), kind: kindWhiteout}, true
	}
	if strings.Contains("/"+p, "/"+whiteoutMeta) {
		return rawEntry{}, false // inside aufs bookkeeping directories
	}
	n := node{
		mode:  h.Mode,
		uid:   h.Uid,
		gid:   h.Gid,
		mtime: h.ModTime.Unix(),
		nsec:  int32(h.ModTime.Nanosecond()),
		typ:   h.Typeflag,
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeCont:
		n.typ, n.size, n.off = tar.TypeReg, h.Size, offset
		if isSparse(h) {
			// The content is not stored contiguously; remember the entry
			// number and let tar.Reader expand the holes when reading.
			n.flags |= flagSparse
			n.off = int64(ordinal)
		}
	case tar.TypeGNUSparse:
		n.typ, n.size, n.off = tar.TypeReg, h.Size, int64(ordinal)
		n.flags |= flagSparse
	case tar.TypeSymlink, tar.TypeLink:
		n.link = h.Linkname
	case tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return rawEntry{}, false // global PAX headers, vendor types
	}
	if p == "." && n.typ != tar.TypeDir {
		return rawEntry{}, false
	}
	n.x = extraFromHeader(h)
	return rawEntry{path: p, node: n}, true
}

func isSparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// inHeaderFields tells the PAX records already reflected in tar.Header
// fields; keeping them per entry would only cost memory.
func inHeaderFields(key string) bool {
	switch key {
	case "path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime":
		return true
	}
	return strings.HasPrefix(key, "GNU.sparse.")
}

func extraFromHeader(h *tar.Header) *extra {
	var x extra
	x.uname, x.gname = h.Uname, h.Gname
	x.devmajor, x.devminor = h.Devmajor, h.Devminor
	for k, v := range h.PAXRecords {
		if inHeaderFields(k) {
			continue
		}
		if x.pax == nil {
			x.pax = map[string]string{}
		}
		x.pax[k] = v
	}
	if x.uname == "" && x.gname == "" && x.devmajor == 0 && x.devminor == 0 && x.pax == nil {
		return nil
	}
	return &x
}

// largestFiles keeps the biggest max files seen, in a min-heap.
type largestFiles struct {
	max   int
	files []FileStat
}

func (l *largestFiles) Len() int { return len(l.files) }
func (l *largestFiles) Less(i, j int) bool {
	a, b := l.files[i], l.files[j]
	if a.Size != b.Size {
		return a.Size < b.Size
	}
	return a.Path > b.Path // on ties keep the lexically first paths
}
func (l *largestFiles) Swap(i, j int) { l.files[i], l.files[j] = l.files[j], l.files[i] }
func (l *largestFiles) Push(x any)    { l.files = append(l.files, x.(FileStat)) }
func (l *largestFiles) Pop() any {
	last := l.files[len(l.files)-1]
	l.files = l.files[:len(l.files)-1]
	return last
}

func (l *largestFiles) add(f FileStat) {
	if l.max == 0 {
		return
	}
	if len(l.files) < l.max {
		heap.Push(l, f)
		return
	}
	min := l.files[0]
	if f.Size > min.Size || (f.Size == min.Size && f.Path < min.Path) {
		l.files[0] = f
		heap.Fix(l, 0)
	}
}

func (l *largestFiles) sorted() []FileStat {
	out := append([]FileStat(nil), l.files...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Size != out[j].Size {
			return out[i].Size > out[j].Size
		}
		return out[i].Path < out[j].Path
	})
	return out
}
