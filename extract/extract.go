package extract

import (
	"archive/tar"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slim-dev/slim/extract/elfdeps"
	"github.com/slim-dev/slim/internal/ctxio"
	"github.com/slim-dev/slim/tarball"
)

// Extract copies paths (absolute, globs allowed, a trailing "/" for a directory's
// contents) out of fsys with what they need (see Select) into dest: a directory, or a
// deterministic tar when dest ends in ".tar". The output is written under a temporary
// name next to dest and renamed at the end, so a failed or cancelled run leaves nothing.
// A directory dest must not exist or be empty.
//
// In a directory, owners are set only when running as root; extended attributes
// (file capabilities) are set unless WithoutXattrs is given, and a failure to set one
// is an error. The returned FileSet says what was written and why.
func Extract(ctx context.Context, fsys fs.FS, paths []string, dest string, opts ...Option) (*FileSet, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("extracting: no paths given: %w", ErrBadSpec)
	}
	if dest == "" {
		return nil, fmt.Errorf("extracting: no destination given: %w", ErrBadOption)
	}
	specs := make([]Spec, 0, len(paths))
	for _, p := range paths {
		sp, err := NewSpec(p, "")
		if err != nil {
			return nil, fmt.Errorf("extracting %q: %w", p, err)
		}
		specs = append(specs, sp)
	}
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	set, err := Select(fsys, specs, opts...)
	if err != nil {
		// What the closure could not find is not in the source either (a library, or
		// the #! interpreter of a script in a taken tree that nothing runs): with
		// WithWarn the rest is written and each is said, as the whole job does; without
		// it, that is an error.
		if set == nil || o.warn == nil || !errors.Is(err, elfdeps.ErrMissing) {
			return set, err
		}
		for _, m := range elfdeps.Missing(err) {
			o.warn(fmt.Sprintf("%s is not in %s: taken without it", m, cmp.Or(o.source, "the source")))
		}
	}
	if err := ctx.Err(); err != nil {
		return set, err
	}
	if o.tarTo != nil {
		if err := tarball.WriteTar(ctxio.Writer(ctx, o.tarTo), set.Entries()); err != nil {
			return set, fmt.Errorf("writing %s: %w", dest, err)
		}
		return set, nil
	}
	if o.asTar || strings.HasSuffix(dest, ".tar") {
		return set, writeTarFile(ctx, set, dest)
	}
	return set, writeDir(ctx, set, dest, o)
}

// writeTarFile writes the set as a tar file, by way of a temporary file in dest's
// directory (so the rename cannot cross file systems).
func writeTarFile(ctx context.Context, set *FileSet, dest string) (err error) {
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating %s: %w", dest, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := tarball.WriteTar(ctxio.Writer(ctx, f), set.Entries()); err != nil {
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	if err := os.Rename(f.Name(), dest); err != nil {
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	return nil
}

// writeDir writes the set into a fresh directory, then renames it to dest.
func writeDir(ctx context.Context, set *FileSet, dest string, o options) (err error) {
	if ents, err := os.ReadDir(dest); err == nil && len(ents) > 0 {
		return fmt.Errorf("extracting into %s: not empty, choose a new directory: %w", dest, fs.ErrExist)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("extracting into %s: %w", dest, err)
	}
	entries := set.Entries()
	if err := checkParents(entries); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("extracting into %s: %w", dest, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return fmt.Errorf("extracting into %s: %w", dest, err)
	}
	w := dirWriter{root: root, asRoot: os.Geteuid() == 0, xattrs: !o.noXattr, buf: make([]byte, 128<<10)}
	err = w.write(ctx, entries)
	if cerr := root.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extracting into %s: %w", dest, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("extracting into %s: %w", dest, err)
	}
	// os.Rename refuses to replace a directory, even an empty one: remove the empty
	// directory the check above allowed (os.Remove fails on anything else).
	if err := os.Remove(dest); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("extracting into %s: %w", dest, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("extracting into %s: %w", dest, err)
	}
	return nil
}

// checkParents refuses entries under a non-directory of the set. os.Root would keep a
// write inside the root anyway, but a symlink parent would put it somewhere the
// user did not ask for.
func checkParents(entries []tarball.Entry) error {
	types := make(map[string]byte, len(entries))
	for _, e := range entries {
		types[e.Header.Name] = e.Header.Typeflag
	}
	// Each directory is looked at once: going up from every entry to the root cost
	// depth² for one deep chain.
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		for d := filepath.Dir(e.Header.Name); d != "." && !seen[d]; d = filepath.Dir(d) {
			seen[d] = true
			if t, ok := types[d]; ok && t != tar.TypeDir {
				return fmt.Errorf("checking /%s: parent /%s is not a directory: %w", e.Header.Name, d, ErrUnsafePath)
			}
		}
	}
	return nil
}

