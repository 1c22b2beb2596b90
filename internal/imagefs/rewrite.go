package imagefs

import (
	"archive/tar"
	"errors"
	"io/fs"
	"path"
	"strings"
)

// What rewriting an image's layers needs to know beyond the merged view
// (slim recompress): which layer's entry each path of the view comes from,
// where every whiteout and opaque marker landed once symlinks on the way were
// followed, and what a kept base (the first layers, left untouched) shows.
// It costs memory per whiteout and per base path, so it is recorded only on
// request.

// WithRewriteInfo records what LayerEntries, Hides and InBase answer. keepBase
// is the number of bottom layers a rewrite keeps as they are (0 for none).
func WithRewriteInfo(keepBase int) Option {
	return func(o *options) { o.rewrite, o.keepBase = true, max(keepBase, 0) }
}

// ErrNoRewriteInfo is returned by the rewrite queries of an FS made without
// WithRewriteInfo.
var ErrNoRewriteInfo = errors.New("image indexed without WithRewriteInfo")

type rewriteInfo struct {
	keepBase int
	hides    [][]Hide
	// base holds the paths the first keepBase layers show: bit basePath for
	// the path itself, baseKids when something lies under it.
	base map[string]uint8
}

const (
	basePath uint8 = 1 << iota
	baseKids
)

// Hide is a whiteout or an opaque marker of a layer, at the path it acts on
// once symlinks in its parents are followed as when the layer was applied.
type Hide struct {
	// Path is the deleted path, or for an opaque marker the directory whose
	// lower contents it hides ("." for the root).
	Path   string
	Opaque bool
}

// recordHide notes where a whiteout or opaque marker of layer acts, before
// it is applied. One whose parent does not resolve to a directory hides
// nothing and is not recorded.
func (b *builder) recordHide(layer int, r rawEntry) {
	h := Hide{Path: r.path, Opaque: r.kind == kindOpaque}
	if r.path != "." {
		dir, base := path.Split(r.path)
		trail, err := walkTrail(b.root, strings.TrimSuffix(dir, "/"), true)
		if err != nil || !trail[len(trail)-1].isDir() {
			return
		}
		h.Path = path.Join(trailPath(trail), base)
	}
	for len(b.rewrite.hides) <= layer {
		b.rewrite.hides = append(b.rewrite.hides, nil)
	}
	b.rewrite.hides[layer] = append(b.rewrite.hides[layer], h)
}

// snapshotBase records what the tree shows after the kept base layers.
func (r *rewriteInfo) snapshotBase(root *node) {
	r.base = map[string]uint8{}
	var visit func(d *node, prefix string)
	visit = func(d *node, prefix string) {
		if len(d.kidm) > 0 {
			r.base[prefix] |= baseKids
		}
		for _, k := range d.kidm {
			p := path.Join(prefix, k.name)
			r.base[p] |= basePath
			if k.isDir() {
				visit(k, p)
			}
		}
	}
	visit(root, ".")
}

func trailPath(trail []*node) string {
	names := make([]string, 0, len(trail)-1)
	for _, n := range trail[1:] {
		names = append(names, n.name)
	}
	if len(names) == 0 {
		return "."
	}
	return strings.Join(names, "/")
}

// Hides returns the whiteouts and opaque markers of layer i, in tar order.
func (f *FS) Hides(i int) ([]Hide, error) {
	if f.rewrite == nil {
		return nil, ErrNoRewriteInfo
	}
	if i < 0 || i >= len(f.rewrite.hides) {
		return nil, nil
	}
	return append([]Hide(nil), f.rewrite.hides[i]...), nil
}

// InBase tells whether the kept base layers show path p (a cleaned path, "."
// for the root), and whether they show anything under it.
func (f *FS) InBase(p string) (shown, kids bool, err error) {
	if f.rewrite == nil {
		return false, false, ErrNoRewriteInfo
	}
	b := f.rewrite.base[p]
	return b&basePath != 0 || (p == "." && b != 0), b&baseKids != 0, nil
}

// LayerEntry is one path of the merged view and the layer it comes from.
type LayerEntry struct {
	Path string
	// Header is as Walk gives it: hard links as tar.TypeLink to the name
	// carrying the content, which always comes from the same or a lower layer.
	Header *tar.Header
	// Layer is the layer whose tar entry this is (for a directory, the last
	// entry that set its metadata), or -1 for a directory no layer has an
	// entry for (made for the entries under it).
	Layer int
	// Since is, for a directory, the layer from which it has existed without
	// interruption: a directory a later layer deleted or replaced and made
	// again starts over.
	Since int
	// ContentLayer and ContentOrder say where a regular file's bytes are (a hard
	// link's are its target's): reading files of one layer by increasing order
	// decompresses that layer once. ContentOrder is -1 for anything else and
	// for sparse files, which are always read from the start of their layer.
	ContentLayer int
	ContentOrder int64
}

// LayerEntries calls fn for every path of the merged view but the root, in
// Walk's order. Every path is as in the tree: symlinks never appear on the way.
func (f *FS) LayerEntries(fn func(e LayerEntry) error) error {
	if f.rewrite == nil {
		return ErrNoRewriteInfo
	}
	err := layerEntries(f.root, "", fn)
	if errors.Is(err, fs.SkipAll) {
		return nil
	}
	return err
}

func layerEntries(d *node, prefix string, fn func(LayerEntry) error) error {
	for _, k := range d.kids {
		p := k.name
		if prefix != "" {
			p = prefix + "/" + k.name
		}
		e := LayerEntry{Path: p, Header: k.header(p), Layer: int(k.elayer), ContentLayer: int(k.layer), ContentOrder: -1}
		if k.typ == tar.TypeReg && k.flags&flagSparse == 0 {
			e.ContentOrder = k.off
		}
		if k.isDir() {
			e.Since = k.since()
			if k.flags&flagImplicit != 0 {
				e.Layer = -1
			}
		}
		if err := fn(e); err != nil {
			return err
		}
		if k.isDir() {
			if err := layerEntries(k, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
