package output

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/ctxio"
	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/internal/tempfile"
)

// The annotations that name a manifest in index.json: the OCI one holds the tag, which
// is what `skopeo oci:DIR:TAG` and `umoci --image DIR:TAG` match; the containerd one holds
// the full name, which `ctr import` and BuildKit's oci exporter use.
const (
	annotationRefName       = "org.opencontainers.image.ref.name"
	annotationContainerName = "io.containerd.image.name"
)

// layoutAnnotations gives one index.json entry per name; no names, one plain entry.
func layoutAnnotations(names []string) ([]map[string]string, error) {
	if len(names) == 0 {
		return []map[string]string{nil}, nil
	}
	var out []map[string]string
	for _, n := range names {
		ref, err := name.ParseReference(n)
		if err != nil {
			return nil, fmt.Errorf("parsing name %q: %v: %w", n, err, ErrBadOutput)
		}
		tag, ok := ref.(name.Tag)
		if !ok {
			return nil, fmt.Errorf("parsing name %q: a digest cannot name a layout entry; give NAME:TAG: %w", n, ErrBadOutput)
		}
		full := tag.Name()
		if tag.RegistryStr() == name.DefaultRegistry {
			// containerd and BuildKit spell Docker Hub names docker.io/library/app:tag.
			full = "docker.io/" + tag.RepositoryStr() + ":" + tag.TagStr()
		}
		out = append(out, map[string]string{
			annotationRefName:       tag.TagStr(),
			annotationContainerName: full,
		})
	}
	return out, nil
}

// layoutBlob is one file under blobs/: bytes already in memory (manifests, configs) or
// a layer, streamed when written.
type layoutBlob struct {
	digest v1.Hash
	size   int64
	raw    []byte
	layer  v1.Layer
}

// layoutContents is everything an OCI layout of s holds, known before a byte of layer
// content is read: the sorted blobs and index.json.
type layoutContents struct {
	blobs []layoutBlob
	index []byte
	// entries are index.json's descriptors: top under each name.
	entries []v1.Descriptor
	// top is the manifest index.json points at.
	top v1.Descriptor
}

func collectLayout(s subject, annotations []map[string]string) (*layoutContents, error) {
	byDigest := map[v1.Hash]layoutBlob{}
	var (
		top v1.Descriptor
		err error
	)
	if s.img != nil {
		top, err = collectImage(s.img, byDigest)
	} else {
		top, err = collectIndex(s.idx, byDigest)
	}
	if err != nil {
		return nil, err
	}
	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for _, a := range annotations {
		d := top
		d.Annotations = a
		index.Manifests = append(index.Manifests, d)
	}
	ib, err := json.Marshal(index)
	if err != nil {
		return nil, fmt.Errorf("encoding index.json: %w", err)
	}
	c := &layoutContents{index: ib, entries: index.Manifests, top: top}
	for _, b := range byDigest {
		c.blobs = append(c.blobs, b)
	}
	slices.SortFunc(c.blobs, func(a, b layoutBlob) int { return strings.Compare(a.digest.String(), b.digest.String()) })
	return c, nil
}

func addRaw(byDigest map[v1.Hash]layoutBlob, raw []byte) v1.Hash {
	h, _, _ := v1.SHA256(bytes.NewReader(raw)) // reading memory does not fail
	byDigest[h] = layoutBlob{digest: h, size: int64(len(raw)), raw: raw}
	return h
}

// collectImage adds img's blobs and returns the descriptor of its (possibly converted)
// manifest.
func collectImage(img v1.Image, byDigest map[v1.Hash]layoutBlob) (v1.Descriptor, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading manifest: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading manifest: %w", err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading config: %w", err)
	}
	addRaw(byDigest, cfg)
	for _, d := range m.Layers {
		if _, ok := byDigest[d.Digest]; ok {
			continue
		}
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("reading layer %s: %w", d.Digest, err)
		}
		byDigest[d.Digest] = layoutBlob{digest: d.Digest, size: d.Size, layer: l}
	}
	mt := m.MediaType
	if mt == "" {
		if mt, err = img.MediaType(); err != nil {
			return v1.Descriptor{}, fmt.Errorf("reading media type: %w", err)
		}
	}
	if mediatype.ToOCI(mt) != mt {
		c := m.DeepCopy()
		c.MediaType = mediatype.ToOCI(mt)
		c.Config.MediaType = mediatype.ToOCI(c.Config.MediaType)
		for i := range c.Layers {
			c.Layers[i].MediaType = mediatype.ToOCI(c.Layers[i].MediaType)
		}
		if raw, err = json.Marshal(c); err != nil {
			return v1.Descriptor{}, fmt.Errorf("encoding manifest: %w", err)
		}
		mt = c.MediaType
	}
	h := addRaw(byDigest, raw)
	return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: h}, nil
}

