package rebase

import (
	"context"
	"fmt"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/mediatype"
)

// LayersFunc makes the new layers for one platform of an index source, from that
// platform's image, with one history text per layer (as WithHistory takes them).
type LayersFunc func(ctx context.Context, p v1.Platform, src v1.Image) (layers []v1.Layer, history []string, err error)

// AssembleIndex assembles one image per platform that src and base both have (a
// built-in base has every platform), narrowed by WithPlatforms, and returns them under
// one index. Each image is made as Assemble makes it, with src's config for that
// platform and the layers layersFor returns. When no platform is left, the error wraps
// ErrNoPlatform and lists what each side has.
//
// All images and the index share one media-type family: the first image's, unless
// WithMediaTypes forces one. The index is made by Index.
func AssembleIndex(ctx context.Context, base Base, src v1.ImageIndex, layersFor LayersFunc, opts ...IndexOption) (v1.ImageIndex, error) {
	o := makeIndexOptions(opts)
	srcImages, err := indexImages(src)
	if err != nil {
		return nil, fmt.Errorf("reading source index: %w", err)
	}
	var baseImages []indexImage
	switch {
	case base.builtin != nil:
	case base.Index != nil:
		if baseImages, err = indexImages(base.Index); err != nil {
			return nil, fmt.Errorf("reading base index %s: %w", base.Name, err)
		}
	case base.Image != nil:
		cf, err := base.Image.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading config of base %s: %w", base.Name, err)
		}
		baseImages = []indexImage{{platform: configPlatform(cf)}}
	default:
		return nil, fmt.Errorf("assembling index: base %q is empty: %w", base.Name, ErrBadOption)
	}

	var chosen []indexImage
	seen := map[string]bool{}
	for _, si := range srcImages {
		key := platformKey(si.platform)
		if seen[key] {
			continue
		}
		if base.builtin == nil && !hasPlatform(baseImages, si.platform) {
			continue
		}
		if len(o.platforms) > 0 && !wanted(si.platform, o.platforms) {
			continue
		}
		seen[key] = true
		chosen = append(chosen, si)
	}
	if len(chosen) == 0 {
		return nil, noPlatformError(srcImages, baseImages, base, o.platforms)
	}

	family := o.mediaTypes
	images := make([]PlatformImage, 0, len(chosen))
	for _, si := range chosen {
		srcImg, err := si.parent.Image(si.digest)
		if err != nil {
			return nil, fmt.Errorf("reading source image for %s: %w", platformKey(si.platform), err)
		}
		srcCf, err := srcImg.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading source config for %s: %w", platformKey(si.platform), err)
		}
		baseImg, err := base.ForPlatform(si.platform)
		if err != nil {
			return nil, err
		}
		layers, history, err := layersFor(ctx, si.platform, srcImg)
		if err != nil {
			return nil, fmt.Errorf("making layers for %s: %w", platformKey(si.platform), err)
		}
		po := o.assembly
		po.mediaTypes = family
		img, err := assemble(ctx, baseImg, o.nameFor(base), layers, newHistory(history, len(layers), o.epoch), srcCf, &po)
		if err != nil {
			return nil, fmt.Errorf("assembling %s: %w", platformKey(si.platform), err)
		}
		if len(images) == 0 {
			// The others take the first image's family, so the index has one.
			if family, err = imageFamily(img); err != nil {
				return nil, err
			}
		}
		images = append(images, PlatformImage{Image: img, Platform: si.platform})
	}
	idx, err := Index(family, images...)
	if err != nil || family == mediatype.Docker {
		return idx, err // a Docker manifest list has no annotations
	}
	var baseDigest string
	if base.Index != nil {
		d, err := base.Index.Digest()
		if err != nil {
			return nil, fmt.Errorf("reading base index digest: %w", err)
		}
		baseDigest = d.String()
	}
	if ann := mediatype.NewBaseAnnotations(o.nameFor(base), baseDigest); len(ann) > 0 {
		idx = mutate.Annotations(idx, ann).(v1.ImageIndex)
	}
	return idx, nil
}

