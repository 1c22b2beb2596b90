package imageref

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// LayoutDescriptor is the manifest an oci-layout:// reference names, without opening
// it: what a BuildKit named context hands the daemon by digest. A digest is taken as
// given (it may name an image inside a nested index, which the layout's content store
// holds all the same); a tag or no tag picks from index.json as Open does.
func LayoutDescriptor(r Ref) (v1.Descriptor, error) {
	if r.Kind != Layout {
		return v1.Descriptor{}, fmt.Errorf("%s is not an %s:// reference", r.Raw, schemeLayout)
	}
	if r.Digest != "" {
		h, err := v1.NewHash(r.Digest)
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("parsing image reference %q: %w", r.Raw, err)
		}
		return v1.Descriptor{Digest: h}, nil
	}
	p, err := layout.FromPath(r.Path)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("%s is not an OCI image layout (no index.json): %w", r.Path, ErrNotFound)
	}
	root, err := p.ImageIndex()
	if err != nil {
		return v1.Descriptor{}, err
	}
	im, err := root.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading %s/index.json: %w", r.Path, err)
	}
	return selectLayoutManifest(im.Manifests, r.Tag, "")
}
