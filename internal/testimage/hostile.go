package testimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Hostile images are served by a handler that makes their parts as they are asked for,
// so a test can offer 20,000 layers or a 300 MB config without holding them.

// Blob is a part a GeneratedRegistry serves: its size, digest and bytes made on demand.
type Blob struct {
	Size   int64
	Digest v1.Hash
	Open   func() io.Reader
}

// BytesBlob is a Blob of b.
func BytesBlob(b []byte) Blob {
	h, _, _ := v1.SHA256(bytes.NewReader(b))
	return Blob{Size: int64(len(b)), Digest: h, Open: func() io.Reader { return bytes.NewReader(b) }}
}

// RepeatBlob is n bytes: prefix, then filler up to n. Its digest is computed by
// streaming it once, so nothing of size n is ever held.
func RepeatBlob(prefix string, filler byte, n int64) Blob {
	open := func() io.Reader {
		return io.MultiReader(strings.NewReader(prefix), io.LimitReader(repeatReader(filler), n-int64(len(prefix))))
	}
	h, _, _ := v1.SHA256(open())
	return Blob{Size: n, Digest: h, Open: open}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// GeneratedRegistry serves the manifests (by tag) and blobs (by digest) of repository
// "img" at a loopback address, and returns host:port. It answers only pulls.
func GeneratedRegistry(t testing.TB, manifests map[string]Blob, mediaType types.MediaType, blobs []Blob) string {
	t.Helper()
	byDigest := map[string]Blob{}
	for _, b := range blobs {
		byDigest[b.Digest.String()] = b
	}
	for _, m := range manifests {
		byDigest[m.Digest.String()] = m
	}
	serve := func(w http.ResponseWriter, r *http.Request, b Blob, mt string) {
		w.Header().Set("Content-Length", strconv.FormatInt(b.Size, 10))
		w.Header().Set("Docker-Content-Digest", b.Digest.String())
		if mt != "" {
			w.Header().Set("Content-Type", mt)
		}
		if r.Method == http.MethodHead {
			return
		}
		io.Copy(w, b.Open()) //nolint:errcheck // the client hung up
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/v2/" || p == "/v2":
			w.WriteHeader(http.StatusOK)
		case strings.HasPrefix(p, "/v2/img/manifests/"):
			ref := strings.TrimPrefix(p, "/v2/img/manifests/")
			m, ok := manifests[ref]
			if !ok {
				m, ok = byDigest[ref]
			}
			if !ok {
				http.NotFound(w, r)
				return
			}
			serve(w, r, m, string(mediaType))
		case strings.HasPrefix(p, "/v2/img/blobs/"):
			b, ok := byDigest[strings.TrimPrefix(p, "/v2/img/blobs/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			serve(w, r, b, "application/octet-stream")
		default:
			http.NotFound(w, r)
		}
	})
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// ManyLayers serves an OCI image of n distinct uncompressed layers (each one file,
// l/N) and returns its reference.
func ManyLayers(t testing.TB, n int) string {
	t.Helper()
	layers := make([]Blob, n)
	for i := range layers {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("l/%d", i), Typeflag: tar.TypeReg, Mode: 0o644, ModTime: epoch()}); err != nil {
			t.Fatal(err)
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		layers[i] = BytesBlob(buf.Bytes())
	}
	cf := v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	for _, l := range layers {
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, l.Digest)
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.OCIUncompressedLayer, Size: l.Size, Digest: l.Digest})
	}
	cb, err := json.Marshal(cf)
	if err != nil {
		t.Fatal(err)
	}
	config := BytesBlob(cb)
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Size: config.Size, Digest: config.Digest}
	mb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	host := GeneratedRegistry(t, map[string]Blob{"latest": BytesBlob(mb)}, types.OCIManifestSchema1, append(layers, config))
	return host + "/img:latest"
}