type dirWriter struct {
	root   *os.Root
	asRoot bool
	xattrs bool
	buf    []byte
	// chain holds open directories on the path of the last entry written, one every
	// rootStride levels, so an operation resolves at most rootStride components:
	// os.Root opens every component of a path, which for a chain of d directories
	// was d² system calls (3000 levels: 100 s).
	chain []openDir
}

type openDir struct {
	path string
	root *os.Root
}

// rootStride keeps at most limits.PathDepth/rootStride directories open.
const rootStride = 32

// at returns the root to reach name from, and name relative to it.
func (w *dirWriter) at(name string) (*os.Root, string, error) {
	var slashes []int
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			slashes = append(slashes, i)
		}
	}
	levels := len(slashes) / rootStride
	keep := 0
	for keep < len(w.chain) && keep < levels && w.chain[keep].path == name[:slashes[(keep+1)*rootStride-1]] {
		keep++
	}
	w.closeChain(keep)
	for i := keep; i < levels; i++ {
		parent, from := w.root, 0
		if i > 0 {
			parent, from = w.chain[i-1].root, slashes[i*rootStride-1]+1
		}
		end := slashes[(i+1)*rootStride-1]
		r, err := parent.OpenRoot(name[from:end])
		if err != nil {
			return nil, "", err
		}
		w.chain = append(w.chain, openDir{path: name[:end], root: r})
	}
	if levels == 0 {
		return w.root, name, nil
	}
	return w.chain[levels-1].root, name[slashes[levels*rootStride-1]+1:], nil
}

// closeChain closes the open directories from level keep on.
func (w *dirWriter) closeChain(keep int) {
	for _, d := range w.chain[keep:] {
		d.root.Close()
	}
	w.chain = w.chain[:keep]
}

func (w *dirWriter) write(ctx context.Context, entries []tarball.Entry) error {
	defer w.closeChain(0)
	var dirs []*tar.Header
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := e.Header
		r, rel, err := w.at(h.Name)
		if err != nil {
			return fmt.Errorf("writing /%s: %w", h.Name, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			// Owner-only until the end, so a read-only directory cannot stop its
			// children from being written.
			err = r.Mkdir(rel, 0o700)
			dirs = append(dirs, h)
		case tar.TypeReg:
			err = w.file(r, rel, e)
		case tar.TypeSymlink:
			if err = r.Symlink(h.Linkname, rel); err == nil && w.asRoot {
				err = r.Lchown(rel, h.Uid, h.Gid)
			}
		case tar.TypeLink:
			err = w.root.Link(h.Linkname, h.Name)
		default:
			err = fmt.Errorf("type %q cannot be written to a directory, write a .tar instead: %w", h.Typeflag, errors.ErrUnsupported)
		}
		if err != nil {
			return fmt.Errorf("writing /%s: %w", h.Name, err)
		}
	}
	// Deepest first, so setting a parent's times is not undone by its children.
	for _, h := range slices.Backward(dirs) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.dirMeta(h); err != nil {
			return fmt.Errorf("setting metadata of /%s: %w", h.Name, err)
		}
	}
	return nil
}

func (w *dirWriter) file(r *os.Root, rel string, e tarball.Entry) (err error) {
	h := e.Header
	f, err := r.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if h.Size > 0 {
		if e.Open == nil {
			return fmt.Errorf("no content for %d bytes: %w", h.Size, tarball.ErrSizeMismatch)
		}
		rc, err := e.Open()
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(f, io.LimitReader(rc, h.Size), w.buf)
		rc.Close()
		if err != nil {
			return err
		}
		if n != h.Size {
			return fmt.Errorf("got %d bytes, the source said %d: %w", n, h.Size, tarball.ErrSizeMismatch)
		}
	}
	// chown clears setuid bits and file capabilities, so it goes first, then the mode,
	// then the xattrs.
	if err := w.meta(f, h); err != nil {
		return err
	}
	return r.Chtimes(rel, h.ModTime, h.ModTime)
}

func (w *dirWriter) dirMeta(h *tar.Header) error {
	r, rel, err := w.at(h.Name)
	if err != nil {
		return err
	}
	f, err := r.Open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := w.meta(f, h); err != nil {
		return err
	}
	return r.Chtimes(rel, h.ModTime, h.ModTime)
}

// meta sets owner, mode and extended attributes through the open file.
func (w *dirWriter) meta(f *os.File, h *tar.Header) error {
	if w.asRoot {
		if err := f.Chown(h.Uid, h.Gid); err != nil {
			return err
		}
	}
	if err := f.Chmod(h.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)); err != nil {
		return err
	}
	if !w.xattrs {
		return nil
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, paxXattr) && !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		name := strings.TrimPrefix(k, paxXattr)
		if err := setXattr(f, name, h.PAXRecords[k]); err != nil {
			return fmt.Errorf("setting extended attribute %s (run as root on a file system with xattrs, or leave them out with WithoutXattrs): %w", name, err)
		}
	}
	return nil
}

// paxXattr is the PAX record prefix under which tar carries extended attributes.
const paxXattr = "SCHILY.xattr."
