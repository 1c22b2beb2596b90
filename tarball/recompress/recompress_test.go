package recompress

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/mediatype"
	ti "github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// fileDesc is everything the merged file system promises about one path: recompress
// must keep it, byte for byte. Modification times are left out: the layer writer
// clamps them by design.
type fileDesc struct {
	typ        byte // hard links count as regular files; group says who shares content
	mode       int64
	uid, gid   int
	link       string
	xattrs     string
	devs       [2]int64
	size       int64
	sum        [32]byte
	group      string // sorted names sharing this content, for hard links
	hardlinked bool
}

func (d fileDesc) String() string {
	return fmt.Sprintf("type %c mode %o %d:%d link %q xattrs %q size %d sum %x group %q",
		d.typ, d.mode, d.uid, d.gid, d.link, d.xattrs, d.size, d.sum[:4], d.group)
}

func xattrsOf(h *tar.Header) string {
	var out []string
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			out = append(out, k+"="+v)
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// describeFS walks the merged view of img through imagefs.
func describeFS(t testing.TB, img v1.Image) map[string]fileDesc {
	t.Helper()
	f, err := imagefs.New(context.Background(), img)
	if err != nil {
		t.Fatalf("indexing image: %v", err)
	}
	defer f.Close()
	out := map[string]fileDesc{}
	groups := map[string][]string{}
	err = f.Walk(func(p string, h *tar.Header) error {
		d := fileDesc{typ: h.Typeflag, mode: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid, xattrs: xattrsOf(h)}
		switch h.Typeflag {
		case tar.TypeSymlink:
			d.link = h.Linkname
		case tar.TypeChar, tar.TypeBlock:
			d.devs = [2]int64{h.Devmajor, h.Devminor}
		case tar.TypeReg, tar.TypeLink:
			b, err := f.ReadFile(p)
			if err != nil {
				return err
			}
			d.size, d.sum = int64(len(b)), sha256.Sum256(b)
			first := p
			if h.Typeflag == tar.TypeLink {
				first = h.Linkname
				d.hardlinked = true
			}
			groups[first] = append(groups[first], p)
			d.typ = tar.TypeReg
		}
		out[p] = d
		return nil
	})
	if err != nil {
		t.Fatalf("walking merged view: %v", err)
	}
	for first, names := range groups {
		if len(names) < 2 && !out[first].hardlinked {
			continue
		}
		if !slices.Contains(names, first) {
			names = append(names, first)
		}
		slices.Sort(names)
		g := strings.Join(names, " ")
		for _, n := range names {
			d := out[n]
			d.group, d.hardlinked = g, false
			out[n] = d
		}
	}
	return out
}

// describeExtract is the reference view: ggcr's mutate.Extract of img. It agrees with
// imagefs only where mutate.Extract is right (no type changes, no repeated names in a
// layer, explicit parents, no hard links): the property test keeps to that.
func describeExtract(t testing.TB, img v1.Image) map[string]fileDesc {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]fileDesc{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return resolveLinks(out)
		}
		if err != nil {
			t.Fatalf("reading mutate.Extract: %v", err)
		}
		d := fileDesc{typ: h.Typeflag, mode: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid, xattrs: xattrsOf(h)}
		switch h.Typeflag {
		case tar.TypeSymlink:
			d.link = h.Linkname
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			d.size, d.sum = int64(len(b)), sha256.Sum256(b)
		}
		if h.Typeflag == tar.TypeLink {
			d.link = strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")
		}
		out[strings.TrimPrefix(path.Clean("/"+h.Name), "/")] = d
	}
}

// resolveLinks gives hard links of an extracted view their target's content and both
// the group, as describeFS has them.
func resolveLinks(view map[string]fileDesc) map[string]fileDesc {
	groups := map[string][]string{}
	for p, d := range view {
		if d.typ != tar.TypeLink {
			continue
		}
		target := d.link
		for range len(view) { // a link to a link names the same content
			t, ok := view[target]
			if !ok || t.typ != tar.TypeLink {
				break
			}
			target = t.link
		}
		groups[target] = append(groups[target], p)
	}
	for target, names := range groups {
		names = append(names, target)
		slices.Sort(names)
		g := strings.Join(names, " ")
		for _, n := range names {
			d := view[target]
			d.group = g
			if n != target {
				l := view[n]
				d.mode, d.uid, d.gid, d.xattrs = l.mode, l.uid, l.gid, l.xattrs
			}
			view[n] = d
		}
	}
	return view
}

