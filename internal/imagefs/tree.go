package imagefs

import (
	"archive/tar"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
)

const (
	flagImplicit uint8 = 1 << iota // parent directory with no entry of its own
	flagSparse                     // content read through tar.Reader; off is the entry number
	flagHardlink                   // a further name of a regular file; link is the first name
)

// node is one entry of the merged tree. It holds header fields and where
// the content is, never the content. Rarely used header fields live in x so
// that the common entry stays small.
type node struct {
	name string
	// link is a symlink's target, or for a hard link (flagHardlink) the path of
	// the name that carries the content, known once the tree is finished.
	link string
	x    *extra
	kids []*node          // directories, sorted by name once built
	kidm map[string]*node // directories, while building
	size int64
	// off is the content offset in the layer's uncompressed tar stream. A
	// directory has no content; there it holds the layer that created it
	// (see since), which keeps the node at its size.
	off    int64
	mtime  int64
	mode   int64
	uid    int
	gid    int
	layer  int32 // layer holding the content (the target's, for hard links)
	nsec   int32
	typ    byte
	flags  uint8
	elayer int32 // layer whose tar entry this node is (the last one, for directories)
}

// since is, for a directory, the layer from which it has existed without
// interruption: a directory deleted and made again starts over.
func (n *node) since() int { return int(n.off) }

type extra struct {
	uname, gname       string
	devmajor, devminor int64
	pax                map[string]string
}

func (n *node) isDir() bool { return n.typ == tar.TypeDir }

func (n *node) child(name string) *node {
	if n.kidm != nil {
		return n.kidm[name]
	}
	i, ok := slices.BinarySearchFunc(n.kids, name, func(k *node, name string) int {
		return strings.Compare(k.name, name)
	})
	if !ok {
		return nil
	}
	return n.kids[i]
}

// header rebuilds the entry's tar header, named p. A hard link to a regular
// file comes out as tar writes it (TypeLink, Linkname the name carrying the
// content) but with the content's Size, so that its FileInfo is the regular
// file a file system shows while tar.FileInfoHeader keeps the link.
// Hard links to anything else come out as a copy of their target.
func (n *node) header(p string) *tar.Header {
	h := n.statHeader(p)
	if n.flags&flagHardlink != 0 {
		h.Typeflag, h.Linkname = tar.TypeLink, n.link
	}
	return h
}

// statHeader is header as seen through the name: a hard link is the regular
// file it names.
func (n *node) statHeader(p string) *tar.Header {
	link := n.link
	if n.typ != tar.TypeSymlink {
		link = ""
	}
	h := &tar.Header{
		Name:     p,
		Typeflag: n.typ,
		Mode:     n.mode,
		Uid:      n.uid,
		Gid:      n.gid,
		Linkname: link,
		ModTime:  time.Unix(n.mtime, int64(n.nsec)),
	}
	if n.typ == tar.TypeReg {
		h.Size = n.size
	}
	if n.x != nil {
		h.Uname, h.Gname = n.x.uname, n.x.gname
		h.Devmajor, h.Devminor = n.x.devmajor, n.x.devminor
		if n.x.pax != nil {
			h.PAXRecords = maps.Clone(n.x.pax)
			h.Format = tar.FormatPAX
		}
	}
	return h
}

func newDir(name string, layer int) *node {
	return &node{name: name, typ: tar.TypeDir, mode: 0o755, layer: int32(layer), elayer: int32(layer), off: int64(layer), kidm: map[string]*node{}}
}

// contentKey names a regular file's bytes: hard links share them.
type contentKey struct {
	layer  int32
	off    int64
	sparse bool // off is an entry number, not an offset
}

func (n *node) key() contentKey {
	return contentKey{n.layer, n.off, n.flags&flagSparse != 0}
}

// builder merges layer indexes bottom-up and counts wasted bytes.
type builder struct {
	root   *node
	wasted []int64
	// links counts the extra names (hard links) of a content, so deleting
	// one name does not count bytes as wasted while another still shows them.
	links map[contentKey]int
	// linked marks the contents that ever got a second name, so that finish
	// only looks at those to settle which name carries the content.
	linked map[contentKey]bool
	// rewrite is set by WithRewriteInfo.
	rewrite *rewriteInfo
}

func newBuilder(layers int) *builder {
	root := newDir(".", 0)
	root.flags |= flagImplicit
	return &builder{root: root, wasted: make([]int64, layers), links: map[contentKey]int{}, linked: map[contentKey]bool{}}
}

