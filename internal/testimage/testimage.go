// Package testimage builds container images from tar entries inside tests, and
// writes them where slim reads images from: OCI layouts, docker archives and an
// in-process registry. Everything is deterministic, so digests are stable
// between runs, and every failure stops the test through t.Fatal.
package testimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/slim-dev/slim/internal/mediatype"
)

// epoch is the modification time of every entry and of the config, so
// digests do not depend on when the test ran.
func epoch() time.Time { return time.Unix(0, 0).UTC() }

// Entry is one tar entry of a layer. A zero Type means a regular file; a zero
// Mode takes the usual default for the type (0644, 0755, 0777).
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink
	Mode     int64
	Uid, Gid int
	Body     []byte
	Linkname string
	Xattrs   map[string]string
}

// File is a regular file; mode is optional (default 0644).
func File(name, body string, mode ...int64) Entry {
	e := Entry{Name: name, Type: tar.TypeReg, Body: []byte(body)}
	if len(mode) > 0 {
		e.Mode = mode[0]
	}
	return e
}

// Dir is a directory with mode 0755.
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir} }

// Symlink is a symbolic link name → target.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Linkname: target}
}

// Hardlink is a hard link name → target (a path in the same or an earlier layer).
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Linkname: target}
}

// Whiteout deletes p from the layers below (".wh.<base>" next to it).
func Whiteout(p string) Entry {
	dir, base := path.Split(strings.TrimSuffix(p, "/"))
	return Entry{Name: dir + ".wh." + base, Type: tar.TypeReg}
}

// Opaque hides the lower contents of dir (".wh..wh..opq" inside it).
func Opaque(dir string) Entry {
	return Entry{Name: path.Join(dir, ".wh..wh..opq"), Type: tar.TypeReg}
}

// Header is the tar header written for e.
func (e Entry) Header() *tar.Header {
	h := &tar.Header{
		Name:     e.Name,
		Typeflag: e.Type,
		Mode:     e.Mode,
		Uid:      e.Uid,
		Gid:      e.Gid,
		Linkname: e.Linkname,
		ModTime:  epoch(),
		Format:   tar.FormatPAX,
	}
	if h.Typeflag == 0 {
		h.Typeflag = tar.TypeReg
	}
	if h.Mode == 0 {
		switch h.Typeflag {
		case tar.TypeDir:
			h.Mode = 0o755
		case tar.TypeSymlink:
			h.Mode = 0o777
		default:
			h.Mode = 0o644
		}
	}
	if h.Typeflag == tar.TypeReg {
		h.Size = int64(len(e.Body))
	}
	for k, v := range e.Xattrs {
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords["SCHILY.xattr."+k] = v
	}
	return h
}

// Compression of the layers an option builds.
type Compression int

const (
	Gzip Compression = iota
	Zstd
	None
)

func (c Compression) String() string {
	return [...]string{"gzip", "zstd", "none"}[c]
}

// Option changes how layers and images are built.
type Option func(*options)

type options struct {
	compression Compression
	docker      bool
	config      []func(*v1.Config)
	os, arch    string
	variant     string
}

