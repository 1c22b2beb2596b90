package tarball

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/slim-dev/slim/internal/testimage"
)

// file returns a regular-file entry with the given content.
func file(name, content string, mode int64) Entry {
	return Entry{
		Header: &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(content)), Mode: mode,
			ModTime: time.Date(2024, 5, 6, 7, 8, 9, 123, time.UTC), Uname: "builder", Gname: "builder"},
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil },
	}
}

func dir(name string, mode int64) Entry {
	return Entry{Header: &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode,
		ModTime: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}}
}

func symlink(name, target string) Entry {
	return Entry{Header: &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) Entry {
	return Entry{Header: &tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}

func names(es []testimage.Member) []string {
	var n []string
	for _, e := range es {
		n = append(n, e.Name)
	}
	return n
}

func writeTarBytes(t testing.TB, entries []Entry, opts ...Option) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTar(&buf, entries, opts...); err != nil {
		t.Fatalf("WriteTar: %v", err)
	}
	return buf.Bytes()
}

// checkLayer validates a produced layer with ggcr. validate.Layer reads Compressed()
// with compress/gzip, so zstd and uncompressed layers are also checked through a view
// that re-gzips Uncompressed() (which proves DiffID and the tar), and their own
// Digest and Size are checked against the blob here.
func checkLayer(t testing.TB, l v1.Layer) {
	t.Helper()
	mt, err := l.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	if mt == types.OCILayer || mt == types.DockerLayer {
		if err := validate.Layer(l); err != nil {
			t.Fatalf("validate.Layer(%s): %v", mt, err)
		}
		return
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	h, n, err := v1.SHA256(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := l.Digest(); d != h {
		t.Errorf("Digest() = %s, sha256 of blob = %s", d, h)
	}
	if s, _ := l.Size(); s != n {
		t.Errorf("Size() = %d, blob has %d bytes", s, n)
	}
	view, err := newGzipView(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Layer(view); err != nil {
		t.Fatalf("validate.Layer(re-gzipped %s): %v", mt, err)
	}
}

// gzipView presents a layer's uncompressed stream gzipped, for validate.Layer.
type gzipView struct {
	v1.Layer
	blob []byte
}

func newGzipView(l v1.Layer) (*gzipView, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := io.Copy(zw, rc); err != nil {
		return nil, fmt.Errorf("re-gzipping: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &gzipView{Layer: l, blob: buf.Bytes()}, nil
}

func (g *gzipView) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(g.blob)), nil
}
func (g *gzipView) Digest() (v1.Hash, error) {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(g.blob))}, nil
}
func (g *gzipView) Size() (int64, error) { return int64(len(g.blob)), nil }
func (g *gzipView) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}
