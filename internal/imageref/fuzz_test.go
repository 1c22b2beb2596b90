package imageref

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
)

// rawImage is an image that is only its manifest bytes; strict asks nothing else of
// it when it is given a blob opener.
type rawImage struct {
	v1.Image
	manifest []byte
}

func (r rawImage) RawManifest() ([]byte, error) { return r.manifest, nil }

// FuzzStrictImage feeds arbitrary manifest and config bytes to the reader every
// image goes through: it must refuse or give an image whose answers hold together.
func FuzzStrictImage(f *testing.F) {
	img := testimage.Image(f, [][]testimage.Entry{{testimage.File("a", "1")}})
	m, _ := img.RawManifest()
	c, _ := img.RawConfigFile()
	f.Add(m, c)
	f.Add([]byte(`{"schemaVersion":2,"config":{"size":-1},"layers":[{"mediaType":"x"}]}`), []byte(`{}`))
	f.Add([]byte(`{"layers":null}`), []byte(`{"rootfs":{"diff_ids":["sha256:00"]}}`))
	f.Fuzz(func(t *testing.T, manifest, config []byte) {
		open := func(_ v1.Image, d v1.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(config)), nil
		}
		got, err := strict(rawImage{manifest: manifest}, open, nil)
		if err != nil {
			return
		}
		m, err := got.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		cf, err := got.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		layers, err := got.Layers()
		if err != nil {
			t.Fatal(err)
		}
		if len(layers) != len(m.Layers) || len(layers) != len(cf.RootFS.DiffIDs) {
			t.Fatalf("%d layers, %d descriptors, %d diff ids", len(layers), len(m.Layers), len(cf.RootFS.DiffIDs))
		}
		for i, l := range layers {
			if d, _ := l.Digest(); d != m.Layers[i].Digest {
				t.Fatalf("layer %d is %s, its descriptor %s", i, d, m.Layers[i].Digest)
			}
		}
	})
}

// FuzzLayoutIndex feeds arbitrary bytes as an OCI layout's index.json, which Open
// reads to find the image a reference names.
func FuzzLayoutIndex(f *testing.F) {
	dir := testimage.WriteLayout(f, testimage.Image(f, [][]testimage.Entry{{testimage.File("a", "1")}}))
	good, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "")
	f.Add(good, "latest")
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","size":99999999999,"digest":"sha256:`+
		"0000000000000000000000000000000000000000000000000000000000000000"+`"}]}`), "")
	f.Fuzz(func(t *testing.T, index []byte, tag string) {
		d := t.TempDir()
		for _, name := range []string{"oci-layout", "blobs"} {
			if err := os.Symlink(filepath.Join(dir, name), filepath.Join(d, name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(d, "index.json"), index, 0o644); err != nil {
			t.Fatal(err)
		}
		img, idx, err := openLayout(Ref{Kind: Layout, Path: d, Tag: tag})
		if err == nil && (img == nil) == (idx == nil) {
			t.Fatalf("openLayout gave image %v and index %v", img, idx)
		}
	})
}

// FuzzArchiveManifest feeds arbitrary bytes as a docker archive's manifest.json.
func FuzzArchiveManifest(f *testing.F) {
	img := testimage.Image(f, [][]testimage.Entry{{testimage.File("a", "1")}})
	file := testimage.WriteDockerArchive(f, img, "app:v1")
	members := map[string][]byte{}
	fh, err := os.Open(file)
	if err != nil {
		f.Fatal(err)
	}
	tr := tar.NewReader(fh)
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		members[h.Name] = b
		names = append(names, h.Name)
	}
	fh.Close()
	f.Add(members["manifest.json"])
	f.Add([]byte(`[{"Config":"../../etc/passwd","Layers":["/dev/zero"]}]`))
	f.Add([]byte(`[{"Config":"` + names[0] + `","Layers":[],"LayerSources":{"sha256:00":{}}}]`))
	f.Fuzz(func(t *testing.T, manifest []byte) {
		p := filepath.Join(t.TempDir(), "a.tar")
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, n := range names {
			b := members[n]
			if n == "manifest.json" {
				b = manifest
			}
			tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}) //nolint:errcheck // into memory
			tw.Write(b)                                                                                   //nolint:errcheck // into memory
		}
		tw.Close()
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := openArchive(context.Background(), Ref{Kind: DockerArchive, Path: p})
		if err != nil {
			return
		}
		if _, err := got.Layers(); err != nil {
			t.Fatalf("an archive that opens lists no layers: %v", err)
		}
	})
}