func makeOptions(opts []Option) options {
	o := options{compression: Gzip, os: "linux", arch: "amd64"}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithCompression chooses the layer compression (default Gzip).
func WithCompression(c Compression) Option { return func(o *options) { o.compression = c } }

// WithDocker uses Docker media types instead of OCI ones.
func WithDocker() Option { return func(o *options) { o.docker = true } }

// WithConfig edits the image config (Env, Entrypoint, User, ...); repeatable.
func WithConfig(fn func(*v1.Config)) Option {
	return func(o *options) { o.config = append(o.config, fn) }
}

// WithPlatform sets the config's os and architecture; arch may carry a
// variant ("arm/v7").
func WithPlatform(os, arch string) Option {
	return func(o *options) {
		o.os = os
		o.arch, o.variant, _ = strings.Cut(arch, "/")
	}
}

// Tar returns the uncompressed tar stream of entries, in the given order.
func Tar(t testing.TB, entries []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Header()
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing tar header %q: %v", e.Name, err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(e.Body); err != nil {
				t.Fatalf("writing tar body %q: %v", e.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("closing tar: %v", err)
	}
	return buf.Bytes()
}

// Layer builds a layer holding entries in the given order (order matters for
// whiteout and opaque tests).
func Layer(t testing.TB, entries []Entry, opts ...Option) v1.Layer {
	t.Helper()
	o := makeOptions(opts)
	return layerFromTar(t, Tar(t, entries), o)
}

func layerFromTar(t testing.TB, b []byte, o options) v1.Layer {
	t.Helper()
	if o.compression == None {
		mt := types.OCIUncompressedLayer
		if o.docker {
			mt = types.DockerUncompressedLayer
		}
		// tarball layers always compress, static ones keep the bytes as they are.
		return static.NewLayer(b, mt)
	}
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	lopts := []tarball.LayerOption{tarball.WithCompressedCaching}
	switch {
	case o.compression == Zstd && o.docker:
		t.Fatalf("building layer: zstd layers need OCI media types, drop WithDocker")
	case o.compression == Zstd:
		lopts = append(lopts, tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	case o.docker:
		lopts = append(lopts, tarball.WithMediaType(types.DockerLayer))
	default:
		lopts = append(lopts, tarball.WithMediaType(types.OCILayer))
	}
	l, err := tarball.LayerFromOpener(opener, lopts...)
	if err != nil {
		t.Fatalf("building layer: %v", err)
	}
	// tarball layers describe themselves with an empty, non-nil annotations
	// map, which validate.Image reports as differing from the manifest;
	// hiding Descriptor makes ggcr derive the descriptor from the manifest.
	return plainLayer{l}
}

type plainLayer struct{ v1.Layer }

// Image builds an image with one layer per element of layers, a history entry
// per layer, and the config options applied.
func Image(t testing.TB, layers [][]Entry, opts ...Option) v1.Image {
	t.Helper()
	o := makeOptions(opts)
	adds := make([]mutate.Addendum, len(layers))
	for i, entries := range layers {
		adds[i] = mutate.Addendum{
			Layer: layerFromTar(t, Tar(t, entries), o),
			History: v1.History{
				Created:   v1.Time{Time: epoch()},
				CreatedBy: fmt.Sprintf("testimage: layer %d (%d entries)", i, len(entries)),
			},
		}
	}
	return imageFromLayers(t, adds, o)
}

// ImageFromLayers builds an image from ready-made layers (random ones, broken
// ones), with the same config handling as Image.
func ImageFromLayers(t testing.TB, layers []v1.Layer, opts ...Option) v1.Image {
	t.Helper()
	adds := make([]mutate.Addendum, len(layers))
	for i, l := range layers {
		adds[i] = mutate.Addendum{Layer: l, History: v1.History{
			Created:   v1.Time{Time: epoch()},
			CreatedBy: fmt.Sprintf("testimage: layer %d", i),
		}}
	}
	return imageFromLayers(t, adds, makeOptions(opts))
}

func imageFromLayers(t testing.TB, adds []mutate.Addendum, o options) v1.Image {
	t.Helper()
	base := empty.Image
	if !o.docker {
		base = mutate.ConfigMediaType(mutate.MediaType(base, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		t.Fatalf("appending layers: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("reading config: %v", err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: epoch()}
	cf.OS, cf.Architecture, cf.Variant = o.os, o.arch, o.variant
	for _, fn := range o.config {
		fn(&cf.Config)
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("setting config: %v", err)
	}
	return img
}

// Index builds an image index from platform ("linux/arm64/v8") → image. The
// index uses Docker media types when the first image does.
func Index(t testing.TB, images map[string]v1.Image) v1.ImageIndex {
	t.Helper()
	keys := make([]string, 0, len(images))
	for k := range images {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var idx v1.ImageIndex
	for i, k := range keys {
		p, err := v1.ParsePlatform(k)
		if err != nil {
			t.Fatalf("parsing platform %q: %v", k, err)
		}
		img := images[k]
		if i == 0 {
			mt, err := img.MediaType()
			if err != nil {
				t.Fatalf("reading media type: %v", err)
			}
			idx = mediatype.EmptyIndex(mediatype.Of(mt))
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: p},
		})
	}
	return idx
}

// WriteLayout writes an image or index (tagged "latest") as an OCI layout in
// a temporary directory, and returns the directory.
func WriteLayout(t testing.TB, imgOrIndex any) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatalf("creating layout: %v", err)
	}
	tag := layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})
	switch v := imgOrIndex.(type) {
	case v1.Image:
		err = p.AppendImage(v, tag)
	case v1.ImageIndex:
		err = p.AppendIndex(v, tag)
	default:
		t.Fatalf("writing layout: %T is neither an image nor an index", imgOrIndex)
	}
	if err != nil {
		t.Fatalf("writing layout: %v", err)
	}
	return dir
}

// WriteDockerArchive writes img as a `docker save` tarball tagged tag, and
// returns the file name.
func WriteDockerArchive(t testing.TB, img v1.Image, tag string) string {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatalf("parsing tag %q: %v", tag, err)
	}
	file := path.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(file, ref, img); err != nil {
		t.Fatalf("writing docker archive: %v", err)
	}
	return file
}

