package rebase

import (
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