func collectIndex(idx v1.ImageIndex, byDigest map[v1.Hash]layoutBlob) (v1.Descriptor, error) {
	raw, err := idx.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading index: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading index: %w", err)
	}
	mt := im.MediaType
	if mt == "" {
		if mt, err = idx.MediaType(); err != nil {
			return v1.Descriptor{}, fmt.Errorf("reading media type: %w", err)
		}
	}
	changed := mediatype.ToOCI(mt) != mt
	children := slices.Clone(im.Manifests)
	for i, d := range im.Manifests {
		var child v1.Descriptor
		switch {
		case d.MediaType.IsIndex():
			ci, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return v1.Descriptor{}, fmt.Errorf("reading index %s: %w", d.Digest, err)
			}
			if child, err = collectIndex(ci, byDigest); err != nil {
				return v1.Descriptor{}, err
			}
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return v1.Descriptor{}, fmt.Errorf("reading image %s: %w", d.Digest, err)
			}
			if child, err = collectImage(img, byDigest); err != nil {
				return v1.Descriptor{}, fmt.Errorf("reading image %s: %w", d.Digest, err)
			}
		default:
			return v1.Descriptor{}, fmt.Errorf("reading index: manifest %s has media type %s, which slim cannot copy: %w", d.Digest, d.MediaType, ErrUnsupportedOutput)
		}
		if child.Digest != d.Digest {
			changed = true
			children[i].Digest, children[i].Size, children[i].MediaType = child.Digest, child.Size, child.MediaType
		}
	}
	if changed {
		c := im.DeepCopy()
		c.MediaType = mediatype.ToOCI(mt)
		c.Manifests = children
		if raw, err = json.Marshal(c); err != nil {
			return v1.Descriptor{}, fmt.Errorf("encoding index: %w", err)
		}
		mt = c.MediaType
	}
	h := addRaw(byDigest, raw)
	return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: h}, nil
}

// writeBlob streams b to w, checking its size and digest: a layer that yields other
// bytes than its manifest promised must not end up in an output that claims them.
func writeBlob(ctx context.Context, w io.Writer, b layoutBlob) error {
	if b.raw != nil {
		_, err := w.Write(b.raw)
		return err
	}
	rc, err := b.layer.Compressed()
	if err != nil {
		return fmt.Errorf("reading layer %s: %w", b.digest, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(ctxio.Writer(ctx, w), h), io.LimitReader(rc, b.size+1))
	if err != nil {
		return fmt.Errorf("copying layer %s: %w", b.digest, err)
	}
	if n != b.size {
		return fmt.Errorf("copying layer %s: %d bytes, the manifest says %d", b.digest, n, b.size)
	}
	if got := (v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}); got != b.digest {
		return fmt.Errorf("copying layer %s: content has digest %s", b.digest, got)
	}
	return nil
}

const ociLayoutFile = `{"imageLayoutVersion":"1.0.0"}`

// writeLayoutTar writes the layout as one tar: entries sorted by name, directories
// before their contents, mtimes at the epoch and owners root, so the same image gives
// the same bytes.
func writeLayoutTar(ctx context.Context, s subject, dest string, annotations []map[string]string) (committer, v1.Hash, error) {
	c, err := collectLayout(s, annotations)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("writing oci layout tar %s: %w", dest, err)
	}
	tf, err := newTempFile(dest)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("writing oci layout tar %s: %w", dest, err)
	}
	if err := writeLayoutTarTo(ctx, tf.f, c); err != nil {
		tf.abort()
		return nil, v1.Hash{}, fmt.Errorf("writing oci layout tar %s: %w", dest, err)
	}
	if err := tf.close(); err != nil {
		tf.abort()
		return nil, v1.Hash{}, fmt.Errorf("writing oci layout tar %s: %w", dest, err)
	}
	return tf, c.top.Digest, nil
}

