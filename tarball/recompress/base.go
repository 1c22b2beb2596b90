package recompress

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// Annotations naming an image's base (OCI image spec, pre-defined annotation keys).
const (
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
)

// BaseFromAnnotations returns the base image reference img's manifest annotations
// name (for --keep-base auto): name@digest, name, or "" when there is none. The caller
// resolves it and checks it with BaseLayerCount.
func BaseFromAnnotations(img v1.Image) (string, error) {
	m, err := img.Manifest()
	if err != nil {
		return "", fmt.Errorf("reading manifest annotations: %w", err)
	}
	name, digest := m.Annotations[AnnotationBaseName], m.Annotations[AnnotationBaseDigest]
	switch {
	case name == "":
		return "", nil
	case digest != "":
		n, _, _ := strings.Cut(name, "@")
		return n + "@" + digest, nil
	}
	return name, nil
}
