package imagefs

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

var (
	_ fs.FS         = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
	_ fs.ReadLinkFS = (*FS)(nil)
)

// lookup resolves name for operation op, with errors as *fs.PathError.
func (f *FS) lookup(op, name string, follow bool) (*node, error) {
	if !validPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n, err := walk(f.root, name, follow)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return n, nil
}

// validPath is fs.ValidPath without its UTF-8 rule: a Linux name is any bytes but NUL
// and '/', and tar keeps them, so an image may hold names that are not UTF-8.
func validPath(name string) bool {
	if name == "." {
		return true
	}
	for {
		i := strings.IndexByte(name, '/')
		elem := name
		if i >= 0 {
			elem = name[:i]
		}
		if elem == "" || elem == "." || elem == ".." || strings.IndexByte(elem, 0) >= 0 {
			return false
		}
		if i < 0 {
			return true
		}
		name = name[i+1:]
	}
}

// Open opens name, following symlinks inside the image. Regular files are
// read lazily: nothing is decompressed until the first Read.
func (f *FS) Open(name string) (fs.File, error) {
	n, err := f.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return &dirFile{fs: f, n: n, name: name}, nil
	}
	return &file{fs: f, n: n, name: name, remaining: n.contentSize()}, nil
}

// ContentID names a regular file's content by where it lies: the digest of the
// layer blob that holds it (checked when the image was indexed) and the entry's
// place in that layer's tar stream, so equal IDs are the same bytes. slim's layer
// cache keys layers by it without decompressing anything (extract.ContentIDFS).
func (f *FS) ContentID(name string) (string, bool) {
	n, err := f.lookup("contentid", name, true)
	if err != nil || n.typ != tar.TypeReg {
		return "", false
	}
	return fmt.Sprintf("oci-layer %s off=%d size=%d sparse=%t", f.sources[n.layer].digest, n.off, n.size, n.flags&flagSparse != 0), true
}

// Stat follows symlinks; Sys() of the result is the entry's *tar.Header. A
// hard link shows as the regular file it is another name of.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	n, err := f.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	return n.statHeader(name).FileInfo(), nil
}

// Lstat does not follow a final symlink. A hard link to a regular file is a
// regular file of its target's size whose Sys() header keeps Typeflag
// tar.TypeLink and, as Linkname, the cleaned path of the name carrying the
// content, so tar.FileInfoHeader and extractors keep the pair. When that
// name is deleted or overwritten by a later layer, a surviving link becomes
// a plain regular file with the content (the first survivor of the lowest
// layer; the others link to it).
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	n, err := f.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return n.header(name).FileInfo(), nil
}

// ReadLink returns a symlink's target as stored in the layer.
func (f *FS) ReadLink(name string) (string, error) {
	n, err := f.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.typ != tar.TypeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return n.link, nil
}

// ReadDir lists a directory in name order, without following the entries'
// symlinks.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := f.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errNotDir}
	}
	return dirEntries(name, n.kids), nil
}