// Registry starts an in-memory registry for the test and returns its
// host:port. ggcr treats 127.0.0.1 as plain HTTP, so no TLS setup is needed.
func Registry(t testing.TB) string {
	t.Helper()
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// Push uploads an image or index to host/repoTag and returns the full reference;
// opts are ggcr's (remote.WithAuth for a PrivateRegistry).
func Push(t testing.TB, host, repoTag string, imgOrIndex any, opts ...remote.Option) string {
	t.Helper()
	ref, err := name.ParseReference(host + "/" + repoTag)
	if err != nil {
		t.Fatalf("parsing reference %q: %v", repoTag, err)
	}
	switch v := imgOrIndex.(type) {
	case v1.Image:
		err = remote.Write(ref, v, opts...)
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, v, opts...)
	default:
		t.Fatalf("pushing: %T is neither an image nor an index", imgOrIndex)
	}
	if err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	return ref.String()
}

// Validate runs validate.Image on img. ggcr's full layer check only reads
// gzip, so images with zstd or uncompressed layers get the fast check
// (manifest, config and layer existence) instead of a failure.
func Validate(t testing.TB, img v1.Image) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatalf("validating image: reading layers: %v", err)
	}
	var opts []validate.Option
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			t.Fatalf("validating image: reading media type: %v", err)
		}
		if mt != types.OCILayer && mt != types.DockerLayer {
			opts = append(opts, validate.Fast)
			break
		}
	}
	if err := validate.Image(img, opts...); err != nil {
		t.Fatalf("validating image: %v", err)
	}
}

// WasteLayers are two layers whose second wastes the first's bytes in every way an image
// can: etc/config (1000 bytes) overwritten by 3, tmp/junk (300) deleted, the directory
// cache (120+80) deleted, var/log (50 in old) made opaque. The bytes hidden total 1550.
// Tests of slim inspect's figures and of dive's efficiency share it.
func WasteLayers() [][]Entry {
	return [][]Entry{
		{
			Dir("etc"), File("etc/config", strings.Repeat("a", 1000)),
			File("tmp/junk", strings.Repeat("b", 300)),
			File("cache/x", strings.Repeat("c", 120)), File("cache/y", strings.Repeat("d", 80)),
			File("var/log/old", strings.Repeat("e", 50)), File("keep", "kept"),
		},
		{
			File("etc/config", "new"), Whiteout("tmp/junk"), Whiteout("cache"),
			Opaque("var/log"), File("var/log/new", "n"),
		},
	}
}