func writeLayoutTarTo(ctx context.Context, w io.Writer, c *layoutContents) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	dir := func(n string) error {
		return tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch})
	}
	file := func(n string, size int64) error {
		return tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: epoch})
	}
	// "blobs/…" < "index.json" < "oci-layout": writing in this order is sorted order.
	if err := dir("blobs/"); err != nil {
		return err
	}
	if err := dir("blobs/sha256/"); err != nil {
		return err
	}
	for _, b := range c.blobs {
		if err := file("blobs/sha256/"+b.digest.Hex, b.size); err != nil {
			return err
		}
		if err := writeBlob(ctx, tw, b); err != nil {
			return err
		}
	}
	if err := file("index.json", int64(len(c.index))); err != nil {
		return err
	}
	if _, err := tw.Write(c.index); err != nil {
		return err
	}
	if err := file("oci-layout", int64(len(ociLayoutFile))); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, ociLayoutFile); err != nil {
		return err
	}
	return tw.Close()
}

// writeLayoutDir writes the layout into a new directory next to dest, to be renamed
// over it (replace=true). An existing dest is replaced only when it is empty or
// already an OCI layout (as buildx replaces its dest tar): a directory of other files
// is most likely a mistyped -o.
func writeLayoutDir(ctx context.Context, s subject, dest string, annotations []map[string]string) (committer, v1.Hash, error) {
	if err := checkLayoutDir(dest); err != nil {
		return nil, v1.Hash{}, fmt.Errorf("writing oci layout %s: %w", dest, err)
	}
	c, err := collectLayout(s, annotations)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("writing oci layout %s: %w", dest, err)
	}
	td, err := newTempDir(dest)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("writing oci layout %s: %w", dest, err)
	}
	if err := writeLayoutDirTo(ctx, td.tmp, c); err != nil {
		td.abort()
		return nil, v1.Hash{}, fmt.Errorf("writing oci layout %s: %w", dest, err)
	}
	return td, c.top.Digest, nil
}

func writeLayoutDirTo(ctx context.Context, root string, c *layoutContents) error {
	blobs := filepath.Join(root, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	for _, b := range c.blobs {
		if err := tempfile.WriteFunc(filepath.Join(blobs, b.digest.Hex), func(w io.Writer) error { return writeBlob(ctx, w, b) }); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "index.json"), c.index, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, "oci-layout"), []byte(ociLayoutFile), 0o644)
}

// checkLayoutDir refuses a dest that is not a directory, or one that holds files and
// is not an OCI layout: most likely a mistyped -o, whose files slim must not touch.
func checkLayoutDir(dest string) error {
	fi, err := os.Stat(dest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s exists and is not a directory (for a tar, end dest with .tar or add tar=true): %w", dest, ErrBadOutput)
	}
	ents, err := os.ReadDir(dest)
	if err != nil {
		return err
	}
	// Temporary names are slim's own (a layout another run is writing, or a killed
	// run's leftovers), not the user's files.
	ents = slices.DeleteFunc(ents, func(e fs.DirEntry) bool {
		_, _, ok := tempfile.Owner(e.Name())
		return ok
	})
	if len(ents) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dest, "oci-layout")); err == nil {
		return nil
	}
	return fmt.Errorf("refusing to write into %s: it is neither empty nor an OCI layout: %w", dest, ErrBadOutput)
}

// Family is the media-type family outs write an image in when they all agree: an OCI
// layout always holds OCI types; a push, an archive or a load keeps the image's own, so
// any of them gives ok false. A caller that makes the image can then make it in that
// family, and report the types and digests that are written.
func Family(outs []Output) (f mediatype.Family, ok bool) {
	for _, o := range outs {
		if o.Type != OCI {
			return "", false
		}
	}
	return mediatype.OCI, len(outs) > 0
}