// applyLayer merges one layer. Whiteouts and opaque markers go first, all
// of them, because they only hide lower layers: their position in the tar
// does not matter and they never hide entries of their own layer.
func (b *builder) applyLayer(layer int, raws []rawEntry) {
	for _, r := range raws {
		if b.rewrite != nil && r.kind != kindEntry {
			b.recordHide(layer, r)
		}
		switch r.kind {
		case kindWhiteout:
			if dir, base := b.parent(r.path, -1); dir != nil {
				b.remove(dir, base)
			}
		case kindOpaque:
			if d := b.existingDir(r.path); d != nil {
				for _, k := range d.kidm {
					b.drop(k)
				}
				clear(d.kidm)
			}
		}
	}
	for i := range raws {
		if raws[i].kind == kindEntry {
			b.add(layer, &raws[i])
		}
	}
	if b.rewrite != nil && layer == b.rewrite.keepBase-1 {
		b.rewrite.snapshotBase(b.root)
	}
}

func (b *builder) add(layer int, r *rawEntry) {
	n := new(node)
	*n = r.node
	n.layer, n.elayer = int32(layer), int32(layer)
	if r.path == "." {
		b.root.setMeta(n) // the root can only change metadata
		return
	}
	dir, base := b.parent(r.path, layer)
	n.name = base
	if n.typ == tar.TypeLink {
		if !b.resolveHardlink(n) {
			return
		}
		n.elayer = int32(layer)
	}
	old := dir.kidm[base]
	if old != nil {
		if old.isDir() && n.isDir() {
			old.setMeta(n) // a directory entry over a directory keeps its contents
			return
		}
		b.drop(old)
	}
	if n.isDir() {
		n.kidm = map[string]*node{}
		n.off = int64(layer) // a new directory: see since
	}
	dir.kidm[base] = n
}

// resolveHardlink turns n into a copy of its target, which must already be
// in the tree (same or lower layer). Links to nothing, to directories or
// out of the root are dropped. A link to a regular file keeps its identity
// (flagHardlink); which name carries the content is settled by finish, once
// every layer has deleted or overwritten what it does.
func (b *builder) resolveHardlink(n *node) bool {
	target, ok := cleanName(n.link)
	if !ok || target == "." {
		return false
	}
	t, err := walk(b.root, target, false)
	if err != nil || t.isDir() {
		return false
	}
	name := n.name
	*n = *t
	n.name = name
	if t.typ == tar.TypeReg {
		b.links[t.key()]++
		b.linked[t.key()] = true
		n.flags |= flagHardlink
	}
	return true
}

// setMeta copies header fields from n, keeping the directory's children.
func (d *node) setMeta(n *node) {
	d.mode, d.uid, d.gid, d.mtime, d.nsec, d.x = n.mode, n.uid, n.gid, n.mtime, n.nsec, n.x
	d.layer, d.elayer = n.layer, n.elayer
	d.flags &^= flagImplicit
}

// parent returns the directory that holds p and p's base name. Missing
// parents are created as implicit directories when layer >= 0 (a non-dir
// in the way is replaced, as extracting the tar would); symlinks on the
// way are followed inside the root, as containerd's applier does. With
// layer < 0 nothing is created and a missing parent gives nil.
func (b *builder) parent(p string, layer int) (*node, string) {
	dirPath, base := path.Split(p)
	dir := strings.TrimSuffix(dirPath, "/")
	cur := b.root
	// p is clean, so each prefix is a slice of it: joining them one by one made a
	// path of depth d cost d² (3000 levels: seconds per entry).
	for start := 0; start < len(dir); {
		end := strings.IndexByte(dir[start:], '/')
		if end < 0 {
			end = len(dir)
		} else {
			end += start
		}
		c, prefix := dir[start:end], dir[:end]
		start = end + 1
		if c == "" {
			continue
		}
		k := cur.kidm[c]
		if k != nil && k.typ == tar.TypeSymlink {
			if t, err := walk(b.root, prefix, true); err == nil && t.isDir() {
				cur = t
				continue
			}
		}
		if k == nil || !k.isDir() {
			if layer < 0 {
				return nil, ""
			}
			if k != nil {
				b.drop(k)
			}
			k = newDir(c, layer)
			k.flags |= flagImplicit
			cur.kidm[c] = k
		}
		cur = k
	}
	return cur, base
}

func (b *builder) existingDir(p string) *node {
	if p == "." {
		return b.root
	}
	dir, base := b.parent(p, -1)
	if dir == nil {
		return nil
	}
	if d := dir.kidm[base]; d != nil && d.isDir() {
		return d
	}
	return nil
}

