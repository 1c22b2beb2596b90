package extract

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

// resolver reads the source root through internal/rootfs, which follows symlinks by
// itself as the kernel does inside a container. Doing it there rather than trusting Open
// to follow them makes the result the same for every fs.FS (image view, build stage,
// MapFS, a host directory).
type resolver struct {
	fsys  fs.FS
	links fs.ReadLinkFS
}

// readDir lists the directory that name resolves to.
func (r *resolver) readDir(name string) ([]fs.DirEntry, error) {
	real, _, err := rootfs.Resolve(r.links, name, true)
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
