package imageref

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/limits"
	"github.com/slim-dev/slim/internal/mediatype"
)

// How slim reads every image it opens, whatever the transport: the manifest and the
// config are read once, within limits.Manifest and limits.Config, and parsed once; every
// layer answers its digest, size, media type and diff ID from them, so nothing re-reads
// the manifest per layer (ggcr's remote and layout images parse the whole manifest again
// for each of those questions: quadratic in the layer count, minutes for 20,000 layers);
// every blob read is checked against its descriptor's size and digest as it streams; a
// layer of a type no spec defines, and a config whose diff_ids do not pair with the
// layers, are refused before anything is read.

var (
	// ErrCorrupt is wrapped when an image contradicts itself: a blob whose size or
	// digest is not its descriptor's, diff_ids that do not pair with the layers.
	ErrCorrupt = errors.New("corrupt image")
	// ErrUnknownMediaType is wrapped when a layer's media type is no layer type of the
	// OCI or Docker specs.
	ErrUnknownMediaType = errors.New("unknown layer media type")
)

// blobOpener opens a blob of img by its descriptor, unverified: the transport's raw bytes.
type blobOpener func(img v1.Image, d v1.Descriptor) (io.ReadCloser, error)

// layerWrapper lets a transport dress a checked layer (remote makes it mountable).
type layerWrapper func(l v1.Layer, d v1.Descriptor) v1.Layer

type strictImage struct {
	v1.Image // MediaType, and what nothing here answers
	raw      []byte
	digest   v1.Hash
	m        *v1.Manifest
	rawCfg   []byte
	cf       *v1.ConfigFile
	layers   []v1.Layer
	byDigest map[v1.Hash]v1.Layer
	byDiffID map[v1.Hash]v1.Layer
}

// strict reads img's manifest and config and makes its layers. open reads blobs; nil
// takes them from img (docker archives, whose blobs are files in a tar). wrap may be nil.
func strict(img v1.Image, open blobOpener, wrap layerWrapper) (v1.Image, error) {
	if s, ok := img.(*strictImage); ok {
		return s, nil
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	if len(raw) > limits.Manifest {
		return nil, limits.Exceeded("the manifest", int64(len(raw)), limits.Manifest, "bytes")
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest: %w", err)
	}
	if len(m.Layers) > limits.Layers {
		return nil, limits.Exceeded("the image's layer count", int64(len(m.Layers)), limits.Layers, "layers")
	}
	for i, d := range m.Layers {
		if _, ok := mediatype.LayerCompression(d.MediaType); !ok {
			return nil, fmt.Errorf("layer %d (%s) has media type %q, no layer type of the OCI or Docker specs: %w", i, d.Digest, d.MediaType, ErrUnknownMediaType)
		}
	}
	if m.Config.Size > limits.Config {
		return nil, limits.Exceeded("config "+m.Config.Digest.String(), m.Config.Size, limits.Config, "bytes")
	}
	var rawCfg []byte
	if open != nil {
		rc, err := open(img, m.Config)
		if err != nil {
			return nil, fmt.Errorf("reading config %s: %w", m.Config.Digest, err)
		}
		rawCfg, err = io.ReadAll(checked(rc, m.Config, "config"))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("reading config %s: %w", m.Config.Digest, err)
		}
	} else if rawCfg, err = img.RawConfigFile(); err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, fmt.Errorf("parsing config %s: %w", m.Config.Digest, err)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("the config lists %d diff_ids for %d layers: %w", len(cf.RootFS.DiffIDs), len(m.Layers), ErrCorrupt)
	}
	s := &strictImage{Image: img, raw: raw, m: m, rawCfg: rawCfg, cf: cf,
		byDigest: map[v1.Hash]v1.Layer{}, byDiffID: map[v1.Hash]v1.Layer{}}
	s.digest, _, _ = v1.SHA256(bytes.NewReader(raw))
	var under []v1.Layer
	if open == nil {
		// Asked once: ggcr's archive image answers Layers in manifest order.
		if under, err = img.Layers(); err != nil {
			return nil, fmt.Errorf("listing layers: %w", err)
		}
		if len(under) != len(m.Layers) {
			return nil, fmt.Errorf("%d layers for %d descriptors: %w", len(under), len(m.Layers), ErrCorrupt)
		}
	}
	for i, d := range m.Layers {
		sl := &strictLayer{desc: d, diffID: cf.RootFS.DiffIDs[i]}
		if open != nil {
			sl.open = func() (io.ReadCloser, error) { return open(img, d) }
		} else {
			sl.open = under[i].Compressed
		}
		var l v1.Layer
		if l, err = partial.CompressedToLayer(sl); err != nil {
			return nil, err
		}
		if wrap != nil {
			l = wrap(l, d)
		}
		s.layers = append(s.layers, l)
		if _, ok := s.byDigest[d.Digest]; !ok {
			s.byDigest[d.Digest] = l
		}
		if _, ok := s.byDiffID[sl.diffID]; !ok {
			s.byDiffID[sl.diffID] = l
		}
	}
	return s, nil
}