// ReadFile reads a whole file.
func (f *FS) ReadFile(name string) ([]byte, error) {
	fl, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer fl.Close()
	if ff, ok := fl.(*file); ok {
		// Sizes come from the tar headers; sparse files may claim far more
		// than their blob holds, so preallocate only up to a bound.
		buf := bytes.NewBuffer(make([]byte, 0, min(ff.remaining, 64<<20)))
		if _, err := buf.ReadFrom(ff); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return nil, &fs.PathError{Op: "read", Path: name, Err: errIsDir}
}

// Walk calls fn for every entry of the merged view but the root, depth
// first, directory entries in name order (the order of fs.WalkDir). fn may
// return fs.SkipDir or fs.SkipAll as with fs.WalkDir. Symlinks are not
// followed; headers are Lstat's (hard links as tar.TypeLink with the
// content's Size); fn must not keep h beyond its call if it modifies it.
func (f *FS) Walk(fn func(path string, h *tar.Header) error) error {
	err := walkTree(f.root, "", fn)
	if errors.Is(err, fs.SkipAll) {
		return nil
	}
	return err
}

func walkTree(d *node, prefix string, fn func(string, *tar.Header) error) error {
	for _, k := range d.kids {
		p := k.name
		if prefix != "" {
			p = prefix + "/" + k.name
		}
		err := fn(p, k.header(p))
		if errors.Is(err, fs.SkipDir) {
			if k.isDir() {
				continue
			}
			return nil // as fs.WalkDir: skip the rest of this directory
		}
		if err != nil {
			return err
		}
		if k.isDir() {
			if err := walkTree(k, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

var (
	errNotDir = errors.New("not a directory")
	errIsDir  = errors.New("is a directory")
)

func (n *node) contentSize() int64 {
	if n.typ == tar.TypeReg {
		return n.size
	}
	return 0
}

func (n *node) modeType() fs.FileMode {
	switch n.typ {
	case tar.TypeDir:
		return fs.ModeDir
	case tar.TypeSymlink:
		return fs.ModeSymlink
	case tar.TypeChar:
		return fs.ModeDevice | fs.ModeCharDevice
	case tar.TypeBlock:
		return fs.ModeDevice
	case tar.TypeFifo:
		return fs.ModeNamedPipe
	}
	return 0
}

type dirEntry struct {
	n    *node
	path string
}

func (e dirEntry) Name() string               { return e.n.name }
func (e dirEntry) IsDir() bool                { return e.n.isDir() }
func (e dirEntry) Type() fs.FileMode          { return e.n.modeType() }
func (e dirEntry) Info() (fs.FileInfo, error) { return e.n.header(e.path).FileInfo(), nil }
func (e dirEntry) String() string             { return fs.FormatDirEntry(e) }

func dirEntries(name string, kids []*node) []fs.DirEntry {
	out := make([]fs.DirEntry, len(kids))
	for i, k := range kids {
		out[i] = dirEntry{n: k, path: path.Join(name, k.name)}
	}
	return out
}

// dirFile is an open directory.
type dirFile struct {
	fs     *FS
	n      *node
	name   string
	offset int
	closed bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.n.header(d.name).FileInfo(), nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errIsDir}
}

func (d *dirFile) Close() error {
	if d.closed {
		return &fs.PathError{Op: "close", Path: d.name, Err: fs.ErrClosed}
	}
	d.closed = true
	return nil
}

func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: fs.ErrClosed}
	}
	rest := d.n.kids[d.offset:]
	if count > 0 {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		rest = rest[:min(count, len(rest))]
	}
	d.offset += len(rest)
	return dirEntries(d.name, rest), nil
}

// file is an open non-directory. Its content stream is set up on the first
// Read, from a layer cursor that is handed back to the layer's pool on
// Close, so the next file further in the same layer continues from there.
type file struct {
	fs        *FS
	n         *node
	name      string
	remaining int64
	c         *cursor
	r         io.Reader // content; nil until the first Read
	err       error     // sticky read error
	closed    bool
}

func (fl *file) Stat() (fs.FileInfo, error) { return fl.n.statHeader(fl.name).FileInfo(), nil }

func (fl *file) Read(p []byte) (int, error) {
	switch {
	case fl.closed:
		return 0, &fs.PathError{Op: "read", Path: fl.name, Err: fs.ErrClosed}
	case fl.err != nil:
		return 0, fl.err
	case fl.remaining == 0:
		return 0, io.EOF
	case len(p) == 0:
		return 0, nil
	}
	if fl.r == nil {
		if err := fl.start(); err != nil {
			fl.err = &fs.PathError{Op: "read", Path: fl.name, Err: err}
			return 0, fl.err
		}
	}
	if int64(len(p)) > fl.remaining {
		p = p[:fl.remaining]
	}
	n, err := fl.r.Read(p)
	fl.remaining -= int64(n)
	switch {
	case fl.remaining == 0:
		return n, nil
	case errors.Is(err, io.EOF):
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		fl.err = &fs.PathError{Op: "read", Path: fl.name, Err: err}
		return n, fl.err
	}
	return n, nil
}

func (fl *file) start() error {
	src := &fl.fs.sources[fl.n.layer]
	if fl.n.flags&flagSparse != 0 {
		c, err := newCursor(src)
		if err != nil {
			return err
		}
		fl.c = c
		tr := tar.NewReader(c)
		for i := int64(0); i <= fl.n.off; i++ {
			if _, err := tr.Next(); err != nil {
				return fmt.Errorf("seeking to sparse entry %d of layer %s: %w", fl.n.off, src.digest, err)
			}
		}
		fl.r = tr
		return nil
	}
	if r := src.spool.section(fl.n.off, fl.n.size); r != nil {
		fl.r = r
		return nil
	}
	if fl.n.size <= smallRead {
		b, err := src.pool.readSmall(src, fl.n.off, fl.n.size)
		if err != nil {
			return err
		}
		fl.r = bytes.NewReader(b)
		return nil
	}
	c, err := src.pool.get(src, fl.n.off)
	if err != nil {
		return err
	}
	fl.c = c
	fl.r = c
	return nil
}

func (fl *file) Close() error {
	if fl.closed {
		return &fs.PathError{Op: "close", Path: fl.name, Err: fs.ErrClosed}
	}
	fl.closed = true
	if fl.c == nil {
		return nil
	}
	src := &fl.fs.sources[fl.n.layer]
	switch {
	case fl.n.flags&flagSparse != 0:
		return fl.c.close()
	case fl.err != nil:
		return src.pool.discard(fl.c)
	}
	return src.pool.put(fl.c)
}
