// Package mediatype owns media-type families (OCI and Docker), the conversions between
// them, and the annotations that name an image's base. Every package that writes a
// manifest asks here which types to use, so one image never mixes the two families.
package mediatype

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrMediaType means a type has no equal in the family asked for (zstd layers in a
// Docker manifest), so the manifest cannot be written in one family.
var ErrMediaType = errors.New("media types cannot be combined")

// ErrFamily is returned for a family name that is neither oci nor docker.
var ErrFamily = errors.New("unknown media-type family")

// Family is a manifest's media-type family.
type Family string

const (
	OCI    Family = "oci"
	Docker Family = "docker"
)

// ParseFamily parses a family name as a user writes it ("oci" or "docker", any case).
func ParseFamily(s string) (Family, error) {
	switch f := Family(strings.ToLower(strings.TrimSpace(s))); f {
	case OCI, Docker:
		return f, nil
	}
	return "", fmt.Errorf("parsing media types %q (want oci or docker): %w", s, ErrFamily)
}

// twins is mt's Docker and OCI types when it exists in both families. The bytes they
// describe are the same, so converting changes a descriptor, never a digest.
func twins(mt types.MediaType) (docker, oci types.MediaType, ok bool) {
	switch mt {
	case types.DockerManifestSchema2, types.OCIManifestSchema1:
		return types.DockerManifestSchema2, types.OCIManifestSchema1, true
	case types.DockerManifestList, types.OCIImageIndex:
		return types.DockerManifestList, types.OCIImageIndex, true
	case types.DockerConfigJSON, types.OCIConfigJSON:
		return types.DockerConfigJSON, types.OCIConfigJSON, true
	case types.DockerLayer, types.OCILayer:
		return types.DockerLayer, types.OCILayer, true
	case types.DockerUncompressedLayer, types.OCIUncompressedLayer:
		return types.DockerUncompressedLayer, types.OCIUncompressedLayer, true
	case types.DockerForeignLayer, types.OCIRestrictedLayer:
		return types.DockerForeignLayer, types.OCIRestrictedLayer, true
	}
	return "", "", false
}

// Of is the family of a manifest, index, config or layer type; "" for a type of
// neither (schema 1 manifests, artifacts).
func Of(mt types.MediaType) Family {
	if docker, _, ok := twins(mt); ok {
		if mt == docker {
			return Docker
		}
		return OCI
	}
	switch mt {
	case types.OCILayerZStd, types.OCIUncompressedRestrictedLayer: // Docker has no word for these
		return OCI
	}
	return ""
}

// Convert is mt in f's words. Types of neither family are returned as they are; an OCI
// type with no Docker equal (zstd) is refused with ErrMediaType.
func Convert(mt types.MediaType, f Family) (types.MediaType, error) {
	if docker, oci, ok := twins(mt); ok {
		if f == Docker {
			return docker, nil
		}
		return oci, nil
	}
	if f == Docker && Of(mt) == OCI {
		return "", fmt.Errorf("%s has no Docker media type; use gzip compression or OCI media types: %w", mt, ErrMediaType)
	}
	return mt, nil
}

// ToOCI is mt in OCI's words, which every type has.
func ToOCI(mt types.MediaType) types.MediaType {
	out, _ := Convert(mt, OCI) // never fails: only conversion to Docker can
	return out
}

// Choose is the family of a manifest made from one of type from and layers of the
// given types: from's family (OCI when from has none), unless a layer has no Docker
// type, which only an OCI manifest can hold.
func Choose(from types.MediaType, layers ...types.MediaType) Family {
	for _, mt := range layers {
		if _, err := Convert(mt, Docker); err != nil {
			return OCI
		}
	}
	if Of(from) == Docker {
		return Docker
	}
	return OCI
}

// Layer is the type of a layer compressed with c, in f's words.
func Layer(f Family, c compression.Compression) (types.MediaType, error) {
	var mt types.MediaType
	switch c {
	case compression.GZip:
		mt = types.OCILayer
	case compression.ZStd:
		mt = types.OCILayerZStd
	case compression.None:
		mt = types.OCIUncompressedLayer
	default:
		return "", fmt.Errorf("choosing layer media type: unknown compression %q: %w", c, ErrMediaType)
	}
	switch f {
	case OCI, Docker:
	default:
		return "", fmt.Errorf("choosing layer media type for %q media types (want oci or docker): %w", f, ErrFamily)
	}
	return Convert(mt, f)
}

// EmptyImage is an image with no layers whose manifest and config are typed in f.
func EmptyImage(f Family) v1.Image {
	if f == Docker {
		return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.DockerManifestSchema2), types.DockerConfigJSON)
	}
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// EmptyIndex is an index with no manifests, typed in f.
func EmptyIndex(f Family) v1.ImageIndex {
	if f == Docker {
		return mutate.IndexMediaType(empty.Index, types.DockerManifestList)
	}
	return mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
}

// AnnotationBuiltinBase names a base built into slim (scratch, static). Such a base is
// no registry reference, so it is kept out of the spec's base.name, which tools such as
// regctl image check-base look up in a registry; rebase and recompress --keep-base still
// need to know it (a scratch base has no digest either).
const AnnotationBuiltinBase = "dev.slim.base.builtin"

// NewBaseAnnotations names a base: a registry reference (always written in full, so it
// has a "/") by the image spec's pre-defined key, a bare name (a built-in base) by
// AnnotationBuiltinBase. Empty values are left out.
func NewBaseAnnotations(name, digest string) map[string]string {
	a := map[string]string{}
	switch {
	case name == "":
	case strings.Contains(name, "/"):
		a[specs.AnnotationBaseImageName] = name
	default:
		a[AnnotationBuiltinBase] = name
	}
	if digest != "" {
		a[specs.AnnotationBaseImageDigest] = digest
	}
	return a
}

// BaseAnnotations is the base an image names (a registry reference or a built-in base's
// name, see NewBaseAnnotations) and its digest: from its manifest's annotations when they
// give either, else from its config's labels, where a Docker-typed image keeps them (a
// Docker manifest has no annotations). Either argument may be nil.
func BaseAnnotations(mf *v1.Manifest, cf *v1.ConfigFile) (name, digest string) {
	from := func(m map[string]string) (string, string) {
		n := m[specs.AnnotationBaseImageName]
		if n == "" {
			n = m[AnnotationBuiltinBase]
		}
		return n, m[specs.AnnotationBaseImageDigest]
	}
	if mf != nil {
		if name, digest = from(mf.Annotations); name != "" || digest != "" {
			return name, digest
		}
	}
	if cf == nil {
		return "", ""
	}
	return from(cf.Config.Labels)
}

// LayerCompression is how a layer of type mt is compressed; ok is false for a type that
// is no layer type of either family.
func LayerCompression(mt types.MediaType) (c compression.Compression, ok bool) {
	switch mt {
	case types.OCILayer, types.DockerLayer, types.OCIRestrictedLayer, types.DockerForeignLayer:
		return compression.GZip, true
	case types.OCILayerZStd:
		return compression.ZStd, true
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer, types.OCIUncompressedRestrictedLayer:
		return compression.None, true
	}
	return compression.None, false
}
