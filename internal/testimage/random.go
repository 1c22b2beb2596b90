package testimage

import (
	"archive/tar"
	"fmt"
	"math/rand"
	"path"
	"slices"
	"strings"
)

// RandomOption adds a kind of entry to RandomLayers.
type RandomOption func(*randomOptions)

type randomOptions struct {
	owners    bool
	linkDraw  bool
	hardlinks bool
}

// RandomOwners gives directories uid 0 or 1, files gid 0 or 1 and, one time in
// four, a user.k xattr.
func RandomOwners() RandomOption { return func(o *randomOptions) { o.owners = true } }

// RandomHardlinks adds hard links to the operations drawn, and names that are
// files in one layer and directories in another. With on false the operation
// is still drawn but makes nothing: a caller that turns links on and off per
// seed keeps one draw for both.
func RandomHardlinks(on bool) RandomOption {
	return func(o *randomOptions) { o.linkDraw, o.hardlinks = true, on }
}

// RandomLayers builds one to five layers over a small namespace so that they
// collide: overwrites, whiteouts of files and directories, opaque markers
// anywhere in their layer, directories deleted and made again, and symlinks
// (absolute and relative targets). Every parent directory is an explicit entry
// of the layer that writes under it and no name repeats in a layer; without
// RandomHardlinks names never change type either, so the layers stay within
// what mutate.Extract flattens right and it can serve as the reference. The
// same r state and options give the same layers.
func RandomLayers(r *rand.Rand, opts ...RandomOption) [][]Entry {
	var o randomOptions
	for _, opt := range opts {
		opt(&o)
	}
	dirs := []string{"a", "a/b", "c", "c/d", "e"}
	var files []string
	for _, d := range append([]string{""}, dirs...) {
		for i := range 3 {
			files = append(files, path.Join(d, fmt.Sprintf("f%d", i)))
		}
	}
	if o.hardlinks {
		// Names that change type (files over directories and back): compared
		// with imagefs only, mutate.Extract gets them wrong.
		files = append(files, "c/d", "e", "a/b/f0/g")
	}
	syms := []string{"a/l0", "c/d/l1", "l2"}
	hard := []string{"a/h0", "h1"}
	all := slices.Concat(dirs, files, syms)
	if o.hardlinks {
		all = append(all, hard...)
	}
	ops := 10
	if o.linkDraw {
		ops = 11
	}
	out := make([][]Entry, 1+r.Intn(5))
	for li := range out {
		used := map[string]bool{}
		var normal, tail []Entry
		addDir := func(d string) {
			parts := strings.Split(d, "/")
			for i := range parts {
				p := strings.Join(parts[:i+1], "/")
				if p == "" || p == "." || used[p] {
					continue
				}
				used[p] = true
				e := Entry{Name: p, Type: tar.TypeDir, Mode: []int64{0o755, 0o750, 0o700}[r.Intn(3)]}
				if o.owners {
					e.Uid = r.Intn(2)
				}
				normal = append(normal, e)
			}
		}
		for range 1 + r.Intn(10) {
			switch op := r.Intn(ops); {
			case op < 4:
				p := files[r.Intn(len(files))]
				if used[p] {
					continue
				}
				addDir(path.Dir(p))
				used[p] = true
				body := make([]byte, r.Intn(3000))
				r.Read(body)
				e := Entry{Name: p, Body: body, Mode: []int64{0o644, 0o755, 0o4755}[r.Intn(3)]}
				if o.owners {
					e.Gid = r.Intn(2)
					if r.Intn(4) == 0 {
						e.Xattrs = map[string]string{"user.k": fmt.Sprint(r.Intn(3))}
					}
				}
				normal = append(normal, e)
			case op == 4:
				p := syms[r.Intn(len(syms))]
				if used[p] {
					continue
				}
				addDir(path.Dir(p))
				used[p] = true
				target := files[r.Intn(len(files))]
				if r.Intn(2) == 0 {
					target = "/" + target
				}
				normal = append(normal, Symlink(p, target))
			case op == 5:
				addDir(dirs[r.Intn(len(dirs))])
			case op < 8:
				p := all[r.Intn(len(all))]
				if used[".wh."+p] {
					continue
				}
				used[".wh."+p] = true
				tail = append(tail, Whiteout(p))
			case op == 8 || !o.linkDraw:
				d := dirs[r.Intn(len(dirs))]
				if used[".opq."+d] {
					continue
				}
				used[".opq."+d] = true
				addDir(d)
				normal = slices.Insert(normal, r.Intn(len(normal)+1), Opaque(d))
			default:
				if !o.hardlinks {
					continue
				}
				p := hard[r.Intn(len(hard))]
				if used[p] {
					continue
				}
				addDir(path.Dir(p))
				used[p] = true
				// Targets may be missing (the link is then dropped) or come from
				// this or a lower layer.
				normal = append(normal, Hardlink(p, files[r.Intn(len(files))]))
			}
		}
		out[li] = append(normal, tail...)
	}
	return out
}