func diffFS(t testing.TB, what string, got, want map[string]fileDesc) {
	t.Helper()
	for _, p := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s missing, want %v", what, p, want[p])
		} else if g != want[p] {
			t.Errorf("%s: %s is\n  %v, want\n  %v", what, p, g, want[p])
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s (%v) should not exist", what, p, got[p])
		}
	}
}

// sized is a file of n pseudo-random (so incompressible) bytes.
func sized(name string, n int, seed int64) ti.Entry {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return ti.Entry{Name: name, Type: tar.TypeReg, Body: b}
}

type layers = [][]ti.Entry

// recompressCases are images built to hit every rule of the rewrite.
// extractOK marks the cases where ggcr's mutate.Extract, the second reference, gets
// the merged view right: it misses hard links whose target is deleted or overwritten
// later, writes through symlinked parents and a directory whited out and made again
// in one layer.
func recompressCases() []struct {
	name      string
	layers    layers
	extractOK bool
} {
	lowerD := []ti.Entry{ti.Dir("d"), sized("d/a", 20000, 1), sized("d/b", 30000, 2), ti.File("x", "3")}
	return []struct {
		name      string
		layers    layers
		extractOK bool
	}{
		{"overwrites", layers{
			{ti.Dir("etc"), sized("etc/big", 50000, 3), ti.File("etc/keep", "k")},
			{sized("etc/big", 40000, 4)},
			{sized("etc/big", 30000, 5), {Name: "etc/keep", Body: []byte("k2"), Mode: 0o600, Uid: 7, Gid: 8}},
		}, true},
		{"deletions", layers{lowerD, {ti.Whiteout("d/a"), ti.Whiteout("x"), ti.Whiteout("nothing")}}, true},
		{"whiteout of a dir", layers{lowerD, {ti.Whiteout("d")}, {ti.File("y", "4")}}, true},
		{"opaque marker first", layers{lowerD, {ti.Opaque("d"), ti.Dir("d"), ti.File("d/n", "5")}}, true},
		{"opaque marker last", layers{lowerD, {ti.Dir("d"), ti.File("d/n", "5"), ti.Opaque("d")}}, true},
		{"opaque over a middle layer", layers{lowerD, {sized("d/m", 10000, 6)}, {ti.Dir("d"), ti.Opaque("d")}, {ti.File("d/n", "8")}}, true},
		{"dir re-created after whiteout", layers{lowerD, {ti.Whiteout("d")}, {ti.Dir("d"), ti.File("d/new", "9")}}, true},
		{"dir re-created in the whiting-out layer", layers{lowerD, {ti.Whiteout("d"), ti.Dir("d"), ti.File("d/new", "9")}}, false},
		{"file replaced by dir and dir by file", layers{
			{sized("p", 10000, 7), ti.Dir("q"), sized("q/x", 10000, 8)},
			{ti.Dir("p"), ti.File("p/x", "2"), sized("q", 5000, 9)},
		}, true},
		{"hardlinks", layers{
			{ti.Dir("bin"), sized("bin/f", 20000, 10), ti.Hardlink("bin/g", "bin/f")},
			{ti.Hardlink("h", "/bin/g"), ti.File("other", "o")},
		}, true},
		{"hardlink target later deleted", layers{
			{ti.Dir("bin"), sized("bin/f", 20000, 11), ti.Hardlink("bin/g", "bin/f"), ti.Hardlink("bin/e", "bin/f")},
			{ti.Hardlink("z", "bin/f")},
			{ti.Whiteout("bin/f")},
		}, false},
		{"hardlink target overwritten", layers{
			{sized("f", 20000, 12)},
			{ti.Hardlink("h", "f")},
			{sized("f", 1000, 13)},
		}, false},
		{"symlinks", layers{
			{ti.Dir("usr"), ti.Dir("usr/lib"), ti.Symlink("lib", "usr/lib"), sized("usr/lib/a.so", 10000, 14)},
			{ti.File("lib/b.so", "b"), ti.Symlink("usr/lib/a.so.1", "a.so"), ti.Symlink("abs", "/usr/lib/b.so")},
			{ti.File("lib/a.so", "new a"), ti.Symlink("abs", "/usr/lib/a.so")},
		}, false},
		{"metadata: modes, owners, xattrs", layers{
			{ti.Dir("app"), {Name: "app/suid", Body: []byte("s"), Mode: 0o4755, Uid: 1, Gid: 2, Xattrs: map[string]string{"security.capability": "\x01\x00\x00\x02"}}},
			{{Name: "app", Type: tar.TypeDir, Mode: 0o700, Uid: 3, Gid: 4, Xattrs: map[string]string{"user.x": "y"}}, sized("app/data", 9000, 15)},
			{{Name: "app/data", Body: []byte("d"), Mode: 0o600, Uid: 5, Gid: 6}},
		}, true},
		// Issue 13, item 5: var/cache has no entry of its own; once the only
		// thing under it is deleted it must stay, as a runtime unpacking the
		// original shows it.
		{"implicit parent emptied by a whiteout", layers{
			{sized("var/cache/apt/pkgcache.bin", 20000, 18), ti.File("var/lib/x", "x")},
			{ti.Whiteout("var/cache/apt")},
		}, false},
		// Issue 13, item 10: names are bytes, as on Linux.
		{"names that are not UTF-8", layers{
			{ti.Dir("d"), sized("d/\xff\xfe-bad-utf8", 3000, 19), ti.Symlink("d/l\xe9", "\xff\xfe-bad-utf8"), ti.File("d/gone\xff", "x")},
			{ti.Whiteout("d/gone\xff"), ti.Hardlink("h\xc3", "d/\xff\xfe-bad-utf8")},
		}, false},
		{"a layer left empty", layers{
			{ti.File("a", "1")},
			{sized("big", 30000, 16), ti.Dir("tmp"), sized("tmp/t", 1000, 17)},
			{ti.Whiteout("big"), ti.Whiteout("tmp")},
			{ti.File("b", "2")},
		}, true},
	}
}

