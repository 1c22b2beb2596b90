package rebase

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract/pkgdb"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/mediatype"
)

// SPDX 2.3 as JSON: only the fields slim fills.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreation       `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Files             []spdxFile         `json:"files,omitempty"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string       `json:"name"`
	SPDXID           string       `json:"SPDXID"`
	VersionInfo      string       `json:"versionInfo,omitempty"`
	DownloadLocation string       `json:"downloadLocation"`
	FilesAnalyzed    bool         `json:"filesAnalyzed"`
	LicenseConcluded string       `json:"licenseConcluded"`
	LicenseDeclared  string       `json:"licenseDeclared"`
	SourceInfo       string       `json:"sourceInfo,omitempty"`
	PrimaryPurpose   string       `json:"primaryPackagePurpose,omitempty"`
	Checksums        []spdxSum    `json:"checksums,omitempty"`
	ExternalRefs     []spdxExtRef `json:"externalRefs,omitempty"`
}

type spdxSum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExtRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxFile struct {
	FileName  string    `json:"fileName"`
	SPDXID    string    `json:"SPDXID"`
	Checksums []spdxSum `json:"checksums"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// SBOMOption configures SBOM.
type SBOMOption func(*sbomOptions)

type sbomOptions struct {
	name    string
	tool    string
	created time.Time
}

// WithSBOMName names the image in the document (default its digest).
func WithSBOMName(n string) SBOMOption { return func(o *sbomOptions) { o.name = n } }

// WithSBOMTool names the tool in creationInfo ("slim-v1.2.3").
func WithSBOMTool(t string) SBOMOption { return func(o *sbomOptions) { o.tool = t } }

// WithSBOMCreated sets creationInfo.created (SOURCE_DATE_EPOCH; default the Unix epoch),
// never the clock, so two runs give the same document.
func WithSBOMCreated(t time.Time) SBOMOption { return func(o *sbomOptions) { o.created = t } }

// SBOM is the SPDX 2.3 attestation of img as a scanner would read it: its packages from
// its own metadata (pkgdb.Installed: what slim kept), the files of the layers above the
// base with their SHA-256, and a DESCENDANT_OF relationship to the base that the
// image's base annotations name. newLayers is how many layers are slim's (on top).
func SBOM(ctx context.Context, img v1.Image, newLayers int, opts ...SBOMOption) (Attestation, error) {
	o := sbomOptions{tool: "slim", created: time.Unix(0, 0)}
	for _, opt := range opts {
		opt(&o)
	}
	d, err := img.Digest()
	if err != nil {
		return Attestation{}, fmt.Errorf("making SBOM: %w", err)
	}
	if o.name == "" {
		o.name = d.String()
	}
	fsys, err := imagefs.New(ctx, img, imagefs.WithLargest(0))
	if err != nil {
		return Attestation{}, fmt.Errorf("making SBOM: reading image: %w", err)
	}
	defer fsys.Close()
	pkgs, err := pkgdb.Installed(fsys)
	if err != nil {
		return Attestation{}, fmt.Errorf("making SBOM: %w", err)
	}
	files, err := layerFileSums(img, newLayers)
	if err != nil {
		return Attestation{}, err
	}
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT", Name: o.name,
		DocumentNamespace: "https://github.com/slim-dev/slim/spdx/" + d.Hex,
		CreationInfo:      spdxCreation{Created: o.created.UTC().Format(time.RFC3339), Creators: []string{"Tool: " + o.tool}},
	}
	image := spdxPackage{Name: o.name, SPDXID: "SPDXRef-Image", DownloadLocation: "NOASSERTION", LicenseConcluded: "NOASSERTION",
		LicenseDeclared: "NOASSERTION", PrimaryPurpose: "CONTAINER", Checksums: []spdxSum{{"SHA256", d.Hex}}}
	doc.Packages = append(doc.Packages, image)
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"})
	for i, p := range pkgs {
		id := fmt.Sprintf("SPDXRef-Package-%s-%d", spdxIDPart(string(p.Kind)+"-"+p.Name), i)
		lic := "NOASSERTION"
		if p.License != "" && !strings.ContainsAny(p.License, "\n") {
			lic = p.License
		}
		sp := spdxPackage{Name: p.FullName(), SPDXID: id, VersionInfo: p.Version, DownloadLocation: "NOASSERTION",
			LicenseConcluded: "NOASSERTION", LicenseDeclared: lic,
			ExternalRefs: []spdxExtRef{{"PACKAGE-MANAGER", "purl", p.PURL()}}}
		if p.Source != "" && p.Source != p.Name {
			sp.SourceInfo = "built from source package " + p.Source + " " + p.SourceVersion
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-Image", "CONTAINS", id})
	}
	for i, f := range files {
		id := fmt.Sprintf("SPDXRef-File-%d", i)
		doc.Files = append(doc.Files, spdxFile{FileName: f.name, SPDXID: id, Checksums: []spdxSum{{"SHA256", f.sum}}})
		doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-Image", "CONTAINS", id})
	}
	mf, err := img.Manifest()
	if err != nil {
		return Attestation{}, fmt.Errorf("making SBOM: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Attestation{}, fmt.Errorf("making SBOM: %w", err)
	}
	if name, digest := mediatype.BaseAnnotations(mf, cf); name != "" || digest != "" {
		base := spdxPackage{Name: name, SPDXID: "SPDXRef-Base", DownloadLocation: "NOASSERTION", LicenseConcluded: "NOASSERTION",
			LicenseDeclared: "NOASSERTION", PrimaryPurpose: "CONTAINER"}
		if h, err := v1.NewHash(digest); err == nil {
			base.VersionInfo = digest
			base.Checksums = []spdxSum{{"SHA256", h.Hex}}
		}
		doc.Packages = append(doc.Packages, base)
		doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-Image", "DESCENDANT_OF", "SPDXRef-Base"})
	}
	return Attestation{PredicateType: PredicateSPDX, Predicate: doc}, nil
}

func spdxIDPart(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

type fileSum struct{ name, sum string }

// layerFileSums hashes the regular files of img's top n layers, read as tar streams
// once each; a path a higher layer writes again is listed with its last content.
func layerFileSums(img v1.Image, n int) ([]fileSum, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("making SBOM: %w", err)
	}
	sums := map[string]string{}
	for _, l := range layers[max(0, len(layers)-n):] {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("making SBOM: reading layer: %w", err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rc.Close()
				return nil, fmt.Errorf("making SBOM: reading layer: %w", err)
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			hs := sha256.New()
			if _, err := io.Copy(hs, tr); err != nil {
				rc.Close()
				return nil, fmt.Errorf("making SBOM: reading layer: %w", err)
			}
			sums["/"+path.Clean(strings.TrimPrefix(h.Name, "/"))] = hex.EncodeToString(hs.Sum(nil))
		}
		rc.Close()
	}
	out := make([]fileSum, 0, len(sums))
	for _, k := range slices.Sorted(maps.Keys(sums)) {
		out = append(out, fileSum{k, sums[k]})
	}
	return out, nil
}
