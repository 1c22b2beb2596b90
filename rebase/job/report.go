package job

import (
	_ "embed"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/extract/pkgdb"
	"github.com/slim-dev/slim/internal/imagefs"
)

//go:embed report.schema.json
var reportSchema []byte

// ReportSchema is the JSON Schema of the --report file (report.schema.json), the one
// definition of its keys that README.md documents and the tests check every report against.
func ReportSchema() []byte { return append([]byte(nil), reportSchema...) }

// Report says what a slim run saved: the sources' sizes, the result's per layer, and
// every file taken with the reason. Its JSON form is documented in README.md.
type Report struct {
	Base    string         `json:"base"`
	Sources []SizeReport   `json:"sources"`
	Images  []SizeReport   `json:"images"`
	Files   []extract.File `json:"files"`
	// Packages own the files taken (the first platform's), with the files they own.
	Packages []*pkgdb.Package `json:"packages,omitempty"`
	// Verifications are the --verify commands run, one per command and platform.
	Verifications []Verification `json:"verifications,omitempty"`
	// Traces are the --trace commands run.
	Traces []TraceReport `json:"traces,omitempty"`
}

// SizeReport is the size of one image, source or result.
type SizeReport struct {
	// Name is the --from SRC for sources; empty for results.
	Name     string `json:"name,omitempty"`
	Platform string `json:"platform,omitempty"`
	Digest   string `json:"digest,omitempty"`
	// Size is the sum of the compressed layer blobs (what a pull downloads);
	// Uncompressed the sum of the layers' tar streams. Either is -1 when unknown (a
	// build stage has no layers of its own until it is exported).
	Size         int64         `json:"size"`
	Uncompressed int64         `json:"uncompressed"`
	Layers       []LayerReport `json:"layers,omitempty"`
}

// LayerReport is one layer of a result.
type LayerReport struct {
	Digest       string `json:"digest"`
	MediaType    string `json:"mediaType"`
	Size         int64  `json:"size"`
	Uncompressed int64  `json:"uncompressed"`
	// New is true for the layers slim wrote, false for the base's.
	New bool `json:"new"`
}

// Before sums the sources' sizes; -1 when one of them is unknown.
func (r *Report) Before() (size, uncompressed int64) {
	for _, s := range r.Sources {
		if s.Size < 0 || size < 0 {
			size = -1
		} else {
			size += s.Size
		}
		if s.Uncompressed < 0 || uncompressed < 0 {
			uncompressed = -1
		} else {
			uncompressed += s.Uncompressed
		}
	}
	return size, uncompressed
}

func (r *Report) addBefore(name, platform string, src source) error {
	for _, s := range r.Sources {
		if s.Name == name && s.Platform == platform {
			return nil
		}
	}
	s := SizeReport{Name: name, Platform: platform, Size: -1, Uncompressed: -1}
	if src.Image != nil {
		d, err := src.Image.Digest()
		if err != nil {
			return fmt.Errorf("reading digest of %s: %w", name, err)
		}
		s.Digest = d.String()
		if s.Size, err = compressedSize(src.Image); err != nil {
			return fmt.Errorf("reading size of %s: %w", name, err)
		}
	}
	if ifs, ok := src.FS.(*imagefs.FS); ok {
		s.Uncompressed = 0
		for _, l := range ifs.Layers() {
			s.Uncompressed += l.UncompressedSize
		}
	}
	r.Sources = append(r.Sources, s)
	return nil
}

// addAfter records a result image, indexed as fsys, whose last newLayers layers are
// slim's.
func (r *Report) addAfter(img v1.Image, fsys *imagefs.FS, platform string, newLayers int) error {
	d, err := img.Digest()
	if err != nil {
		return fmt.Errorf("reading result digest: %w", err)
	}
	s := SizeReport{Platform: platform, Digest: d.String()}
	idx := fsys.Layers()
	for i, l := range idx {
		s.Layers = append(s.Layers, LayerReport{
			Digest: l.Digest.String(), MediaType: string(l.MediaType), Size: l.Size,
			Uncompressed: l.UncompressedSize, New: i >= len(idx)-newLayers,
		})
		s.Size += l.Size
		s.Uncompressed += l.UncompressedSize
	}
	r.Images = append(r.Images, s)
	return nil
}

func compressedSize(img v1.Image) (int64, error) {
	ls, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range ls {
		sz, err := l.Size()
		if err != nil {
			return 0, err
		}
		n += sz
	}
	return n, nil
}