// caseLayers returns the layers of the named recompressCases case.
func caseLayers(name string) layers {
	for _, c := range recompressCases() {
		if c.name == name {
			return c.layers
		}
	}
	panic("no case " + name)
}

// check runs the checks every output must pass: valid, same merged view, no waste.
func checkRecompressed(t *testing.T, in, out v1.Image, rep *Report) {
	t.Helper()
	ti.Validate(t, out)
	diffFS(t, "merged view", describeFS(t, out), describeFS(t, in))

	inIdx, outIdx := layerIndex(t, in), layerIndex(t, out)
	var wasted, inSize, outSize int64
	for _, l := range inIdx {
		wasted += l.Wasted
		inSize += l.UncompressedSize
	}
	for i, l := range outIdx {
		if l.Wasted != 0 {
			t.Errorf("output layer %d wastes %d bytes", i, l.Wasted)
		}
		outSize += l.UncompressedSize
	}
	if wasted > 0 && float64(inSize-outSize) < 0.99*float64(wasted) {
		t.Errorf("uncompressed size went from %d to %d: less than 99%% of the %d wasted bytes removed", inSize, outSize, wasted)
	}
	if rep.WasteRemoved != wasted {
		t.Errorf("report: %d bytes of waste removed, inspect counted %d", rep.WasteRemoved, wasted)
	}
	if rep.NewUncompressedSize != outSize {
		t.Errorf("report: new uncompressed size %d, layers say %d", rep.NewUncompressedSize, outSize)
	}
	checkHistory(t, out)
}

func layerIndex(t testing.TB, img v1.Image) []imagefs.LayerIndex {
	t.Helper()
	f, err := imagefs.New(context.Background(), img)
	if err != nil {
		t.Fatalf("indexing image: %v", err)
	}
	defer f.Close()
	return f.Layers()
}

// checkHistory: the non-empty history entries pair with the layers one to one.
func checkHistory(t testing.TB, img v1.Image) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, h := range cf.History {
		if !h.EmptyLayer {
			n++
		}
	}
	if len(cf.History) > 0 && n != len(cf.RootFS.DiffIDs) {
		t.Errorf("history has %d non-empty entries for %d layers", n, len(cf.RootFS.DiffIDs))
	}
}

func recompress(t *testing.T, img v1.Image, opts ...Option) (v1.Image, *Report) {
	t.Helper()
	opts = append([]Option{WithPacking(tarball.WithTempDir(t.TempDir()))}, opts...)
	out, rep, err := Recompress(context.Background(), img, opts...)
	if err != nil {
		t.Fatalf("recompressing: %v", err)
	}
	t.Cleanup(func() {
		if err := rep.Close(); err != nil {
			t.Errorf("closing report: %v", err)
		}
	})
	return out, rep
}

