package imageref

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/slim-dev/slim/internal/limits"
	"github.com/slim-dev/slim/internal/regerr"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/testimage"
)

// Issue 13, item 6: each layer's media type, size and blob used to re-read the whole
// manifest (2000 layers: 21 s; 20,000: over 10 minutes). Linear, 4000 take well under
// a second; the bound leaves room for -race and a busy machine.
func TestManyLayersLinearTime(t *testing.T) {
	t.Parallel()
	const n = 4000
	ref := testimage.ManyLayers(t, n)
	start := time.Now()
	r, err := Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Image(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	f, err := imagefs.New(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := len(f.Layers()); got != n {
		t.Fatalf("%d layers indexed, want %d", got, n)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("opening and indexing %d layers took %v: not linear", n, d)
	}
}

// tamperLayout rewrites the manifest of the one image of the layout at dir through fn.
func tamperLayout(t *testing.T, dir string, fn func(*v1.Manifest)) {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p.Bytes(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	fn(m)
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	h, size, _ := v1.SHA256(bytes.NewReader(raw))
	if err := p.WriteBlob(h, io.NopCloser(bytes.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	im.Manifests[0].Digest, im.Manifests[0].Size = h, size
	b, err := json.Marshal(im)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Issue 13, item 8: a descriptor whose size is not its blob's, and a layer of a type
// no spec defines, were read as if nothing were wrong.
func TestStrictReading(t *testing.T) {
	t.Parallel()
	img := testimage.Image(t, [][]testimage.Entry{{testimage.File("a", "1")}, {testimage.File("b", "2")}})
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := layers[1].Digest()
	tests := []struct {
		name    string
		tamper  func(*v1.Manifest)
		wantErr error
		want    string
	}{
		{"layer size larger", func(m *v1.Manifest) { m.Layers[1].Size++ }, ErrCorrupt, d1.String()},
		{"layer size smaller", func(m *v1.Manifest) { m.Layers[1].Size-- }, ErrCorrupt, d1.String()},
		{"config size", func(m *v1.Manifest) { m.Config.Size-- }, ErrCorrupt, "config sha256:"},
		{"unknown layer type", func(m *v1.Manifest) { m.Layers[1].MediaType = "application/vnd.example.layer" }, ErrUnknownMediaType, "application/vnd.example.layer"},
		{"config over the limit", func(m *v1.Manifest) { m.Config.Size = limits.Config + 1 }, limits.ErrExceeded, "4194304"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := testimage.WriteLayout(t, img)
			tamperLayout(t, dir, tt.tamper)
			r, err := Parse("oci-layout://" + dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Image(context.Background(), r)
			if err == nil {
				var f *imagefs.FS
				if f, err = imagefs.New(context.Background(), got); err == nil {
					f.Close()
				}
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %v naming %s", err, tt.wantErr, tt.want)
			}
		})
	}
}

// Issue 13, item 11: a registry that answers in plain HTTP, away from loopback, failed
// with Go's "server gave HTTP response to HTTPS client" and no word of --insecure.
func TestPlainHTTPRegistryHint(t *testing.T) {
	t.Parallel()
	host := testimage.Registry(t) // plain HTTP on 127.0.0.1
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, host)
	}}
	r, err := Parse("registry.example.com/app:1")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Open(context.Background(), r, WithTransport(tr))
	if !errors.Is(err, regerr.ErrPlainHTTP) || !strings.Contains(err.Error(), "--insecure") || !strings.Contains(err.Error(), "registry.example.com") {
		t.Fatalf("got %v, want %v naming the registry and --insecure", err, regerr.ErrPlainHTTP)
	}
}

// Issue 13, item 11: a path that does not exist is said to be missing, not looked up
// on Docker Hub.
func TestMissingPathIsNoRegistryName(t *testing.T) {
	t.Parallel()
	r, err := Parse("/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Open(context.Background(), r)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no file or directory /nonexistent") {
		t.Fatalf("got %v, want %v saying no file or directory", err, ErrNotFound)
	}
}