// PlatformImage is one image of an index and the platform its descriptor names.
type PlatformImage struct {
	Image    v1.Image
	Platform v1.Platform
	// Attestations, when any, follow the images as one attestation manifest each
	// image, as BuildKit attaches them (OCI indexes only).
	Attestations []Attestation
}

// Index puts per-platform images under one index typed in family; an empty family is
// the first image's, so that the index and its manifests share one family. The images
// are added as they are (their own manifests are never converted, which would change
// their digests): give images of one family, as Assemble makes them with
// WithMediaTypes. This is the one place where slim makes an index.
func Index(family mediatype.Family, images ...PlatformImage) (v1.ImageIndex, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("making index: no images: %w", ErrBadOption)
	}
	if family == "" {
		var err error
		if family, err = imageFamily(images[0].Image); err != nil {
			return nil, err
		}
	}
	idx := mediatype.EmptyIndex(family)
	for _, pi := range images {
		mt, err := pi.Image.MediaType()
		if err != nil {
			return nil, fmt.Errorf("making index: reading media type for %s: %w", platformKey(pi.Platform), err)
		}
		p := pi.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        pi.Image,
			Descriptor: v1.Descriptor{MediaType: mt, Platform: &p},
		})
	}
	for _, pi := range images {
		if len(pi.Attestations) == 0 {
			continue
		}
		if family != mediatype.OCI {
			return nil, fmt.Errorf("making index: attestations need OCI media types (a Docker manifest list cannot hold them): %w", ErrMediaType)
		}
		att, err := attestationImage(pi.Image, pi.Platform, pi.Attestations)
		if err != nil {
			return nil, err
		}
		d, err := pi.Image.Digest()
		if err != nil {
			return nil, fmt.Errorf("making index: %w", err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: att,
			Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{Architecture: "unknown", OS: "unknown"},
				Annotations: map[string]string{ReferenceDigestAnnotation: d.String(), ReferenceTypeAnnotation: AttestationManifestType}},
		})
	}
	return idx, nil
}

// imageFamily is the family of img's manifest; OCI for a type of neither family.
func imageFamily(img v1.Image) (mediatype.Family, error) {
	mt, err := img.MediaType()
	if err != nil {
		return "", fmt.Errorf("reading manifest media type: %w", err)
	}
	return mediatype.Choose(mt), nil
}

// nameFor is the base.name annotation: WithBaseName's, else what the base calls itself.
func (o *assembly) nameFor(b Base) string {
	if o.baseName != "" {
		return o.baseName
	}
	return b.AnnotationName()
}

func hasPlatform(imgs []indexImage, p v1.Platform) bool {
	for _, ii := range imgs {
		if platformMatches(ii.platform, p) {
			return true
		}
	}
	return false
}

func wanted(p v1.Platform, want []v1.Platform) bool {
	for _, w := range want {
		if platformMatches(p, w) {
			return true
		}
	}
	return false
}

func noPlatformError(src, base []indexImage, b Base, want []v1.Platform) error {
	list := func(imgs []indexImage) string {
		var s []string
		for _, ii := range imgs {
			s = append(s, platformKey(ii.platform))
		}
		sort.Strings(s)
		return orNone(s)
	}
	baseHas := list(base)
	if b.builtin != nil {
		baseHas = "every platform"
	}
	msg := fmt.Sprintf("assembling index: no platform is in both the source (%s) and base %s (%s)", list(src), b.Name, baseHas)
	if len(want) > 0 {
		var w []string
		for _, p := range want {
			w = append(w, platformKey(p))
		}
		msg += fmt.Sprintf(" and asked for with --platform (%s)", orNone(w))
	}
	return fmt.Errorf("%s: %w", msg, ErrNoPlatform)
}