func TestRecompressKeepsMergedView(t *testing.T) {
	t.Parallel()
	formats := []struct {
		name string
		opts []ti.Option
	}{
		{"gzip oci", nil},
		{"gzip docker", []ti.Option{ti.WithDocker()}},
		{"zstd oci", []ti.Option{ti.WithCompression(ti.Zstd)}},
		{"uncompressed docker", []ti.Option{ti.WithCompression(ti.None), ti.WithDocker()}},
	}
	settings := []struct {
		name string
		opts []Option
	}{
		{"default", nil},
		{"zstd best", []Option{WithPacking(tarball.WithCompression(tarball.Zstd), tarball.WithLevel(tarball.LevelBest))}},
		{"uncompressed", []Option{WithPacking(tarball.WithCompression(tarball.Uncompressed))}},
		{"squash gzip 9", []Option{WithSquash(), WithPacking(tarball.WithLevel(9))}},
	}
	for _, tc := range recompressCases() {
		for _, f := range formats {
			for _, s := range settings {
				t.Run(tc.name+"/"+f.name+"/"+s.name, func(t *testing.T) {
					t.Parallel()
					in := ti.Image(t, tc.layers, f.opts...)
					out, rep := recompress(t, in, s.opts...)
					checkRecompressed(t, in, out, rep)
					if tc.extractOK {
						diffFS(t, "mutate.Extract", describeFS(t, out), describeExtract(t, in))
					}
					checkMediaTypes(t, in, out, s.opts)
					layers, err := out.Layers()
					if err != nil {
						t.Fatal(err)
					}
					if strings.HasPrefix(s.name, "squash") && len(layers) != 1 {
						t.Errorf("squash gave %d layers", len(layers))
					}
					if got, want := len(layers), len(tc.layers)-rep.LayersRemoved; got != want {
						t.Errorf("%d layers, report says %d of %d removed", got, rep.LayersRemoved, len(tc.layers))
					}
				})
			}
		}
	}
}

// checkMediaTypes: one family per manifest, the input's unless zstd made it OCI.
func checkMediaTypes(t *testing.T, in, out v1.Image, opts []Option) {
	t.Helper()
	inMT, _ := in.MediaType()
	outMT, _ := out.MediaType()
	o := makeOptions(opts)
	want := inMT
	if tarball.Resolve(o.packing...).Compression == tarball.Zstd {
		want = types.OCIManifestSchema1
	}
	if outMT != want {
		t.Errorf("manifest media type %s, want %s", outMT, want)
	}
	m, err := out.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	docker := outMT == types.DockerManifestSchema2
	if docker != (m.Config.MediaType == types.DockerConfigJSON) {
		t.Errorf("config media type %s in a %s manifest", m.Config.MediaType, outMT)
	}
	for i, l := range m.Layers {
		if docker != strings.Contains(string(l.MediaType), "docker") {
			t.Errorf("layer %d media type %s in a %s manifest", i, l.MediaType, outMT)
		}
	}
}

func TestRecompressHistory(t *testing.T) {
	t.Parallel()
	in := ti.Image(t, layers{
		{ti.File("a", "1")},
		{sized("big", 30000, 16)},
		{ti.Whiteout("big")},
		{ti.File("b", "2")},
	})
	out, rep := recompress(t, in)
	checkRecompressed(t, in, out, rep)
	cf, err := out.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	// Layer 1 only held what layer 2 deletes, and layer 2 only that whiteout.
	if rep.LayersRemoved != 2 || len(cf.RootFS.DiffIDs) != 2 {
		t.Fatalf("removed %d layers, %d left", rep.LayersRemoved, len(cf.RootFS.DiffIDs))
	}
	var got []string
	for _, h := range cf.History {
		got = append(got, fmt.Sprintf("%v %s", h.EmptyLayer, h.CreatedBy))
	}
	want := []string{
		"false testimage: layer 0 (1 entries)",
		"true testimage: layer 1 (1 entries) (emptied by slim recompress)",
		"true testimage: layer 2 (1 entries) (emptied by slim recompress)",
		"false testimage: layer 3 (1 entries)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("history:\n got %q\nwant %q", got, want)
	}
	if !rep.Layers[1].Removed || !rep.Layers[2].Removed || rep.Layers[1].NewSize != 0 || rep.Layers[1].WasteRemoved != 30000 {
		t.Errorf("report layers: %+v", rep.Layers)
	}
	if rep.Layers[0].NewMediaType != types.OCILayer || rep.LayersRemoved != 2 || rep.WasteRemoved != 30000 {
		t.Errorf("report: %+v", rep)
	}
	js, err := json.Marshal(rep)
	if err != nil || !bytes.Contains(js, []byte(`"wasteRemoved":30000`)) || !bytes.Contains(js, []byte(`"newDigest":"sha256:`)) {
		t.Errorf("report as JSON: %s, %v", js, err)
	}
}

