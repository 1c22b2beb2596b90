package recompress

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/rebase"
)

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

// BaseFromAnnotations returns the base image reference that img's base annotations
// name (for --keep-base auto): name@digest, name, or "" when there is none. The caller
// resolves it and checks it with BaseLayerCount.
func BaseFromAnnotations(img v1.Image) (string, error) {
	m, err := img.Manifest()
	if err != nil {
		return "", fmt.Errorf("reading manifest annotations: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("reading config labels: %w", err)
	}
	name, digest := mediatype.BaseAnnotations(m, cf)
	switch {
	case name == "":
		return "", nil
	case !strings.Contains(name, "/"):
		return name, nil // a built-in base, rebuilt by name (mediatype.NewBaseAnnotations)
	case digest != "":
		n, _, _ := strings.Cut(name, "@")
		return n + "@" + digest, nil
	}
	return name, nil
}

// keepBaseCount turns --keep-base NAME|auto into a layer count: the base's layers
// must be the image's bottom layers.
func keepBaseCount(ctx context.Context, img v1.Image, keep string, ropts []imageref.Option) (int, error) {
	name := keep
	if keep == "auto" {
		n, err := BaseFromAnnotations(img)
		if err != nil {
			return 0, err
		}
		if n == "" {
			return 0, fmt.Errorf("--keep-base auto: the image has no org.opencontainers.image.base.name annotation; name the base: --keep-base REF")
		}
		name = n
		// Built-in bases are recorded by name; their digest pins nothing to pull.
		if b, _, ok := strings.Cut(n, "@"); ok && (b == rebase.Scratch || b == rebase.Static) {
			name = b
		}
	}
	_, bimg, err := rebase.BaseFor(ctx, name, img, rebase.WithRefOptions(ropts...))
	if err != nil {
		return 0, fmt.Errorf("resolving --keep-base %s: %w", name, err)
	}
	n, err := BaseLayerCount(img, bimg)
	if err != nil {
		return 0, fmt.Errorf("--keep-base %s: %w", name, err)
	}
	return n, nil
}
