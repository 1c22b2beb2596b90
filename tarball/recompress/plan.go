package recompress

import (
	"archive/tar"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/tarball"
)

// plan is the entries of every output layer, indexed by the input layer
// it stands for.
type plan struct {
	sets          [][]tarball.Entry
	entries       []int // entries written per input layer (whiteouts included)
	content       *contentSource
	stripped      int
	strippedBytes int64
}

// planned is one path of the merged view on its way to an output layer.
type planned struct {
	e     imagefs.LayerEntry
	strip bool
	// implicit marks a directory no layer has an entry for (see keepImplicit).
	implicit bool
}

func makePlan(fsys *imagefs.FS, n int, o *options, strip *stripper) (*plan, error) {
	p := &plan{sets: make([][]tarball.Entry, n), entries: make([]int, n),
		content: &contentSource{fsys: fsys}}
	// target is the output layer of a rewritten input layer: itself, or with squash
	// the top one.
	target := func(layer int) int {
		if o.squash {
			return n - 1
		}
		return layer
	}
	var all []planned
	byPath := map[string]int{}
	dirStrip := map[string]bool{}
	// whiteouts are the hides each output layer needs: only ones that act on the
	// kept base, since everything they hid above it is dropped.
	whiteouts := make([]map[string]bool, n)
	addWhiteout := func(layer int, name string) {
		t := target(layer)
		if whiteouts[t] == nil {
			whiteouts[t] = map[string]bool{}
		}
		whiteouts[t][name] = true
	}
	err := fsys.LayerEntries(func(e imagefs.LayerEntry) error {
		if e.Header.Typeflag == tar.TypeDir && o.keepBase > 0 && e.Since >= o.keepBase {
			// A directory made again above the base (after a deletion or over another
			// type) must not show the base's old contents once the layers that
			// deleted them are gone.
			shown, _, err := fsys.InBase(e.Path)
			if err != nil {
				return err
			}
			if shown {
				addWhiteout(e.Since, whiteoutName(e.Path))
			}
		}
		pl := planned{e: e}
		if len(strip.globs) > 0 {
			// Removing a directory removes what is under it, whether the directory
			// has an entry of its own or not.
			v := strip.verdict(e.Path)
			pl.strip = v > 0 || (v == 0 && dirStrip[path.Dir(e.Path)])
			if e.Header.Typeflag == tar.TypeDir && pl.strip {
				dirStrip[e.Path] = true
			}
		}
		if e.Layer < 0 && e.Since >= o.keepBase {
			pl.implicit = true
			pl.e.Layer = e.Since // the layer whose entries made it
		}
		if pl.e.Layer < o.keepBase {
			return nil // kept as it is
		}
		byPath[e.Path] = len(all)
		all = append(all, pl)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("planning layers: %w", err)
	}
	if o.keepBase > 0 {
		for i := o.keepBase; i < n; i++ {
			hides, err := fsys.Hides(i)
			if err != nil {
				return nil, fmt.Errorf("planning layer %d: %w", i, err)
			}
			for _, h := range hides {
				shown, kids, err := fsys.InBase(h.Path)
				if err != nil {
					return nil, err
				}
				switch {
				case h.Opaque && kids:
					addWhiteout(i, path.Join(h.Path, ".wh..wh..opq"))
				case !h.Opaque && shown:
					addWhiteout(i, whiteoutName(h.Path))
				}
			}
		}
	}
	// A kept entry keeps the directories above it.
	for i := range all {
		if all[i].strip || all[i].implicit {
			continue
		}
		for d := path.Dir(all[i].e.Path); d != "."; d = path.Dir(d) {
			if j, ok := byPath[d]; ok {
				all[j].strip = false
			}
		}
	}
	settleStrippedLinks(all, byPath)
	keepImplicit(all)

	for _, pl := range all {
		if pl.implicit {
			if !pl.strip {
				t := target(pl.e.Layer)
				p.sets[t] = append(p.sets[t], tarball.Entry{Header: pl.e.Header})
			}
			continue
		}
		if pl.strip {
			p.stripped++
			if pl.e.Header.Typeflag == tar.TypeReg {
				p.strippedBytes += pl.e.Header.Size
			}
			continue
		}
		t := target(pl.e.Layer)
		p.sets[t] = append(p.sets[t], p.content.entryFor(pl.e))
		p.entries[pl.e.Layer]++
	}
	for t, names := range whiteouts {
		for _, name := range slices.Sorted(maps.Keys(names)) {
			p.sets[t] = append(p.sets[t], tarball.Entry{Header: &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644}})
			p.entries[t]++
		}
	}
	return p, nil
}

// keepImplicit leaves an implicit directory in only when the merged view has
// nothing under it: a runtime makes the others itself, but an emptied one would vanish
// with the whiteout that emptied it. (One that --strip empties goes, as stripping
// what it holds means.) all is in walk order, so a directory's entries follow it.
func keepImplicit(all []planned) {
	for i := range all {
		pl := &all[i]
		if !pl.implicit {
			continue
		}
		if i+1 < len(all) && strings.HasPrefix(all[i+1].e.Path, pl.e.Path+"/") {
			pl.strip = true
		}
	}
}

func whiteoutName(p string) string {
	dir, base := path.Split(p)
	return dir + ".wh." + base
}

// settleStrippedLinks gives the content to a hard link whose first name was stripped:
// the first kept name of the lowest layer carries it, the others link to that one.
func settleStrippedLinks(all []planned, byPath map[string]int) {
	groups := map[string][]int{}
	var order []string
	for i, pl := range all {
		h := pl.e.Header
		if pl.strip || h.Typeflag != tar.TypeLink {
			continue
		}
		if j, ok := byPath[h.Linkname]; ok && !all[j].strip {
			continue
		}
		if _, ok := byPath[h.Linkname]; !ok {
			continue // the first name is in a kept base layer
		}
		if _, ok := groups[h.Linkname]; !ok {
			order = append(order, h.Linkname)
		}
		groups[h.Linkname] = append(groups[h.Linkname], i)
	}
	for _, target := range order {
		g := groups[target]
		first := g[0]
		for _, i := range g[1:] {
			if all[i].e.Layer < all[first].e.Layer {
				first = i
			}
		}
		fh := all[first].e.Header
		fh.Typeflag, fh.Linkname = tar.TypeReg, ""
		for _, i := range g {
			if i != first {
				all[i].e.Header.Linkname = all[first].e.Path
			}
		}
	}
}

// entryFor turns a path of the merged view into an entry to pack.
func (c *contentSource) entryFor(e imagefs.LayerEntry) tarball.Entry {
	ent := tarball.Entry{Header: e.Header}
	if e.Header.Typeflag == tar.TypeReg {
		name := e.Path
		ent.Open = func() (io.ReadCloser, error) { return c.open(name) }
	}
	return ent
}

// contentSource reads the content of the files Recompress packs through the merged
// view (the paths have no symlink on the way, so each reaches its very file). The
// view spools every rewritten layer as it indexes it (imagefs.WithSpool), because the
// packer asks for files in its own order (grouped by kind), not in tar order: reading
// from the blobs would decompress a layer again at every step back (measured: 10× the
// work on the Debian-like bench image).
type contentSource struct {
	fsys *imagefs.FS
}

func (c *contentSource) open(name string) (io.ReadCloser, error) {
	f, err := c.fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s from the image: %w", name, err)
	}
	return f, nil
}
