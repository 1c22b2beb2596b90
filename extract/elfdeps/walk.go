package elfdeps

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"syscall"

	"github.com/slim-dev/slim/internal/rootfs"
)

// walked is a name resolved inside the image root.
type walked struct {
	// real has no symlink in any component: it is what gets opened and copied.
	real string
	// links are the symlinks crossed on the way, each under a symlink-free parent, in the
	// order they were crossed. Copying them with real keeps every name that led here valid.
	links []string
}

// lstatResult caches one Lstat (and ReadLink for symlinks): the loader's search tries the
// same directories for every library, and image file systems may be slow to answer.
type lstatResult struct {
	info   fs.FileInfo
	target string
	err    error
}

// tidyName turns a loader path ("/lib/x", "lib//./x/") into a name relative to the image
// root. It keeps "..": only the walk can resolve it, because lib/.. is usr when lib is a
// symlink to usr/lib, as the kernel sees it and the loader relies on.
func tidyName(name string) string {
	var parts []string
	for _, p := range splitPath(name) {
		if p != "." {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "."
	}
	return strings.Join(parts, "/")
}

// parentOf is the directory part of a tidy name, without lexical cleaning (see tidyName),
// as a root-absolute path for $ORIGIN.
func parentOf(name string) string {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "/"
	}
	return "/" + name[:i]
}

// lstatCache is the image's fs.ReadLinkFS with Lstat and ReadLink answered once per name.
type lstatCache struct {
	fs.ReadLinkFS
	m map[string]lstatResult
}

func (c *lstatCache) lstat(name string) lstatResult {
	if res, ok := c.m[name]; ok {
		return res
	}
	var res lstatResult
	res.info, res.err = c.ReadLinkFS.Lstat(name)
	if res.err == nil && res.info.Mode().Type() == fs.ModeSymlink {
		res.target, res.err = c.ReadLinkFS.ReadLink(name)
	}
	c.m[name] = res
	return res
}

func (c *lstatCache) Lstat(name string) (fs.FileInfo, error) {
	res := c.lstat(name)
	return res.info, res.err
}

func (c *lstatCache) ReadLink(name string) (string, error) {
	res := c.lstat(name)
	if res.err == nil && res.info.Mode().Type() != fs.ModeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return res.target, res.err
}

// walk resolves name inside the image root the way the kernel resolves a path under
// chroot (rootfs.Resolve). It does not rely on the fs.FS following symlinks, because
// fstest.MapFS and some layer views do not follow absolute ones, and because the crossed
// links must be reported.
func (r *Resolver) walk(name string) (walked, error) {
	clean := tidyName(name)
	if res, ok := r.walks[clean]; ok {
		return res.w, res.err
	}
	w, err := r.walkUncached(clean)
	r.walks[clean] = walkResult{w, err}
	return w, err
}

type walkResult struct {
	w   walked
	err error
}

func (r *Resolver) walkUncached(name string) (walked, error) {
	real, links, err := rootfs.Resolve(r.links, name, true)
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		// The loader treats it like a missing file and searches on.
		return walked{}, fmt.Errorf("resolving %s: %w: %w", name, err, fs.ErrNotExist)
	case err != nil:
		return walked{}, fmt.Errorf("resolving %s: %w", name, err)
	}
	return walked{real: real, links: links}, nil
}

func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(c rune) bool { return c == '/' })
}

// maxConfigFile bounds configuration files read from the image (ld.so.conf and friends):
// real ones are a few hundred bytes.
const maxConfigFile = 1 << 20

// readFile reads a small configuration file at a root-absolute or relative name,
// following symlinks inside the image root.
func (r *Resolver) readFile(name string) ([]byte, error) {
	w, err := r.walk(name)
	if err != nil {
		return nil, err
	}
	f, err := r.fsys.Open(w.real)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > maxConfigFile {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", name, maxConfigFile)
	}
	return b, nil
}
