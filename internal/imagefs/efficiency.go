package imagefs

import (
	"archive/tar"
	"cmp"
	"path"
	"slices"
)

// Efficiency is an image's score as dive computes it (wagoodman/dive, filetree
// Efficiency and image.Analyze), so that slim inspect and dive agree on the same image.
// Every path that is a leaf of some layer's own tree (a file, a symlink, an empty
// directory, a whiteout) is counted in each layer that holds it, with its size in that
// layer: a regular file's content size; a whiteout's, the content below it when it
// deletes a directory, else 0; anything else 0. Opaque markers count for nothing.
// Score is the sum over paths of their smallest size divided by the sum of all their
// sizes; WastedBytes is the sum of all sizes of the paths held by more than one layer.
type Efficiency struct {
	Score       float64
	WastedBytes int64
	// UserSize is the content size of every layer but the first (dive's "user" bytes),
	// UserWastedPercent WastedBytes over it as a ratio (1 when UserSize is 0 and
	// something is wasted).
	UserSize          int64
	UserWastedPercent float64
	// Files are the paths held by more than one layer with any bytes, largest first.
	Files []WastedFile
}

// WastedFile is one path that several layers hold: how many, and their total size.
type WastedFile struct {
	Path  string
	Count int
	Size  int64
}

// WithEfficiency computes the image's Efficiency while it is indexed (FS.Efficiency).
func WithEfficiency() Option { return func(o *options) { o.efficiency = true } }

// Efficiency is the image's score as dive computes it, nil without WithEfficiency.
func (f *FS) Efficiency() *Efficiency { return f.efficiency }

type pathUse struct {
	count    int
	min, sum int64
}

type efficiencyCounter struct {
	paths    map[string]*pathUse
	userSize int64
}

// addLayer counts layer i's leaves; b holds the layers below it, merged, for the size
// of a deleted directory.
func (e *efficiencyCounter) addLayer(b *builder, i int, raws []rawEntry) {
	// A layer's own tree: each path once (the last entry wins, as in dive's tree), and a
	// path with anything below it in this layer is no leaf.
	inner := map[string]bool{}
	mark := func(p string) {
		for d := path.Dir(p); d != "." && d != "/" && !inner[d]; d = path.Dir(d) {
			inner[d] = true
		}
	}
	leaves := map[string]int64{}
	var order []string
	for _, r := range raws {
		var size int64
		switch r.kind {
		case kindOpaque:
			mark(path.Join(r.path, opaqueMarker))
			continue
		case kindWhiteout:
			size = deletedSize(b, r.path)
		default:
			if r.node.typ == tar.TypeReg {
				size = r.node.size
			}
			if i > 0 {
				e.userSize += size
			}
		}
		mark(r.path)
		if _, ok := leaves[r.path]; !ok {
			order = append(order, r.path)
		}
		leaves[r.path] = size
	}
	for _, p := range order {
		if inner[p] || p == "." {
			continue
		}
		size := leaves[p]
		u := e.paths[p]
		if u == nil {
			u = &pathUse{min: size}
			e.paths[p] = u
		}
		u.count++
		u.sum += size
		u.min = min(u.min, size)
	}
}

// deletedSize is what a whiteout of p deletes when p is a directory of the layers
// below: the content of its regular files. dive counts a deleted file as 0.
func deletedSize(b *builder, p string) int64 {
	n, err := walk(b.root, p, false)
	if err != nil || !n.isDir() {
		return 0
	}
	var sum func(d *node) int64
	sum = func(d *node) int64 {
		var s int64
		for _, k := range d.kidm {
			switch {
			case k.isDir():
				s += sum(k)
			case k.typ == tar.TypeReg && k.flags&flagHardlink == 0:
				s += k.size
			}
		}
		return s
	}
	return sum(n)
}

func (e *efficiencyCounter) result() *Efficiency {
	out := &Efficiency{Score: 1, UserSize: e.userSize}
	var minSum, all int64
	for p, u := range e.paths {
		minSum += u.min
		all += u.sum
		if u.count > 1 {
			out.WastedBytes += u.sum
			if u.sum > 0 {
				out.Files = append(out.Files, WastedFile{Path: p, Count: u.count, Size: u.sum})
			}
		}
	}
	if all > 0 {
		out.Score = float64(minSum) / float64(all)
	}
	switch {
	case e.userSize > 0:
		out.UserWastedPercent = float64(out.WastedBytes) / float64(e.userSize)
	case out.WastedBytes > 0:
		out.UserWastedPercent = 1
	}
	slices.SortFunc(out.Files, func(a, b WastedFile) int {
		return cmp.Or(cmp.Compare(b.Size, a.Size), cmp.Compare(a.Path, b.Path))
	})
	return out
}
