package rebase

import (
	"context"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/imageref"
)

// ImagePlatform is the platform an image says it is for, else fallback, else this
// machine's: the platform a base must be picked for to go under img.
func ImagePlatform(img v1.Image, fallback ...v1.Platform) v1.Platform {
	if img != nil {
		if cf, err := img.ConfigFile(); err == nil {
			if p := cf.Platform(); p != nil && p.OS != "" {
				return *p
			}
		}
	}
	if len(fallback) > 0 {
		return fallback[0]
	}
	p, err := imageref.ParsePlatform("")
	if err != nil {
		return v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	return p
}

// BaseFor resolves name as ResolveBase does and picks its image for img's platform: the
// base to lay under img, or the one img is on.
func BaseFor(ctx context.Context, name string, img v1.Image, opts ...BaseOption) (Base, v1.Image, error) {
	p := ImagePlatform(img)
	b, err := ResolveBase(ctx, name, append(slices.Clip(opts), WithPlatform(p))...)
	if err != nil {
		return Base{}, nil, err
	}
	bimg, err := b.ForPlatform(p)
	if err != nil {
		return Base{}, nil, err
	}
	return b, bimg, nil
}
