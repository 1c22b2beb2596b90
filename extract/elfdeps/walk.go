package elfdeps

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// maxSymlinkHops is Linux's limit (MAXSYMLINKS), so a loop fails here as it would at run time.
const maxSymlinkHops = 40

// errLoop is wrapped so callers can tell a symlink loop from a plain missing file.
var errLoop = errors.New("too many levels of symbolic links")

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

func (r *Resolver) lstat(name string) lstatResult {
	if res, ok := r.lstats[name]; ok {
		return res
	}
	var res lstatResult
	res.info, res.err = r.links.Lstat(name)
	if res.err == nil && res.info.Mode().Type() == fs.ModeSymlink {
		res.target, res.err = r.links.ReadLink(name)
	}
	r.lstats[name] = res
	return res
}

// walk resolves name inside the image root the way the kernel resolves a path under
// chroot: component by component, absolute symlink targets from the image root. It does
// not rely on the fs.FS following symlinks, because fstest.MapFS and some layer views do
// not follow absolute ones, and because the crossed links must be reported.
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
	var w walked
	todo := splitPath(name)
	cur := "" // real path of the directory reached so far; "" is the root
	hops := 0
	for len(todo) > 0 {
		comp := todo[0]
		todo = todo[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			if cur != "" {
				cur = path.Dir(cur)
				if cur == "." {
					cur = ""
				}
			}
			continue
		}
		next := comp
		if cur != "" {
			next = cur + "/" + comp
		}
		res := r.lstat(next)
		if res.err != nil {
			return w, fmt.Errorf("resolving %s: %w", name, res.err)
		}
		mode := res.info.Mode()
		switch {
		case mode.Type() == fs.ModeSymlink:
			hops++
			if hops > maxSymlinkHops {
				return w, fmt.Errorf("resolving %s: %w", name, errLoop)
			}
			w.links = append(w.links, next)
			target := splitPath(res.target)
			if strings.HasPrefix(res.target, "/") {
				cur = ""
			}
			todo = append(target, todo...)
		case len(todo) > 0 && !mode.IsDir():
			// ENOTDIR: the loader treats it like a missing file and searches on.
			return w, fmt.Errorf("resolving %s: %s is not a directory: %w", name, next, fs.ErrNotExist)
		default:
			cur = next
		}
	}
	if cur == "" {
		cur = "."
	}
	w.real = cur
	return w, nil
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
