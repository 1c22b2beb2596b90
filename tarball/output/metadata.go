package output

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageID is what buildx writes to --iidfile: the config digest of an image (the ID
// Docker shows), the digest of an index, which has no config.
func ImageID(v any) (string, error) {
	s, err := newSubject(v)
	if err != nil {
		return "", err
	}
	if s.img != nil {
		d, err := s.img.ConfigName()
		if err != nil {
			return "", fmt.Errorf("reading the config digest: %w", err)
		}
		return d.String(), nil
	}
	d, err := s.digest()
	if err != nil {
		return "", fmt.Errorf("reading the index digest: %w", err)
	}
	return d.String(), nil
}

// Metadata is what buildx writes to --metadata-file, with its keys where they apply:
// containerimage.digest (the manifest or index), containerimage.config.digest (an
// image's), containerimage.descriptor, and image.name (the tags, comma-separated).
func Metadata(v any, tags []string) ([]byte, error) {
	s, err := newSubject(v)
	if err != nil {
		return nil, err
	}
	var desc v1.Descriptor
	if s.img != nil {
		if desc.MediaType, err = s.img.MediaType(); err == nil {
			if desc.Size, err = s.img.Size(); err == nil {
				desc.Digest, err = s.img.Digest()
			}
		}
	} else if desc.MediaType, err = s.idx.MediaType(); err == nil {
		if desc.Size, err = s.idx.Size(); err == nil {
			desc.Digest, err = s.idx.Digest()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the result's descriptor: %w", err)
	}
	m := map[string]any{
		"containerimage.digest":     desc.Digest.String(),
		"containerimage.descriptor": desc,
	}
	if s.img != nil {
		id, err := ImageID(s.img)
		if err != nil {
			return nil, err
		}
		m["containerimage.config.digest"] = id
	}
	if len(tags) > 0 {
		m["image.name"] = strings.Join(tags, ",")
	}
	return json.MarshalIndent(m, "", "  ")
}
