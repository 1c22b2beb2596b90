package imageref

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/limits"
)

// A docker archive (`docker save`) is read here rather than through ggcr's tarball
// package, which reads manifest.json and the config whole whatever their size and scans
// the tar from its start for every member it opens (quadratic in the layer count). The
// archive's headers are read once, each member's offset and size kept, and members are
// then opened in place; manifest.json and the config are refused above limits.Manifest
// and limits.Config before they are read. The image built is ggcr's, field for field
// (the same manifest, hence the same digests): the logic follows ggcr's
// pkg/v1/tarball/image.go (Apache-2.0).

// archiveMember is where one member's bytes are in the archive.
type archiveMember struct {
	off, size int64
	typ       byte
	link      string
}

// dockerArchive is an indexed docker archive.
type dockerArchive struct {
	ra      io.ReaderAt
	members map[string]archiveMember // by path.Clean'd name; the last one wins, as in tar
}

// indexArchive reads the headers of the tar in ra (size bytes) in one pass: bodies are
// skipped by seeking, never read.
func indexArchive(ctx context.Context, ra io.ReaderAt, size int64) (*dockerArchive, error) {
	sr := io.NewSectionReader(ra, 0, size)
	tr := tar.NewReader(sr)
	a := &dockerArchive{ra: ra, members: map[string]archiveMember{}}
	for n := 1; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return a, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the archive's tar headers: %w", err)
		}
		if n > limits.EntriesPerLayer {
			return nil, limits.Exceeded("the archive's entry count", int64(n), limits.EntriesPerLayer, "entries")
		}
		// tar.Reader reads headers block by block, no further: the position after
		// Next is the start of the member's data.
		off, err := sr.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		a.members[path.Clean(h.Name)] = archiveMember{off: off, size: h.Size, typ: h.Typeflag, link: h.Linkname}
	}
}

// find returns the member named p, following symbolic and hard links as ggcr does
// (relative to the linking member's directory).
func (a *dockerArchive) find(p string) (archiveMember, error) {
	visited := map[string]bool{}
	for {
		p = path.Clean(p)
		if visited[p] {
			return archiveMember{}, fmt.Errorf("link cycle detected for %s", p)
		}
		visited[p] = true
		m, ok := a.members[p]
		if !ok {
			return archiveMember{}, fmt.Errorf("file %s not found in tar", p)
		}
		if m.typ != tar.TypeSymlink && m.typ != tar.TypeLink {
			return m, nil
		}
		p = path.Join(path.Dir(p), path.Clean(m.link))
	}
}

func (a *dockerArchive) open(p string) (io.ReadCloser, error) {
	m, err := a.find(p)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(io.NewSectionReader(a.ra, m.off, m.size)), nil
}

// readLimited reads member p whole, refusing it from its header when it is over limit.
func (a *dockerArchive) readLimited(p, what string, limit int64) ([]byte, error) {
	m, err := a.find(p)
	if err != nil {
		return nil, err
	}
	if m.size > limit {
		return nil, limits.Exceeded(what, m.size, limit, "bytes")
	}
	b := make([]byte, m.size)
	if _, err := a.ra.ReadAt(b, m.off); err != nil && !(errors.Is(err, io.EOF) && m.size == 0) {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return b, nil
}

// manifest reads manifest.json within limits.Manifest.
func (a *dockerArchive) manifest() (tarball.Manifest, error) {
	b, err := a.readLimited("manifest.json", "the archive's manifest.json", limits.Manifest)
	if err != nil {
		return nil, err
	}
	var m tarball.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parsing manifest.json: %w", err)
	}
	if m == nil {
		return nil, errors.New("no valid manifest.json in tarball")
	}
	return m, nil
}

// findDescriptor picks the image tag names, or the only one.
func findDescriptor(m tarball.Manifest, tag *name.Tag) (*tarball.Descriptor, error) {
	if tag == nil {
		if len(m) != 1 {
			return nil, errors.New("tarball must contain only a single image to be used with tarball.Image")
		}
		return &m[0], nil
	}
	for i := range m {
		for _, s := range m[i].RepoTags {
			t, err := name.NewTag(s)
			if err != nil {
				return nil, err
			}
			if t.Name() == tag.Name() {
				return &m[i], nil
			}
		}
	}
	return nil, fmt.Errorf("tag %s not found in tarball", tag)
}

// image builds the image d describes, as ggcr's tarball.Image does.
func (a *dockerArchive) image(d *tarball.Descriptor) (v1.Image, error) {
	if len(d.Layers) > limits.Layers {
		return nil, limits.Exceeded("the image's layer count", int64(len(d.Layers)), limits.Layers, "layers")
	}
	cfg, err := a.readLimited(d.Config, "config "+d.Config, limits.Config)
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfg))
	if err != nil {
		return nil, fmt.Errorf("parsing config %s: %w", d.Config, err)
	}
	ai := &archiveImage{a: a, d: d, config: cfg, diffIDs: cf.RootFS.DiffIDs}
	if len(d.Layers) == 0 {
		return partial.UncompressedToImage(ai)
	}
	compressed, err := a.compressed(d.Layers[0])
	if err != nil {
		return nil, err
	}
	if compressed {
		return partial.CompressedToImage(&compressedArchiveImage{archiveImage: ai})
	}
	return partial.UncompressedToImage(ai)
}