func (s *strictImage) RawManifest() ([]byte, error)        { return s.raw, nil }
func (s *strictImage) Manifest() (*v1.Manifest, error)     { return s.m.DeepCopy(), nil }
func (s *strictImage) RawConfigFile() ([]byte, error)      { return s.rawCfg, nil }
func (s *strictImage) ConfigFile() (*v1.ConfigFile, error) { return s.cf.DeepCopy(), nil }
func (s *strictImage) ConfigName() (v1.Hash, error)        { return s.m.Config.Digest, nil }
func (s *strictImage) Digest() (v1.Hash, error)            { return s.digest, nil }
func (s *strictImage) Size() (int64, error)                { return int64(len(s.raw)), nil }
func (s *strictImage) Layers() ([]v1.Layer, error)         { return append([]v1.Layer(nil), s.layers...), nil }

func (s *strictImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if l, ok := s.byDigest[h]; ok {
		return l, nil
	}
	return s.Image.LayerByDigest(h) // the config, as a layer
}

func (s *strictImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	if l, ok := s.byDiffID[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("no layer with diff id %s", h)
}

// strictLayer answers from its descriptor and reads through checked.
type strictLayer struct {
	desc   v1.Descriptor
	diffID v1.Hash
	open   func() (io.ReadCloser, error)
}

func (l *strictLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *strictLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *strictLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *strictLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *strictLayer) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }

func (l *strictLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.open()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{checked(rc, l.desc, "layer"), rc}, nil
}

// checked reads r as the blob d describes: never more than d.Size bytes, an error
// naming the descriptor when the size or the digest differs.
func checked(r io.Reader, d v1.Descriptor, what string) io.Reader {
	c := &checkedReader{r: r, d: d, what: what}
	if d.Digest.Algorithm == "sha256" {
		c.h = sha256.New()
	}
	return c
}

type checkedReader struct {
	r    io.Reader
	d    v1.Descriptor
	what string
	h    hash.Hash
	n    int64
	err  error
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.h != nil {
		c.h.Write(p[:n])
	}
	switch {
	case c.n > c.d.Size:
		c.err = fmt.Errorf("%s %s is larger than the %d bytes its descriptor says: %w", c.what, c.d.Digest, c.d.Size, ErrCorrupt)
		return 0, c.err
	case err == io.EOF && c.n != c.d.Size:
		c.err = fmt.Errorf("%s %s is %d bytes, its descriptor says %d: %w", c.what, c.d.Digest, c.n, c.d.Size, ErrCorrupt)
		return n, c.err
	case err == io.EOF && c.h != nil && fmt.Sprintf("%x", c.h.Sum(nil)) != c.d.Digest.Hex:
		c.err = fmt.Errorf("%s %s has content of digest sha256:%x: %w", c.what, c.d.Digest, c.h.Sum(nil), ErrCorrupt)
		return n, c.err
	}
	return n, err
}

// strictIndex hands out its children read strictly.
type strictIndex struct {
	idx
	open blobOpener
	wrap layerWrapper
}

// idx names the embedded index, whose method ImageIndex strictIndex overrides.
type idx = v1.ImageIndex

func strictIdx(i v1.ImageIndex, open blobOpener, wrap layerWrapper) v1.ImageIndex {
	if s, ok := i.(*strictIndex); ok {
		return s
	}
	return &strictIndex{idx: i, open: open, wrap: wrap}
}

// child refuses a child whose descriptor is over the limit, before it is read.
func (s *strictIndex) child(h v1.Hash) error {
	im, err := s.idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		if d.Digest == h && d.Size > limits.Manifest {
			return limits.Exceeded("manifest "+h.String(), d.Size, limits.Manifest, "bytes")
		}
	}
	return nil
}

func (s *strictIndex) Image(h v1.Hash) (v1.Image, error) {
	if err := s.child(h); err != nil {
		return nil, err
	}
	img, err := s.idx.Image(h)
	if err != nil {
		return nil, err
	}
	return strict(img, s.open, s.wrap)
}

func (s *strictIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	if err := s.child(h); err != nil {
		return nil, err
	}
	i, err := s.idx.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return strictIdx(i, s.open, s.wrap), nil
}

// limitTransport refuses a manifest or an index response over limits.Manifest before
// reading it whole, by its Content-Length or, without one, as it streams.
type limitTransport struct{ inner http.RoundTripper }

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/manifests/") {
		return resp, err
	}
	what := "the manifest at " + req.URL.Redacted()
	if resp.ContentLength > limits.Manifest {
		resp.Body.Close()
		return nil, limits.Exceeded(what, resp.ContentLength, limits.Manifest, "bytes")
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{&limitReader{r: resp.Body, left: limits.Manifest, what: what}, resp.Body}
	return resp, nil
}

type limitReader struct {
	r    io.Reader
	left int64
	what string
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, fmt.Errorf("%s is over %d bytes, the limit: %w", l.what, limits.Manifest, limits.ErrExceeded)
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, fmt.Errorf("%s is over %d bytes, the limit: %w", l.what, limits.Manifest, limits.ErrExceeded)
	}
	return n, err
}
