package output

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcrtarball "github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/mediatype"
)

// dockerTags parses names as the RepoTags of a docker archive. A name without a tag
// gets ":latest", as `docker tag` would give it; docker load cannot use a digest.
func dockerTags(names []string) ([]string, error) {
	var tags []string
	for _, n := range names {
		t, err := name.NewTag(n)
		if err != nil {
			return nil, fmt.Errorf("parsing name %q (want NAME[:TAG]; docker cannot load by digest): %v: %w", n, err, ErrBadOutput)
		}
		s := t.String()
		if !strings.HasSuffix(s, ":"+t.TagStr()) {
			s += ":" + t.TagStr()
		}
		tags = append(tags, s)
	}
	return tags, nil
}

// writeDockerArchive writes a `docker save` archive: the config, the layer blobs and
// manifest.json.
//
// ggcr's tarball.MultiRefWrite writes the same files, but takes the tags from a map,
// so with two -t tags the order of RepoTags (and so the archive's bytes) changed from
// run to run. This writer keeps the tags in the order given, sorts the entries and
// stamps them with the epoch. Media types are not converted: the archive holds no
// manifest, only manifest.json (config and layer file names), the config and the layer
// blobs, and none of these carries a media type; docker load finds the compression from
// the layer bytes. An OCI-typed gzip image and its Docker-typed twin therefore give the
// same archive and load as the same image ID (the config digest). Zstd layers were
// refused before this is reached.
func writeDockerArchive(ctx context.Context, img v1.Image, dest string, tags []string) (committer, error) {
	tf, err := newTempFile(dest)
	if err != nil {
		return nil, fmt.Errorf("writing docker archive %s: %w", dest, err)
	}
	if err := writeDockerArchiveTo(ctx, tf.f, img, tags); err != nil {
		tf.abort()
		return nil, fmt.Errorf("writing docker archive %s: %w", dest, err)
	}
	if err := tf.close(); err != nil {
		tf.abort()
		return nil, fmt.Errorf("writing docker archive %s: %w", dest, err)
	}
	return tf, nil
}

func writeDockerArchiveTo(ctx context.Context, w io.Writer, img v1.Image, tags []string) error {
	cfgName, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	desc := ggcrtarball.Descriptor{Config: cfgName.Hex + ".json", RepoTags: tags}
	if desc.RepoTags == nil {
		// docker load takes an untagged image (as `docker save IMAGE_ID` writes it) and
		// reports its ID; [] rather than null is what Docker itself writes.
		desc.RepoTags = []string{}
	}
	type entry struct {
		name string
		blob layoutBlob
	}
	entries := []entry{{name: desc.Config, blob: layoutBlob{size: int64(len(cfg)), raw: cfg}}}
	seen := map[v1.Hash]bool{}
	for _, d := range m.Layers {
		file := d.Digest.Hex + layerFileExtension(d.MediaType)
		desc.Layers = append(desc.Layers, file)
		if !d.MediaType.IsDistributable() {
			// A foreign layer's blob lives elsewhere; Docker fetches it from the URLs.
			if desc.LayerSources == nil {
				desc.LayerSources = map[v1.Hash]v1.Descriptor{}
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return fmt.Errorf("reading config: %w", err)
			}
			i := len(desc.Layers) - 1
			if i < len(cf.RootFS.DiffIDs) {
				desc.LayerSources[cf.RootFS.DiffIDs[i]] = d
			}
		}
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return fmt.Errorf("reading layer %s: %w", d.Digest, err)
		}
		entries = append(entries, entry{name: file, blob: layoutBlob{digest: d.Digest, size: d.Size, layer: l}})
	}
	manifest, err := json.Marshal(ggcrtarball.Manifest{desc})
	if err != nil {
		return fmt.Errorf("encoding manifest.json: %w", err)
	}

	// Hex names sort before "manifest.json" ('0'-'f' < 'm').
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	entries = append(entries, entry{name: "manifest.json", blob: layoutBlob{size: int64(len(manifest)), raw: manifest}})

	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: e.blob.size, ModTime: epoch}); err != nil {
			return err
		}
		if err := writeBlob(ctx, tw, e.blob); err != nil {
			return err
		}
	}
	return tw.Close()
}

// layerFileExtension names layer files as ggcr and Docker do, so tools that guess the
// compression from the name (gunzip, old loaders) guess right.
func layerFileExtension(mt types.MediaType) string {
	c, ok := mediatype.LayerCompression(mt)
	switch {
	case ok && c == compression.None:
		return ".tar"
	case ok && c == compression.ZStd:
		return ".tar.zst"
	}
	return ".tar.gz"
}

// imageID is what Docker calls the image: its config digest.
func imageID(img v1.Image) string {
	h, err := img.ConfigName()
	if err != nil {
		return "image ID unknown"
	}
	return "image ID " + h.String()
}

// checkDockerLayers refuses layers Docker cannot load. Docker before 25 (API 1.44) reads
// only gzip and uncompressed layers; zstdOK is set when the daemon is known to be newer.
func checkDockerLayers(img v1.Image, zstdOK bool) error {
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	for i, l := range m.Layers {
		switch c, ok := mediatype.LayerCompression(l.MediaType); {
		case ok && c != compression.ZStd:
			continue
		case ok:
			if zstdOK {
				continue
			}
			return fmt.Errorf("layer %d (%s) is zstd-compressed, which Docker before 25 cannot load; use --compression gzip, or -o type=oci: %w", i, l.Digest, ErrUnsupportedOutput)
		}
		return fmt.Errorf("layer %d (%s) has media type %s, which Docker cannot load: %w", i, l.Digest, l.MediaType, ErrUnsupportedOutput)
	}
	return nil
}