func (b *builder) remove(dir *node, base string) {
	if k := dir.kidm[base]; k != nil {
		b.drop(k)
		delete(dir.kidm, base)
	}
}

// drop accounts for n (and everything under it) leaving the merged view.
func (b *builder) drop(n *node) {
	switch {
	case n.isDir():
		for _, k := range n.kidm {
			b.drop(k)
		}
	case n.typ == tar.TypeReg:
		key := n.key()
		if b.links[key] > 0 {
			b.links[key]--
			return
		}
		b.wasted[n.layer] += n.size
	}
}

// finish turns the building maps into sorted slices: smaller, and ready
// for ReadDir and Walk in lexical order.
func (b *builder) finish() *node {
	var sortDir func(d *node)
	sortDir = func(d *node) {
		d.kids = make([]*node, 0, len(d.kidm))
		for _, k := range d.kidm {
			d.kids = append(d.kids, k)
		}
		d.kidm = nil
		slices.SortFunc(d.kids, func(a, b *node) int { return strings.Compare(a.name, b.name) })
		for _, k := range d.kids {
			if k.isDir() {
				sortDir(k)
			}
		}
	}
	sortDir(b.root)
	b.settleHardlinks()
	return b.root
}

// settleHardlinks decides, for every content with several names left, which
// name carries it: the name the links were made to while it is still there,
// else (deleted or overwritten later) the surviving name of the lowest layer,
// first in walk order, as the merged view of a running container has it.
// A lone survivor becomes a plain regular file.
func (b *builder) settleHardlinks() {
	if len(b.linked) == 0 {
		return
	}
	type named struct {
		path string
		n    *node
	}
	groups := map[contentKey][]named{}
	var keys []contentKey
	var visit func(d *node, prefix string)
	visit = func(d *node, prefix string) {
		for _, k := range d.kids {
			p := path.Join(prefix, k.name)
			switch {
			case k.isDir():
				visit(k, p)
			case k.typ == tar.TypeReg && b.linked[k.key()]:
				key := k.key()
				if _, ok := groups[key]; !ok {
					keys = append(keys, key)
				}
				groups[key] = append(groups[key], named{p, k})
			}
		}
	}
	visit(b.root, "")
	for _, key := range keys {
		g := groups[key]
		first := -1
		for i, m := range g {
			if m.n.flags&flagHardlink == 0 {
				first = i
				break
			}
			if first < 0 || m.n.elayer < g[first].n.elayer {
				first = i
			}
		}
		for i, m := range g {
			if i == first {
				m.n.flags &^= flagHardlink
				m.n.link = ""
				continue
			}
			m.n.flags |= flagHardlink
			m.n.link = g[first].path
		}
	}
}

// walk resolves name from root. Symlinks in intermediate components are
// followed, the last one only if followLast; absolute targets start again
// at root and ".." stops at root, so resolution never leaves the image.
// Not internal/rootfs.Resolve: it walks the index that FS.Lstat and ReadLink stand on.
func walk(root *node, name string, followLast bool) (*node, error) {
	trail, err := walkTrail(root, name, followLast)
	if err != nil {
		return nil, err
	}
	return trail[len(trail)-1], nil
}

// walkTrail is walk returning the resolved node and its ancestors, root
// first: their names make the path the node has in the tree.
func walkTrail(root *node, name string, followLast bool) ([]*node, error) {
	trail := []*node{root} // the current directory and its ancestors
	rest := name
	hops := 0
	for rest != "" {
		var c string
		c, rest, _ = strings.Cut(rest, "/")
		cur := trail[len(trail)-1]
		switch c {
		case "", ".":
			continue
		case "..":
			if !cur.isDir() {
				return nil, fs.ErrNotExist
			}
			if len(trail) > 1 {
				trail = trail[:len(trail)-1]
			}
			continue
		}
		if !cur.isDir() {
			return nil, fs.ErrNotExist
		}
		k := cur.child(c)
		if k == nil {
			return nil, fs.ErrNotExist
		}
		if k.typ == tar.TypeSymlink && (rest != "" || followLast) {
			if hops++; hops > maxHops {
				return nil, ErrLoop
			}
			if k.link == "" {
				return nil, fs.ErrNotExist
			}
			if strings.HasPrefix(k.link, "/") {
				trail = trail[:1]
			}
			if rest == "" {
				rest = k.link
			} else {
				rest = k.link + "/" + rest
			}
			continue
		}
		trail = append(trail, k)
	}
	return trail, nil
}
