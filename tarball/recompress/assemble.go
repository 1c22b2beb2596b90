package recompress

import (
	"fmt"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/tarball"
)

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
func assemble(img v1.Image, cf *v1.ConfigFile, inLayers []v1.Layer, idx []imagefs.LayerIndex, built []*tarball.Layer, setLayer []int, o *options, family mediatype.Family, rep *Report) (v1.Image, error) {
	manifest, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	base := mediatype.EmptyImage(family)
	builtFor := map[int]*tarball.Layer{}
	for k, i := range setLayer {
		builtFor[i] = built[k]
	}
	var adds []mutate.Addendum
	var diffIDs []v1.Hash
	present := make([]bool, len(inLayers))
	rep.Layers = make([]LayerReport, len(inLayers))
	for i, l := range inLayers {
		lr := &rep.Layers[i]
		lr.Index, lr.Digest, lr.MediaType = i, idx[i].Digest, idx[i].MediaType
		lr.Size, lr.UncompressedSize = idx[i].Size, idx[i].UncompressedSize
		switch nl := builtFor[i]; {
		case i < o.keepBase:
			mt, err := mediatype.Convert(idx[i].MediaType, family)
			if err != nil {
				return nil, fmt.Errorf("keeping layer %d: %w", i, err)
			}
			kl := keptLayer{Layer: l, diffID: idx[i].DiffID, mediaType: mt}
			add := mutate.Addendum{Layer: kl, MediaType: kl.mediaType}
			if len(manifest.Layers) > i {
				add.Annotations = manifest.Layers[i].Annotations
				add.URLs = manifest.Layers[i].URLs
			}
			adds = append(adds, add)
			diffIDs = append(diffIDs, idx[i].DiffID)
			present[i] = true
			lr.Kept = true
			lr.NewDigest, lr.NewSize, lr.NewMediaType = &lr.Digest, lr.Size, kl.mediaType
		case nl != nil:
			adds = append(adds, mutate.Addendum{Layer: nl})
			// A built layer's digests were computed as it was written: these never fail.
			diffID, _ := nl.DiffID()
			diffIDs = append(diffIDs, diffID)
			present[i] = true
			d, _ := nl.Digest()
			lr.NewDigest = &d
			lr.NewSize, _ = nl.Size()
			lr.NewMediaType, _ = nl.MediaType()
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
