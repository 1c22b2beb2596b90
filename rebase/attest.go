package rebase

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/mediatype"
)

// The words BuildKit attaches attestations with (exporter/containerimage), so that
// `docker buildx imagetools inspect` and registries read slim's as its own.
const (
	InTotoMediaType           types.MediaType = "application/vnd.in-toto+json"
	InTotoStatementType                       = "https://in-toto.io/Statement/v0.1"
	PredicateTypeAnnotation                   = "in-toto.io/predicate-type"
	ReferenceTypeAnnotation                   = "vnd.docker.reference.type"
	ReferenceDigestAnnotation                 = "vnd.docker.reference.digest"
	AttestationManifestType                   = "attestation-manifest"
	PredicateSPDX                             = "https://spdx.dev/Document"
	PredicateSLSA02                           = "https://slsa.dev/provenance/v0.2"
)

// Attestation is one in-toto predicate about an image of an index.
type Attestation struct {
	PredicateType string
	Predicate     any
}

// Statement is the in-toto statement (v0.1, as BuildKit writes it) of an attestation.
type Statement struct {
	Type          string    `json:"_type"`
	PredicateType string    `json:"predicateType"`
	Subject       []Subject `json:"subject"`
	Predicate     any       `json:"predicate"`
}

// Subject names the image a statement is about.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// attestationImage is the attestation manifest of subject: an OCI manifest whose config
// is for platform unknown/unknown and whose layers are the statements, each annotated
// with its predicate type.
func attestationImage(subject v1.Image, p v1.Platform, atts []Attestation) (v1.Image, error) {
	d, err := subject.Digest()
	if err != nil {
		return nil, fmt.Errorf("attesting: reading image digest: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{Architecture: "unknown", OS: "unknown", RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		return nil, fmt.Errorf("attesting: %w", err)
	}
	name := "pkg:docker/_?platform=" + p.OS + "%2F" + p.Architecture
	if p.Variant != "" {
		name += "%2F" + p.Variant
	}
	for _, a := range atts {
		b, err := json.Marshal(Statement{Type: InTotoStatementType, PredicateType: a.PredicateType,
			Subject: []Subject{{Name: name, Digest: map[string]string{d.Algorithm: d.Hex}}}, Predicate: a.Predicate})
		if err != nil {
			return nil, fmt.Errorf("attesting: encoding %s: %w", a.PredicateType, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       static.NewLayer(b, InTotoMediaType),
			MediaType:   InTotoMediaType,
			Annotations: map[string]string{PredicateTypeAnnotation: a.PredicateType},
		})
		if err != nil {
			return nil, fmt.Errorf("attesting: %w", err)
		}
	}
	// Statements are no file-system layers: the config lists no diff ids for them, so
	// validators (ggcr's validate, crane validate) that match diff ids to tar layers
	// accept the manifest.
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{Architecture: "unknown", OS: "unknown", RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		return nil, fmt.Errorf("attesting: %w", err)
	}
	return img, nil
}

// Attach remakes idx by Index with the attestations attest gives each of its images
// (attestation manifests idx already had are replaced), keeping idx's annotations.
func Attach(idx v1.ImageIndex, attest func(img v1.Image, p v1.Platform) ([]Attestation, error)) (v1.ImageIndex, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("attesting: reading index: %w", err)
	}
	var images []PlatformImage
	for _, d := range im.Manifests {
		if d.Annotations[ReferenceTypeAnnotation] == AttestationManifestType {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("attesting: reading image %s: %w", d.Digest, err)
		}
		var p v1.Platform
		if d.Platform != nil {
			p = *d.Platform
		}
		atts, err := attest(img, p)
		if err != nil {
			return nil, err
		}
		images = append(images, PlatformImage{Image: img, Platform: p, Attestations: atts})
	}
	out, err := Index(mediatype.Choose(im.MediaType), images...)
	if err != nil {
		return nil, err
	}
	if len(im.Annotations) > 0 {
		out = mutate.Annotations(out, im.Annotations).(v1.ImageIndex)
	}
	return out, nil
}
