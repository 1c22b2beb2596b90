package tarball

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/mediatype"
)

var (
	// ErrNotPrefix is returned when the base given to keep is not the bottom of the image:
	// its layer digests are not the first layer digests of the image.
	ErrNotPrefix = errors.New("base image layers are not a prefix of the image's layers")
	// ErrBadStrip is returned for a strip pattern that is neither a preset nor a valid glob.
	ErrBadStrip = errors.New("invalid strip pattern")
)

// RecompressOption configures Recompress. The layer options of this package
// (WithCompression, WithLevel, WithSourceDateEpoch, WithTempDir, ...) are
// RecompressOptions too and apply to every layer Recompress writes.
type RecompressOption interface {
	applyRecompress(*recompressOptions)
}

// applyRecompress passes a layer option through to the layers Recompress writes.
func (o Option) applyRecompress(r *recompressOptions) { r.layer = append(r.layer, o) }

type recompressFunc func(*recompressOptions)

func (f recompressFunc) applyRecompress(r *recompressOptions) { f(r) }

type recompressOptions struct {
	layer    []Option
	squash   bool
	keepBase int
	strip    []string
}

// WithSquash writes the rewritten layers as one layer holding their merged view.
func WithSquash() RecompressOption {
	return recompressFunc(func(o *recompressOptions) { o.squash = true })
}

// WithKeepBase leaves the first n layers as they are, byte for byte (same digests, so
// registries and clients keep sharing them). BaseLayerCount computes n from a base image.
func WithKeepBase(n int) RecompressOption {
	return recompressFunc(func(o *recompressOptions) { o.keepBase = n })
}

// WithStrip removes from the rewritten layers every path matching one of patterns: a
// preset name (see ParseStrip) or a glob. Stripping changes the merged file system on
// purpose; it is never on by default.
func WithStrip(patterns ...string) RecompressOption {
	return recompressFunc(func(o *recompressOptions) { o.strip = append(o.strip, patterns...) })
}

func makeRecompressOptions(opts []RecompressOption) recompressOptions {
	var o recompressOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyRecompress(&o)
		}
	}
	return o
}

// stripPreset returns the patterns of a named --strip preset. Copyright files stay in
// docs: they are the licence texts that distributing the binaries requires (Debian
// puts them there and nowhere else).
func stripPreset(name string) ([]string, bool) {
	switch name {
	case "docs":
		return []string{
			"usr/share/man/**",
			"usr/share/info/**",
			"usr/share/doc/**",
			"!usr/share/doc/*/copyright",
		}, true
	case "caches":
		return []string{
			"var/lib/apt/lists/**",
			"var/cache/apt/**",
			"root/.cache/pip/**",
			"root/.npm/**",
			"**/__pycache__/**",
		}, true
	}
	return nil, false
}

// ParseStrip parses a --strip value: comma-separated preset names ("docs": man pages,
// info and doc directories but the copyright files; "caches": apt lists and archives,
// pip and npm caches of root, Python bytecode caches) and globs. In a glob "*", "?"
// and "[...]" match within one path component, "**" matches any number of components,
// and a trailing "/**" everything under a directory but the directory itself; a glob
// that matches a directory removes what is under it too. A leading "!" keeps what it
// matches even when another pattern removes it. Paths are taken from the image root,
// with or without a leading "/"; a file named like a preset is written "./docs".
func ParseStrip(s string) ([]string, error) {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if preset, ok := stripPreset(p); ok {
			out = append(out, preset...)
			continue
		}
		if _, err := compileGlob(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("parsing strip %q: no preset or pattern: %w", s, ErrBadStrip)
	}
	return out, nil
}

// glob is one compiled strip pattern.
type glob struct {
	parts []string
	keep  bool
}