func TestRecompressProperty(t *testing.T) {
	t.Parallel()
	compressions := []ti.Compression{ti.Gzip, ti.Zstd, ti.None}
	for seed := range int64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewSource(seed))
			links := seed%2 == 1
			// Names that change type and hard links only with links: compared
			// with imagefs only, mutate.Extract gets them wrong.
			ls := ti.RandomLayers(r, ti.RandomOwners(), ti.RandomHardlinks(links))
			var opts []ti.Option
			if c := compressions[seed%3]; c != ti.Zstd && r.Intn(2) == 0 {
				opts = append(opts, ti.WithDocker(), ti.WithCompression(c))
			} else {
				opts = append(opts, ti.WithCompression(c))
			}
			in := ti.Image(t, ls, opts...)
			var ropts []Option
			if r.Intn(3) == 0 {
				ropts = append(ropts, WithPacking(tarball.WithCompression(tarball.Zstd)))
			}
			if r.Intn(4) == 0 {
				ropts = append(ropts, WithSquash())
			}
			keep := 0
			if r.Intn(2) == 0 {
				keep = r.Intn(len(ls) + 1)
				ropts = append(ropts, WithKeepBaseLayers(keep))
			}
			out, rep := recompress(t, in, ropts...)
			ti.Validate(t, out)
			got := describeFS(t, out)
			diffFS(t, "imagefs", got, describeFS(t, in))
			if !links {
				diffFS(t, "mutate.Extract", got, describeExtract(t, in))
			}
			checkHistory(t, out)
			outIdx := layerIndex(t, out)
			for i, l := range outIdx {
				if i >= keep && l.Wasted != 0 {
					t.Errorf("output layer %d wastes %d bytes", i, l.Wasted)
				}
			}
			checkKeptDigests(t, in, out, keep)
			if t.Failed() {
				t.Logf("options: keep %d, %d options; removed %d layers", keep, len(ropts), rep.LayersRemoved)
				for i, l := range ls {
					var names []string
					for _, e := range l {
						names = append(names, fmt.Sprintf("%s(%c)", e.Name, e.Header().Typeflag))
					}
					t.Logf("layer %d: %v", i, names)
				}
			}
		})
	}
}

func checkKeptDigests(t *testing.T, in, out v1.Image, n int) {
	t.Helper()
	im, err := in.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	om, err := out.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(om.Layers) < n {
		t.Fatalf("%d output layers, %d kept", len(om.Layers), n)
	}
	for i := range n {
		if om.Layers[i].Digest != im.Layers[i].Digest {
			t.Errorf("kept layer %d: digest %s, was %s", i, om.Layers[i].Digest, im.Layers[i].Digest)
		}
	}
}

func TestRecompressKeepBase(t *testing.T) {
	t.Parallel()
	baseLayers := layers{
		{ti.Dir("etc"), ti.File("etc/os", "debian"), ti.Dir("usr"), ti.Dir("usr/lib"), sized("usr/lib/libc.so", 20000, 20), ti.Symlink("lib", "usr/lib")},
		{ti.Dir("var"), ti.Dir("var/cache"), sized("var/cache/x", 5000, 21), ti.Dir("opt"), ti.File("opt/o", "o"), ti.File("f", "base f"), ti.Dir("dd"), ti.File("dd/old", "old")},
	}
	top := layers{
		// Replaces base files and dirs; the replacements die later, so the rewrite
		// has to keep what hid the base.
		{ti.Whiteout("etc/os"), sized("f", 3000, 22), ti.File("dd", "dd is a file now"), ti.File("lib/new.so", "n")},
		{ti.Opaque("var/cache"), ti.File("var/cache/y", "y"), ti.Whiteout("f")},
		{ti.Dir("dd"), ti.File("dd/new", "new"), ti.Whiteout("opt")},
	}
	base := ti.Image(t, baseLayers)
	img := ti.Image(t, slices.Concat(baseLayers, top))
	n, err := BaseLayerCount(img, base)
	if err != nil || n != 2 {
		t.Fatalf("BaseLayerCount = %d, %v", n, err)
	}
	for _, squash := range []bool{false, true} {
		t.Run(fmt.Sprint("squash=", squash), func(t *testing.T) {
			t.Parallel()
			opts := []Option{WithKeepBaseLayers(n)}
			if squash {
				opts = append(opts, WithSquash())
			}
			out, rep := recompress(t, img, opts...)
			ti.Validate(t, out)
			diffFS(t, "merged view", describeFS(t, out), describeFS(t, img))
			checkKeptDigests(t, img, out, n)
			checkHistory(t, out)
			if !rep.Layers[0].Kept || !rep.Layers[1].Kept || rep.Layers[2].Kept {
				t.Errorf("kept flags: %+v", rep.Layers)
			}
			if m, err := BaseLayerCount(out, base); err != nil || m != 2 {
				t.Errorf("the output is no longer on its base: %d, %v", m, err)
			}
		})
	}

	other := ti.Image(t, layers{{ti.File("other", "x")}})
	if _, err := BaseLayerCount(img, other); !errors.Is(err, ErrNotPrefix) {
		t.Errorf("BaseLayerCount(other) = %v, want ErrNotPrefix", err)
	}
	if _, err := BaseLayerCount(base, img); !errors.Is(err, ErrNotPrefix) {
		t.Errorf("BaseLayerCount(base, bigger) = %v, want ErrNotPrefix", err)
	}
}

