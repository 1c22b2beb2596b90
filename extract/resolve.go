package extract

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// maxHops matches Linux's MAXSYMLINKS, so what resolves in a running container resolves
// here and a symlink loop ends the same way.
const maxHops = 40

var errLoop = errors.New("too many levels of symbolic links")

// resolver follows symlinks inside the source root by itself, component by component,
// with absolute targets taken from the root and ".." stopping at it, as the kernel does
// inside a container. Doing it here rather than trusting Open to follow them makes the
// result the same for every fs.FS (image view, build stage, MapFS, a host directory).
type resolver struct {
	fsys  fs.FS
	links fs.ReadLinkFS
}

// resolve returns the real path of name (relative to the root, "." for the root) and
// every symlink met on the way, by its own real path. The last component is followed only
// when follow is true.
func (r *resolver) resolve(name string, follow bool) (string, []string, error) {
	var links []string
	comps := splitComps(name)
	cur := ""
	hops := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case ".":
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
		next := join(cur, c)
		fi, err := r.links.Lstat(next)
		if err != nil {
			return "", links, err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0 && (len(comps) > 0 || follow):
			if hops++; hops > maxHops {
				return "", links, &fs.PathError{Op: "resolve", Path: name, Err: errLoop}
			}
			target, err := r.links.ReadLink(next)
			if err != nil {
				return "", links, err
			}
			links = append(links, next)
			if strings.HasPrefix(target, "/") {
				cur = ""
			}
			comps = append(splitComps(target), comps...)
		case len(comps) > 0 && !fi.IsDir():
			return "", links, &fs.PathError{Op: "resolve", Path: name, Err: syscall.ENOTDIR}
		default:
			cur = next
		}
	}
	if cur == "" {
		cur = "."
	}
	return cur, links, nil
}

// readDir lists the directory that name resolves to.
func (r *resolver) readDir(name string) ([]fs.DirEntry, error) {
	real, _, err := r.resolve(name, true)
	if err != nil {
		return nil, err
	}
	return fs.ReadDir(r.fsys, real)
}

func splitComps(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// join joins a relative directory ("" or "." for the root) and a name.
func join(dir, name string) string {
	if dir == "" || dir == "." {
		return name
	}
	return dir + "/" + name
}

// rel turns an absolute clean path into an fs.FS name.
func rel(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// describe makes a resolution error say what was missing.
func describe(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && (errors.Is(err, fs.ErrNotExist) || isNotDir(err)) {
		return fmt.Errorf("/%s does not exist: %w: %w", pe.Path, ErrNotFound, err)
	}
	return err
}