func compileGlob(p string) (glob, error) {
	g := glob{}
	raw := p
	if rest, ok := strings.CutPrefix(p, "!"); ok {
		g.keep, p = true, rest
	}
	p = path.Clean("/" + strings.TrimSpace(p))[1:]
	if p == "" {
		return g, fmt.Errorf("parsing strip pattern %q: it names the root: %w", raw, ErrBadStrip)
	}
	for c := range strings.SplitSeq(p, "/") {
		if c != "**" {
			if strings.Contains(c, "**") {
				return g, fmt.Errorf("parsing strip pattern %q: ** must be a whole path component: %w", raw, ErrBadStrip)
			}
			if _, err := path.Match(c, ""); err != nil {
				return g, fmt.Errorf("parsing strip pattern %q: %w: %w", raw, ErrBadStrip, err)
			}
		}
		if c == "**" && len(g.parts) > 0 && g.parts[len(g.parts)-1] == "**" {
			continue // "**/**" is "**", and matching it twice would only cost time
		}
		g.parts = append(g.parts, c)
	}
	return g, nil
}

func (g glob) match(name string) bool {
	return matchParts(g.parts, strings.Split(name, "/"))
}

func matchParts(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			if len(rest) == 0 {
				return len(name) > 0 // a trailing ** keeps the directory itself
			}
			for i := 0; i <= len(name); i++ {
				if matchParts(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// stripper decides which paths the strip patterns remove.
type stripper struct{ globs []glob }

func newStripper(patterns []string) (*stripper, error) {
	s := &stripper{}
	for _, p := range patterns {
		if preset, ok := stripPreset(p); ok {
			for _, pp := range preset {
				g, err := compileGlob(pp)
				if err != nil {
					return nil, err
				}
				s.globs = append(s.globs, g)
			}
			continue
		}
		g, err := compileGlob(p)
		if err != nil {
			return nil, err
		}
		s.globs = append(s.globs, g)
	}
	return s, nil
}

// verdict is +1 when a removing pattern matches name, -1 when a keeping one does.
func (s *stripper) verdict(name string) int {
	v := 0
	for _, g := range s.globs {
		if g.match(name) {
			if g.keep {
				return -1
			}
			v = 1
		}
	}
	return v
}

// RecompressReport says what Recompress did, per input layer and in total. Its JSON
// form is what `slim recompress --report` writes.
type RecompressReport struct {
	Layers []RecompressLayerReport `json:"layers"`
	// LayersRemoved counts input layers that no output layer stands for: emptied, or
	// squashed into another.
	LayersRemoved int `json:"layersRemoved"`
	// Size and UncompressedSize are the sums over the input layers, NewSize and
	// NewUncompressedSize over the output layers.
	Size                int64 `json:"size"`
	NewSize             int64 `json:"newSize"`
	UncompressedSize    int64 `json:"uncompressedSize"`
	NewUncompressedSize int64 `json:"newUncompressedSize"`
	WasteRemoved        int64 `json:"wasteRemoved"`
	EntriesDropped      int   `json:"entriesDropped"`
	// Stripped counts the entries WithStrip removed, StrippedBytes their content.
	Stripped      int   `json:"stripped"`
	StrippedBytes int64 `json:"strippedBytes"`

	layers []*Layer
}

// Close removes the spooled blobs of the layers Recompress wrote. Call it once the
// image has been written out; the image is unreadable afterwards.
func (r *RecompressReport) Close() error {
	var errs []error
	for _, l := range r.layers {
		errs = append(errs, l.Close())
	}
	r.layers = nil
	return errors.Join(errs...)
}

// RecompressLayerReport is one input layer. New* fields describe the output layer that
// stands for it; they are zero when the layer was removed.
type RecompressLayerReport struct {
	Index        int             `json:"index"`
	Digest       v1.Hash         `json:"digest"`
	NewDigest    v1.Hash         `json:"newDigest"`
	MediaType    types.MediaType `json:"mediaType"`
	NewMediaType types.MediaType `json:"newMediaType,omitempty"`
	// Size is the compressed size, UncompressedSize the tar stream's.
	Size                int64 `json:"size"`
	NewSize             int64 `json:"newSize"`
	UncompressedSize    int64 `json:"uncompressedSize"`
	NewUncompressedSize int64 `json:"newUncompressedSize"`
	// WasteRemoved is the content of files a later layer deletes or overwrites (what
	// slim inspect calls wasted) that the layer no longer holds.
	WasteRemoved int64 `json:"wasteRemoved"`
	// EntriesDropped is the number of tar entries the layer lost, whiteouts included.
	EntriesDropped int `json:"entriesDropped"`
	// Kept is true for a base layer left byte-identical; Removed for one that is gone.
	Kept    bool `json:"kept,omitempty"`
	Removed bool `json:"removed,omitempty"`
}

// Recompress writes an image whose merged file system is the input's, minus what it
// never showed: files that a later layer deletes or overwrites are dropped from their
// layer, whiteouts and opaque markers that no longer hide anything are dropped, layers
// left empty are removed (their history entries become empty_layer ones, so history
// and layers still match), and every rewritten layer is written again, deterministically
// and in parallel, with the compression and level of opts. The media types stay in the
// input's family (OCI or Docker), but zstd makes a Docker image OCI.
//
// File content streams from the input's layers, each rewritten layer reading its
// source layers in tar order. The returned layers are spooled to temporary files:
// call the report's Close once the image has been written. On error nothing is
// returned and nothing is left behind.
func Recompress(ctx context.Context, img v1.Image, opts ...RecompressOption) (v1.Image, *RecompressReport, error) {
	o := makeRecompressOptions(opts)
	lo := makeOptions(o.layer...)
	mt, err := img.MediaType()
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: reading manifest media type: %w", err)
	}
	docker := mt == types.DockerManifestSchema2
	if docker && lo.compression == Zstd {
		docker = false // zstd layers exist only in OCI manifests
	}
	family := mediatype.OCI
	if docker {
		family = mediatype.Docker
	}
	layerOpts := append(slices.Clip(o.layer), WithMediaTypes(family))
	lo = makeOptions(layerOpts...)
	if err := lo.validate(); err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	strip, err := newStripper(o.strip)
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	inLayers, err := img.Layers()
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: listing layers: %w", err)
	}
	if o.keepBase < 0 || o.keepBase > len(inLayers) {
		return nil, nil, fmt.Errorf("recompressing: keeping %d base layers of %d: %w", o.keepBase, len(inLayers), ErrBadOption)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: reading config: %w", err)
	}

	fsys, err := imagefs.New(ctx, img, imagefs.WithRewriteInfo(o.keepBase), imagefs.WithLargest(0), imagefs.WithSpool(lo.tempDir))
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	defer fsys.Close()
	idx := fsys.Layers()

	p, err := planRecompress(fsys, len(inLayers), &o, strip)
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	var sets [][]Entry
	var setLayer []int // input layer each set stands for
	for i, set := range p.sets {
		if len(set) > 0 {
			sets = append(sets, set)
			setLayer = append(setLayer, i)
		}
	}
	built, err := NewLayers(ctx, sets, layerOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	rep := &RecompressReport{layers: built, Stripped: p.stripped, StrippedBytes: p.strippedBytes}
	out, err := assemble(img, cf, inLayers, idx, built, setLayer, &o, docker, rep)
	if err != nil {
		rep.Close()
		return nil, nil, fmt.Errorf("recompressing: %w", err)
	}
	for k, i := range setLayer {
		lr := &rep.Layers[i]
		if lr.NewUncompressedSize, err = tarSize(sets[k], &lo); err != nil {
			rep.Close()
			return nil, nil, fmt.Errorf("recompressing: sizing layer %d: %w", i, err)
		}
	}
	for i := range rep.Layers {
		lr := &rep.Layers[i]
		if !lr.Kept {
			lr.EntriesDropped = idx[i].Entries - p.entries[i]
			lr.WasteRemoved = idx[i].Wasted
		} else {
			lr.NewUncompressedSize = lr.UncompressedSize
		}
		rep.Size += lr.Size
		rep.NewSize += lr.NewSize
		rep.UncompressedSize += lr.UncompressedSize
		rep.NewUncompressedSize += lr.NewUncompressedSize
		rep.WasteRemoved += lr.WasteRemoved
		rep.EntriesDropped += lr.EntriesDropped
		if lr.Removed {
			rep.LayersRemoved++
		}
	}
	return out, rep, nil
}

// recompressPlan is the entries of every output layer, indexed by the input layer
// it stands for.
type recompressPlan struct {
	sets          [][]Entry
	entries       []int // entries written per input layer (whiteouts included)
	content       *contentSource
	stripped      int
	strippedBytes int64
}

// planned is one path of the merged view on its way to an output layer.
type planned struct {
	e     imagefs.LayerEntry
	strip bool
}

func planRecompress(fsys *imagefs.FS, n int, o *recompressOptions, strip *stripper) (*recompressPlan, error) {
	p := &recompressPlan{sets: make([][]Entry, n), entries: make([]int, n),
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
		if e.Layer < o.keepBase {
			return nil // kept as it is, or a directory no layer wrote
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
		if all[i].strip {
			continue
		}
		for d := path.Dir(all[i].e.Path); d != "."; d = path.Dir(d) {
			if j, ok := byPath[d]; ok {
				all[j].strip = false
			}
		}
	}
	settleStrippedLinks(all, byPath)

	for _, pl := range all {
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
			p.sets[t] = append(p.sets[t], Entry{Header: &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644}})
			p.entries[t]++
		}
	}
	return p, nil
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
func (c *contentSource) entryFor(e imagefs.LayerEntry) Entry {
	ent := Entry{Header: e.Header}
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

// tarSize is the length of the tar stream of entries, without reading any content:
// headers do not depend on it.
func tarSize(entries []Entry, o *options) (int64, error) {
	zeros := make([]Entry, len(entries))
	for i, e := range entries {
		zeros[i] = e
		if e.Open != nil {
			size := e.Header.Size
			zeros[i].Open = func() (io.ReadCloser, error) {
				return io.NopCloser(io.LimitReader(zeroReader{}, size)), nil
			}
		}
	}
	var n countWriter
	if err := writeTar(&n, zeros, o); err != nil {
		return 0, err
	}
	return int64(n), nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// keptLayer is a base layer kept byte for byte. It answers DiffID from the config
// (asking a layout or archive layer decompresses the whole blob) and, when a Docker
// image turns OCI, the OCI media type of the same bytes.
type keptLayer struct {
	v1.Layer
	diffID    v1.Hash
	mediaType types.MediaType
}

func (l keptLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l keptLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// assemble builds the output image: kept layers as they are, the built ones, the
// input's config with new diff ids and history, the manifest's annotations.
func assemble(img v1.Image, cf *v1.ConfigFile, inLayers []v1.Layer, idx []imagefs.LayerIndex, built []*Layer, setLayer []int, o *recompressOptions, docker bool, rep *RecompressReport) (v1.Image, error) {
	manifest, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	if docker {
		base = mutate.MediaType(empty.Image, types.DockerManifestSchema2)
		base = mutate.ConfigMediaType(base, types.DockerConfigJSON)
	}
	builtFor := map[int]*Layer{}
	for k, i := range setLayer {
		builtFor[i] = built[k]
	}
	var adds []mutate.Addendum
	var diffIDs []v1.Hash
	present := make([]bool, len(inLayers))
	rep.Layers = make([]RecompressLayerReport, len(inLayers))
	for i, l := range inLayers {
		lr := &rep.Layers[i]
		lr.Index, lr.Digest, lr.MediaType = i, idx[i].Digest, idx[i].MediaType
		lr.Size, lr.UncompressedSize = idx[i].Size, idx[i].UncompressedSize
		switch nl := builtFor[i]; {
		case i < o.keepBase:
			kl := keptLayer{Layer: l, diffID: idx[i].DiffID, mediaType: idx[i].MediaType}
			if !docker {
				kl.mediaType = toOCI(kl.mediaType)
			}
			add := mutate.Addendum{Layer: kl, MediaType: kl.mediaType}
			if len(manifest.Layers) > i {
				add.Annotations = manifest.Layers[i].Annotations
				add.URLs = manifest.Layers[i].URLs
			}
			adds = append(adds, add)
			diffIDs = append(diffIDs, idx[i].DiffID)
			present[i] = true
			lr.Kept = true
			lr.NewDigest, lr.NewSize, lr.NewMediaType = lr.Digest, lr.Size, kl.mediaType
		case nl != nil:
			adds = append(adds, mutate.Addendum{Layer: nl})
			diffIDs = append(diffIDs, nl.diffID)
			present[i] = true
			lr.NewDigest, lr.NewSize, lr.NewMediaType = nl.digest, nl.size, nl.mediaType
		default:
			lr.Removed = true
		}
	}
	out, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, fmt.Errorf("assembling image: %w", err)
	}
	ncf := cf.DeepCopy()
	ncf.RootFS.Type = "layers"
	ncf.RootFS.DiffIDs = diffIDs
	ncf.History = rewriteHistory(cf.History, present, o.squash)
	if out, err = mutate.ConfigFile(out, ncf); err != nil {
		return nil, fmt.Errorf("setting config: %w", err)
	}
	if len(manifest.Annotations) > 0 {
		out = mutate.Annotations(out, manifest.Annotations).(v1.Image)
	}
	return out, nil
}

// rewriteHistory marks the history entries of removed layers empty, with a note, so
// the non-empty entries still pair with the layers one to one. History that did not
// pair with the layers to begin with cannot be mapped and is dropped when the layer
// count changes.
func rewriteHistory(in []v1.History, present []bool, squash bool) []v1.History {
	if len(in) == 0 {
		return nil
	}
	nonEmpty := 0
	for _, h := range in {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	removed := 0
	for _, p := range present {
		if !p {
			removed++
		}
	}
	if nonEmpty != len(present) {
		if removed == 0 {
			return in
		}
		return nil
	}
	note := " (emptied by slim recompress)"
	if squash {
		note = " (squashed by slim recompress)"
	}
	out := slices.Clone(in)
	i := 0
	for k := range out {
		if out[k].EmptyLayer {
			continue
		}
		if !present[i] {
			out[k].EmptyLayer = true
			out[k].CreatedBy += note
		}
		i++
	}
	return out
}

// BaseLayerCount returns how many bottom layers img shares with base: all of base's,
// when base's layer digests are the first ones of img, else an error wrapping
// ErrNotPrefix. Recompress then keeps them with WithKeepBase.
func BaseLayerCount(img, base v1.Image) (int, error) {
	il, err := img.Manifest()
	if err != nil {
		return 0, fmt.Errorf("reading image manifest: %w", err)
	}
	bl, err := base.Manifest()
	if err != nil {
		return 0, fmt.Errorf("reading base manifest: %w", err)
	}
	if len(bl.Layers) > len(il.Layers) {
		return 0, fmt.Errorf("comparing layers: the base has %d layers, the image %d: %w", len(bl.Layers), len(il.Layers), ErrNotPrefix)
	}
	for i, l := range bl.Layers {
		if l.Digest != il.Layers[i].Digest {
			return 0, fmt.Errorf("comparing layer %d: the base has %s, the image %s: %w", i, l.Digest, il.Layers[i].Digest, ErrNotPrefix)
		}
	}
	return len(bl.Layers), nil
}

// Annotations naming an image's base (OCI image spec, pre-defined annotation keys).
const (
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
)

// BaseFromAnnotations returns the base image reference img's manifest annotations
// name (for --keep-base auto): name@digest, name, or "" when there is none. The caller
// resolves it and checks it with BaseLayerCount.
func BaseFromAnnotations(img v1.Image) (string, error) {
	m, err := img.Manifest()
	if err != nil {
		return "", fmt.Errorf("reading manifest annotations: %w", err)
	}
	name, digest := m.Annotations[AnnotationBaseName], m.Annotations[AnnotationBaseDigest]
	switch {
	case name == "":
		return "", nil
	case digest != "":
		n, _, _ := strings.Cut(name, "@")
		return n + "@" + digest, nil
	}
	return name, nil
}