func TestBaseFromAnnotations(t *testing.T) {
	t.Parallel()
	img := ti.Image(t, layers{{ti.File("a", "1")}})
	if got, err := BaseFromAnnotations(img); err != nil || got != "" {
		t.Errorf("no annotations: %q, %v", got, err)
	}
	want := "docker.io/library/debian:12@sha256:" + strings.Repeat("a", 64)
	base := mediatype.NewBaseAnnotations("docker.io/library/debian:12", "sha256:"+strings.Repeat("a", 64))
	ann := mutate.Annotations(img, base).(v1.Image)
	if got, err := BaseFromAnnotations(ann); err != nil || got != want {
		t.Errorf("annotations: %q, %v", got, err)
	}
	// A Docker-typed image has no manifest annotations: its base is in the labels.
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Labels = base
	labelled, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := BaseFromAnnotations(labelled); err != nil || got != want {
		t.Errorf("labels: %q, %v", got, err)
	}
}

func TestRecompressStrip(t *testing.T) {
	t.Parallel()
	img := ti.Image(t, layers{
		{
			ti.Dir("usr"), ti.Dir("usr/share"), ti.Dir("usr/share/man"), ti.Dir("usr/share/man/man1"), ti.File("usr/share/man/man1/ls.1.gz", "man"),
			ti.Dir("usr/share/doc"), ti.Dir("usr/share/doc/bash"), ti.File("usr/share/doc/bash/copyright", "GPL"), ti.File("usr/share/doc/bash/README", "readme"),
			ti.File("usr/share/info/bash.info", "info"), ti.Dir("usr/share/locale"), ti.File("usr/share/locale/x.mo", "mo"),
			ti.Dir("usr/bin"), ti.File("usr/bin/bash", "elf"),
		},
		{
			ti.File("var/lib/apt/lists/deb_InRelease", "lists"), ti.File("var/lib/apt/extended_states", "states"),
			ti.File("var/cache/apt/pkgcache.bin", "cache"), ti.File("root/.cache/pip/wheel", "w"), ti.File("root/.npm/_cacache/x", "n"),
			ti.File("app/pkg/__pycache__/m.cpython-312.pyc", "pyc"), ti.File("app/pkg/m.py", "py"),
			ti.File("usr/share/doc/bash/NEWS", "news"), ti.Hardlink("app/readme", "usr/share/doc/bash/README"),
			ti.File("usr/lib/debug/x.debug", "dbg"),
		},
	})
	tests := []struct {
		name  string
		strip []string
		// stripped are the entries the patterns remove; vanished the directories no
		// layer has an entry for, which go when nothing is left under them.
		stripped, vanished []string
	}{
		{"docs", []string{"docs"}, []string{
			"usr/share/man/man1", "usr/share/man/man1/ls.1.gz", "usr/share/doc/bash/README", "usr/share/doc/bash/NEWS",
			"usr/share/info/bash.info",
		}, []string{"usr/share/info"}},
		{"caches", []string{"caches"}, []string{
			"var/lib/apt/lists/deb_InRelease", "var/cache/apt/pkgcache.bin", "root/.cache/pip/wheel",
			"root/.npm/_cacache/x", "app/pkg/__pycache__/m.cpython-312.pyc",
		}, []string{
			"var/lib/apt/lists", "var/cache/apt", "var/cache", "root/.cache/pip", "root/.cache", "root/.npm/_cacache",
			"root/.npm", "root", "app/pkg/__pycache__",
		}},
		{"globs", []string{"/usr/lib/debug", "**/*.mo"}, []string{"usr/lib/debug/x.debug", "usr/share/locale/x.mo"},
			[]string{"usr/lib/debug", "usr/lib"}},
	}
	full := describeFS(t, img)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, rep := recompress(t, img, WithStrip(tt.strip...))
			ti.Validate(t, out)
			want := maps.Clone(full)
			for _, p := range slices.Concat(tt.stripped, tt.vanished) {
				if _, ok := want[p]; !ok {
					t.Fatalf("test bug: %s is not in the image", p)
				}
				delete(want, p)
			}
			if tt.name == "docs" {
				// app/readme was a hard link to a stripped file: it carries the
				// content now, on its own.
				d := want["app/readme"]
				d.group = ""
				want["app/readme"] = d
			}
			diffFS(t, "stripped view", describeFS(t, out), want)
			if rep.Stripped != len(tt.stripped) {
				t.Errorf("report: %d stripped, want %d", rep.Stripped, len(tt.stripped))
			}
		})
	}
}

