package rebase

import (
	"context"
	"fmt"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
// WithMediaTypes forces one.
func AssembleIndex(ctx context.Context, base Base, src v1.ImageIndex, layersFor LayersFunc, opts ...Option) (v1.ImageIndex, error) {
	o := makeOptions(opts...)
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
	var idx v1.ImageIndex
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
		po := o
		po.history = history
		po.mediaTypes = family
		img, err := assemble(ctx, baseImg, o.nameFor(base), layers, po.newHistory(len(layers)), srcCf, &po)
		if err != nil {
			return nil, fmt.Errorf("assembling %s: %w", platformKey(si.platform), err)
		}
		mt, err := img.MediaType()
		if err != nil {
			return nil, fmt.Errorf("reading media type for %s: %w", platformKey(si.platform), err)
		}
		if idx == nil {
			family = OCI
			if mt == types.DockerManifestSchema2 {
				family = Docker
			}
			idx = emptyIndex(family)
		}
		p := si.platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{MediaType: mt, Platform: &p},
		})
	}
	if family == OCI {
		ann := map[string]string{}
		if name := o.nameFor(base); name != "" {
			ann[AnnotationBaseName] = name
		}
		if base.Index != nil {
			d, err := base.Index.Digest()
			if err != nil {
				return nil, fmt.Errorf("reading base index digest: %w", err)
			}
			ann[AnnotationBaseDigest] = d.String()
		}
		if len(ann) > 0 {
			idx = mutate.Annotations(idx, ann).(v1.ImageIndex)
		}
	}
	return idx, nil
}

// nameFor is the base.name annotation: WithBaseName's, else what the base calls itself.
func (o *options) nameFor(b Base) string {
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
