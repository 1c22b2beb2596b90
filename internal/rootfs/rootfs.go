// Package rootfs owns how a name is looked up inside an image's root file system the way
// the kernel and execvp look it up inside a container: symlinks resolved component by
// component, absolute targets taken from the root and ".." stopping at it, at most 40 of
// them as Linux allows (MAXSYMLINKS); and a program found through PATH.
//
// It works over any fs.FS that implements fs.ReadLinkFS (an image view, a build stage, a
// MapFS, a host directory) and never relies on the file system following symlinks itself,
// so every caller gets the same answer and the symlinks met on the way.
package rootfs

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// maxHops matches Linux's MAXSYMLINKS, so what resolves in a running container resolves
// here and a symlink loop ends the same way.
const maxHops = 40

// ErrLoop is what resolving a name returns after more than 40 symlinks (ELOOP).
var ErrLoop = errors.New("too many levels of symbolic links")

// Resolve returns the real path of name inside fsys (relative to the root, "." for the
// root; name may be absolute or relative to the root) and every symlink met on the way,
// by its own real path, in the order met. The last component is followed only when follow
// is true. Errors from fsys are returned as they are; a loop is a *fs.PathError wrapping
// ErrLoop, a non-directory in the middle one wrapping syscall.ENOTDIR.
func Resolve(fsys fs.ReadLinkFS, name string, follow bool) (real string, links []string, err error) {
	comps := split(name)
	cur := "" // real path of the directory reached so far; "" is the root
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
		next := c
		if cur != "" {
			next = cur + "/" + c
		}
		fi, err := fsys.Lstat(next)
		if err != nil {
			return "", links, err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0 && (len(comps) > 0 || follow):
			if hops++; hops > maxHops {
				return "", links, &fs.PathError{Op: "resolve", Path: name, Err: ErrLoop}
			}
			target, err := fsys.ReadLink(next)
			if err != nil {
				return "", links, err
			}
			links = append(links, next)
			if strings.HasPrefix(target, "/") {
				cur = ""
			}
			comps = append(split(target), comps...)
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

// split is the non-empty components of p.
func split(p string) []string {
	return strings.FieldsFunc(p, func(c rune) bool { return c == '/' })
}

// IsNotFound is true for the errors of Resolve after which execvp and the dynamic loader
// try their next candidate: a missing component (ENOENT), a file in the middle (ENOTDIR),
// a loop, or a name the file system calls invalid, which cannot exist in it either.
func IsNotFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) ||
		errors.Is(err, ErrLoop) || errors.Is(err, fs.ErrInvalid)
}