func mustPreset(name string) []string {
	p, ok := stripPreset(name)
	if !ok {
		panic("no preset " + name)
	}
	return p
}

func TestParseStrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr error
	}{
		{"docs", mustPreset("docs"), nil},
		{"caches, /opt/**", append(mustPreset("caches"), "/opt/**"), nil},
		{"**/*.a", []string{"**/*.a"}, nil},
		{"", nil, ErrBadStrip},
		{"/", nil, ErrBadStrip},
		{"a/[", nil, ErrBadStrip},
		{"a**b", nil, ErrBadStrip},
	}
	for _, tt := range tests {
		got, err := ParseStrip(tt.in)
		if !errors.Is(err, tt.wantErr) || !slices.Equal(got, tt.want) {
			t.Errorf("ParseStrip(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRecompressDeterministic(t *testing.T) {
	t.Parallel()
	for _, opts := range [][]Option{nil, {WithPacking(tarball.WithCompression(tarball.Zstd), tarball.WithLevel(tarball.LevelBest))}, {WithSquash()}} {
		var digests []v1.Hash
		for range 2 {
			// Built twice from scratch: nothing may depend on the run.
			img := ti.Image(t, caseLayers("hardlink target later deleted"))
			out, _ := recompress(t, img, opts...)
			d, err := out.Digest()
			if err != nil {
				t.Fatal(err)
			}
			digests = append(digests, d)
		}
		if digests[0] != digests[1] {
			t.Errorf("two runs gave %s and %s", digests[0], digests[1])
		}
	}
}

// corruptLayer serves other bytes than its digest says.
type corruptLayer struct{ v1.Layer }

func (c corruptLayer) Compressed() (io.ReadCloser, error) {
	rc, err := c.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	b[len(b)/2] ^= 0xff
	return io.NopCloser(bytes.NewReader(b)), nil
}

func TestRecompressBadInput(t *testing.T) {
	t.Parallel()
	img := ti.Image(t, layers{{ti.File("a", "1")}, {ti.File("b", "2")}})
	good := ti.Layer(t, []ti.Entry{ti.File("a", "1")})
	bad := ti.Layer(t, []ti.Entry{sized("b", 10000, 30)})
	corrupt := ti.ImageFromLayers(t, []v1.Layer{good, corruptLayer{bad}})
	badDigest, _ := bad.Digest()
	truncated := ti.ImageFromLayers(t, []v1.Layer{good, static.NewLayer([]byte("\x1f\x8bnot gzip"), types.OCILayer)})
	tests := []struct {
		name    string
		img     v1.Image
		opts    []Option
		wantErr error
		mention string
	}{
		{"unknown compression", img, []Option{WithPacking(tarball.WithCompression("lz4"))}, tarball.ErrBadCompression, ""},
		{"gzip level out of range", img, []Option{WithPacking(tarball.WithLevel(12))}, tarball.ErrBadLevel, ""},
		{"level for uncompressed", img, []Option{WithPacking(tarball.WithCompression(tarball.Uncompressed), tarball.WithLevel(3))}, tarball.ErrBadLevel, ""},
		{"keep more layers than there are", img, []Option{WithKeepBaseLayers(3)}, ErrBadOption, ""},
		{"bad strip glob", img, []Option{WithStrip("a/[")}, ErrBadStrip, ""},
		{"corrupt layer", corrupt, nil, imagefs.ErrDigestMismatch, "layer 1 (" + badDigest.String()},
		{"undecodable layer", truncated, nil, imagefs.ErrCorruptLayer, "layer 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out, rep, err := Recompress(context.Background(), tt.img, append(tt.opts, WithPacking(tarball.WithTempDir(dir)))...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
			if out != nil || rep != nil {
				t.Errorf("got an image or a report with the error")
			}
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// countingLayer counts how often its blob is opened: each opening is one more pass of
// decompression.
type countingLayer struct {
	v1.Layer
	opened *atomic.Int32
}

func (c countingLayer) Compressed() (io.ReadCloser, error) {
	c.opened.Add(1)
	return c.Layer.Compressed()
}

// TestRecompressReadsLayersOnce: indexing is one pass over each layer and packing
// another, whether the layer's tar is in path order or not (then its files are
// spooled in tar order first).
func TestRecompressReadsLayersOnce(t *testing.T) {
	t.Parallel()
	var entries []ti.Entry
	for i := range 200 {
		entries = append(entries, sized(fmt.Sprintf("f%03d", i), 2000, int64(i)))
	}
	reversed := slices.Clone(entries)
	slices.Reverse(reversed)
	for _, tt := range []struct {
		name    string
		entries []ti.Entry
	}{{"path order", entries}, {"reverse order", reversed}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opened atomic.Int32
			l := countingLayer{ti.Layer(t, tt.entries), &opened}
			top := ti.Layer(t, []ti.Entry{ti.Whiteout("f100")})
			img := ti.ImageFromLayers(t, []v1.Layer{l, top})
			out, rep := recompress(t, img)
			if n := opened.Load(); n > 2 {
				t.Errorf("layer 0 opened %d times, want at most 2", n)
			}
			checkRecompressed(t, img, out, rep)
		})
	}
}

func TestRecompressCancelled(t *testing.T) {
	t.Parallel()
	img := ti.Image(t, caseLayers("overwrites"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	out, rep, err := Recompress(ctx, img, WithPacking(tarball.WithTempDir(dir)))
	if !errors.Is(err, context.Canceled) || out != nil || rep != nil {
		t.Fatalf("Recompress(cancelled) = %v, %v, %v", out, rep, err)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// FuzzParseStrip: any --strip value parses or fails with ErrBadStrip, and what parses
// matches any path without panicking.
func FuzzParseStrip(f *testing.F) {
	for _, s := range []string{"docs", "caches,/opt/**", "**/*.pyc", "!a/[b-c]/**", "a/[", "**x", ","} {
		f.Add(s, "usr/share/doc/bash/copyright")
	}
	f.Fuzz(func(t *testing.T, s, name string) {
		patterns, err := ParseStrip(s)
		if err != nil {
			if !errors.Is(err, ErrBadStrip) {
				t.Fatalf("ParseStrip(%q): %v does not wrap ErrBadStrip", s, err)
			}
			return
		}
		st, err := newStripper(patterns)
		if err != nil {
			t.Fatalf("parsed patterns %q do not compile: %v", patterns, err)
		}
		st.verdict(name)
	})
}

// TestRecompressSources reads the input where slim reads images from: an OCI layout
// and a registry (in process). Their layers re-open blobs on every read.
func TestRecompressSources(t *testing.T) {
	t.Parallel()
	img := ti.Image(t, caseLayers("hardlink target later deleted"), ti.WithDocker())
	lp, err := layout.ImageIndexFromPath(ti.WriteLayout(t, img))
	if err != nil {
		t.Fatal(err)
	}
	im, err := lp.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	fromLayout, err := lp.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(ti.Push(t, ti.Registry(t), "waste:latest", img))
	if err != nil {
		t.Fatal(err)
	}
	fromRegistry, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	for src, in := range map[string]v1.Image{"layout": fromLayout, "registry": fromRegistry} {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			out, rep := recompress(t, in, WithKeepBaseLayers(1), WithPacking(tarball.WithCompression(tarball.Zstd)))
			checkRecompressed(t, in, out, rep)
			checkKeptDigests(t, in, out, 1)
		})
	}
}

// TestRecompressReadByTools: the reference zstd decompresses every layer written to
// the diff id in the config, and skopeo copies the image (checking every digest).
func TestRecompressReadByTools(t *testing.T) {
	t.Parallel()
	zstdCLI, skopeo := ti.NeedTool(t, "zstd"), ti.NeedTool(t, "skopeo")
	in := ti.Image(t, caseLayers("hardlink target later deleted"), ti.WithDocker())
	out, _ := recompress(t, in, WithPacking(tarball.WithCompression(tarball.Zstd), tarball.WithLevel(tarball.LevelBest)))
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(out, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})); err != nil {
		t.Fatal(err)
	}
	layers, err := out.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		d, _ := l.Digest()
		diffID, _ := l.DiffID()
		cmd := exec.Command(zstdCLI, "-d", "-c", filepath.Join(dir, "blobs", d.Algorithm, d.Hex))
		raw, err := cmd.Output()
		if err != nil {
			t.Fatalf("zstd -d layer %d: %v", i, err)
		}
		if got := fmt.Sprintf("sha256:%x", sha256.Sum256(raw)); got != diffID.String() {
			t.Errorf("layer %d decompresses to %s, diff id %s", i, got, diffID)
		}
	}
	dst := t.TempDir()
	if b, err := exec.Command(skopeo, "copy", "--quiet", "oci:"+dir+":latest", "oci:"+dst+":latest").CombinedOutput(); err != nil {
		t.Errorf("skopeo copy: %v\n%s", err, b)
	}
}