// strictImage is the image of m that tag names (nil: the only one), read strictly.
func (a *dockerArchive) strictImage(m tarball.Manifest, tag *name.Tag) (v1.Image, error) {
	d, err := findDescriptor(m, tag)
	if err != nil {
		return nil, err
	}
	img, err := a.image(d)
	if err != nil {
		return nil, err
	}
	return strict(img, nil, nil)
}

// compressed says whether member p starts with gzip's or zstd's magic, as ggcr's
// comp.PeekCompression does.
func (a *dockerArchive) compressed(p string) (bool, error) {
	m, err := a.find(p)
	if err != nil {
		return false, err
	}
	var b [4]byte
	n, err := a.ra.ReadAt(b[:min(int64(len(b)), m.size)], m.off)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return bytes.HasPrefix(b[:n], []byte{0x1f, 0x8b}) || bytes.HasPrefix(b[:n], []byte{0x28, 0xb5, 0x2f, 0xfd}), nil
}

// archiveImage is partial.UncompressedImageCore for an archive of uncompressed layers.
type archiveImage struct {
	a       *dockerArchive
	d       *tarball.Descriptor
	config  []byte
	diffIDs []v1.Hash
}

func (i *archiveImage) RawConfigFile() ([]byte, error) { return i.config, nil }

func (i *archiveImage) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }

func (i *archiveImage) LayerByDiffID(h v1.Hash) (partial.UncompressedLayer, error) {
	for idx, diffID := range i.diffIDs {
		if diffID != h {
			continue
		}
		if idx >= len(i.d.Layers) {
			return nil, fmt.Errorf("config has %d rootfs.diff_id(s) but tarball manifest only references %d layer(s); the config may not describe a runnable image", len(i.diffIDs), len(i.d.Layers))
		}
		l := &archiveLayer{a: i.a, path: i.d.Layers[idx], diffID: diffID, mediaType: types.DockerLayer}
		if bd, ok := i.d.LayerSources[h]; ok && bd.MediaType != types.DockerUncompressedLayer && bd.MediaType != types.OCIUncompressedLayer {
			l.mediaType = bd.MediaType
			return &foreignArchiveLayer{archiveLayer: l, desc: bd}, nil
		}
		return l, nil
	}
	return nil, fmt.Errorf("diff id %q not found", h)
}

type archiveLayer struct {
	a         *dockerArchive
	path      string
	diffID    v1.Hash
	mediaType types.MediaType
}

func (l *archiveLayer) DiffID() (v1.Hash, error)                   { return l.diffID, nil }
func (l *archiveLayer) Uncompressed() (io.ReadCloser, error)       { return l.a.open(l.path) }
func (l *archiveLayer) MediaType() (types.MediaType, error)        { return l.mediaType, nil }
func (l *foreignArchiveLayer) Descriptor() (*v1.Descriptor, error) { return &l.desc, nil }

type foreignArchiveLayer struct {
	*archiveLayer
	desc v1.Descriptor
}

// compressedArchiveImage is partial.CompressedImageCore for an archive of compressed layers.
type compressedArchiveImage struct {
	*archiveImage
	mu       sync.Mutex
	manifest *v1.Manifest
}

func (c *compressedArchiveImage) Manifest() (*v1.Manifest, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.manifest != nil {
		return c.manifest, nil
	}
	cfgHash, cfgSize, err := v1.SHA256(bytes.NewReader(c.config))
	if err != nil {
		return nil, err
	}
	m := &v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: cfgSize, Digest: cfgHash},
	}
	for i, p := range c.d.Layers {
		if i >= len(c.diffIDs) {
			return nil, fmt.Errorf("tarball manifest references %d layer(s) but config has %d rootfs.diff_ids; the config may not describe a runnable image (for example, a buildkit cacheconfig)", len(c.d.Layers), len(c.diffIDs))
		}
		if d, ok := c.d.LayerSources[c.diffIDs[i]]; ok {
			m.Layers = append(m.Layers, d)
			continue
		}
		rc, err := c.a.open(p)
		if err != nil {
			return nil, err
		}
		sha, size, err := v1.SHA256(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.DockerLayer, Size: size, Digest: sha})
	}
	c.manifest = m
	return m, nil
}

func (c *compressedArchiveImage) RawManifest() ([]byte, error) { return partial.RawManifest(c) }

func (c *compressedArchiveImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := c.Manifest()
	if err != nil {
		return nil, err
	}
	for i, l := range m.Layers {
		if l.Digest == h {
			return &compressedArchiveLayer{a: c.a, path: c.d.Layers[i], desc: l}, nil
		}
	}
	return nil, fmt.Errorf("blob %v not found", h)
}

type compressedArchiveLayer struct {
	a    *dockerArchive
	path string
	desc v1.Descriptor
}

func (l *compressedArchiveLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *compressedArchiveLayer) Compressed() (io.ReadCloser, error)  { return l.a.open(l.path) }
func (l *compressedArchiveLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *compressedArchiveLayer) Size() (int64, error)                { return l.desc.Size, nil }
