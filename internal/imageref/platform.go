package imageref

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// platformError lists what an index (or a single image) offers, so the user can pick
// with --platform.
type platformError struct {
	want   v1.Platform
	have   []string
	single bool
}

func (e *platformError) Error() string {
	if e.single {
		return fmt.Sprintf("no %s: the image is for %s only (it is not a multi-platform index)", e.want, strings.Join(e.have, ", "))
	}
	have := "no platform-specific images"
	if len(e.have) > 0 {
		have = strings.Join(e.have, ", ")
	}
	return fmt.Sprintf("no %s in the index; it has %s", e.want, have)
}

// CheckPlatform refuses a single image whose config names a platform other than each
// of want: an image built for amd64 is not an arm64 image, whatever --platform says.
// An image whose config names no platform passes.
func CheckPlatform(img v1.Image, want ...v1.Platform) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	p := cf.Platform()
	if p == nil || p.OS == "" || p.Architecture == "" {
		return nil
	}
	for _, w := range want {
		if !platformMatches(*p, w) {
			return &platformError{want: w, have: []string{p.String()}, single: true}
		}
	}
	return nil
}

func (e *platformError) Is(target error) bool { return target == ErrPlatform }

// selectPlatform returns the first image of idx that runs on want, descending into
// nested indexes. Attestation manifests (platform unknown/unknown) never match.
func selectPlatform(idx v1.ImageIndex, want v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index manifest: %w", err)
	}
	var have []string
	var images []v1.Descriptor
	for _, d := range im.Manifests {
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading nested index %s: %w", d.Digest, err)
			}
			img, err := selectPlatform(child, want)
			var perr *platformError
			if errors.As(err, &perr) {
				have = append(have, perr.have...)
				continue
			}
			return img, err
		}
		if !d.MediaType.IsImage() {
			continue
		}
		images = append(images, d)
		if d.Platform == nil || d.Platform.OS == "unknown" {
			continue
		}
		have = append(have, d.Platform.String())
		if platformMatches(*d.Platform, want) {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading image %s for %s: %w", d.Digest, d.Platform, err)
			}
			return img, nil
		}
	}
	// An index that says nothing about platforms and holds one image (some tools write
	// those) has only one possible answer.
	if len(have) == 0 && len(images) == 1 {
		return idx.Image(images[0].Digest)
	}
	return nil, &platformError{want: want, have: have}
}

// platformMatches is v1.Platform.Satisfies after the normalisation containerd applies:
// arm64 images are v8 whether or not they say so, and a 32-bit arm image without a
// variant is v7. A wanted platform without a variant still accepts any variant.
func platformMatches(have, want v1.Platform) bool {
	have = normalize(have)
	if have.Architecture == "arm" && have.Variant == "" {
		have.Variant = "v7"
	}
	return have.Satisfies(normalize(want))
}

func normalize(p v1.Platform) v1.Platform {
	switch p.Architecture {
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "aarch64":
		p.Architecture = "arm64"
	}
	if p.Architecture == "arm64" && p.Variant == "v8" {
		p.Variant = ""
	}
	return p
}
