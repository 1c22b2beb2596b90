package testimage

import (
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var sample = [][]Entry{
	{Dir("etc"), File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), Symlink("bin", "usr/bin"),
		{Name: "usr/bin/su", Body: []byte("su"), Mode: 0o4755, Xattrs: map[string]string{"security.capability": "x"}}},
	{Whiteout("etc/passwd"), Opaque("usr"), Hardlink("su2", "usr/bin/su")},
}

func TestImage(t *testing.T) {
	tests := []struct {
		name      string
		opts      []Option
		wantMT    types.MediaType
		wantLayer types.MediaType
	}{
		{"oci gzip", nil, types.OCIManifestSchema1, types.OCILayer},
		{"oci zstd", []Option{WithCompression(Zstd)}, types.OCIManifestSchema1, types.OCILayerZStd},
		{"oci none", []Option{WithCompression(None)}, types.OCIManifestSchema1, types.OCIUncompressedLayer},
		{"docker gzip", []Option{WithDocker()}, types.DockerManifestSchema2, types.DockerLayer},
		{"docker none", []Option{WithDocker(), WithCompression(None)}, types.DockerManifestSchema2, types.DockerUncompressedLayer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append(tt.opts, WithPlatform("linux", "arm/v7"), WithConfig(func(c *v1.Config) {
				c.Entrypoint = []string{"/bin/sh"}
				c.Env = []string{"A=1"}
			}))
			img := Image(t, sample, opts...)
			Validate(t, img)
			if mt, _ := img.MediaType(); mt != tt.wantMT {
				t.Errorf("manifest media type = %s, want %s", mt, tt.wantMT)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 2 {
				t.Fatalf("layers = %d, %v", len(layers), err)
			}
			for _, l := range layers {
				if mt, _ := l.MediaType(); mt != tt.wantLayer {
					t.Errorf("layer media type = %s, want %s", mt, tt.wantLayer)
				}
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Architecture != "arm" || cf.Variant != "v7" || cf.Config.Entrypoint[0] != "/bin/sh" || len(cf.History) != 2 || cf.History[1].CreatedBy == "" {
				t.Errorf("config = %+v", cf)
			}
			// Same inputs, same digest: tests may compare digests.
			d1, _ := img.Digest()
			d2, _ := Image(t, sample, opts...).Digest()
			if d1 != d2 {
				t.Errorf("digest not reproducible: %s vs %s", d1, d2)
			}
		})
	}
}

func TestLayerOrderAndHeaders(t *testing.T) {
	l := Layer(t, sample[0], WithCompression(Zstd))
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	for _, m := range ReadTar(t, rc) {
		h := m.Header
		names = append(names, h.Name)
		if h.Name == "usr/bin/su" && (h.Mode != 0o4755 || h.PAXRecords["SCHILY.xattr.security.capability"] != "x") {
			t.Errorf("su header = %+v", h)
		}
	}
	want := []string{"etc", "etc/passwd", "bin", "usr/bin/su"}
	if len(names) != len(want) {
		t.Fatalf("names = %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("names = %q, want %q", names, want)
		}
	}
	if w, o := Whiteout("a/b/"), Opaque("a"); w.Name != "a/.wh.b" || o.Name != "a/.wh..wh..opq" {
		t.Errorf("whiteout %q, opaque %q", w.Name, o.Name)
	}
}

func TestOutputs(t *testing.T) {
	img := Image(t, sample)
	arm := Image(t, sample, WithPlatform("linux", "arm64"))
	idx := Index(t, map[string]v1.Image{"linux/amd64": img, "linux/arm64": arm})
	if err := validate.Index(idx); err != nil {
		t.Fatalf("validate index: %v", err)
	}
	want, _ := img.Digest()

	t.Run("layout", func(t *testing.T) {
		for _, v := range []any{img, idx} {
			dir := WriteLayout(t, v)
			ii, err := layout.ImageIndexFromPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ii.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "latest" {
				t.Errorf("index.json = %+v", m)
			}
		}
	})
	t.Run("docker archive", func(t *testing.T) {
		file := WriteDockerArchive(t, img, "example.com/app:v1")
		tag, _ := name.NewTag("example.com/app:v1")
		got, err := tarball.ImageFromPath(file, &tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(got); err != nil {
			t.Fatalf("validate: %v", err)
		}
	})
	t.Run("registry", func(t *testing.T) {
		host := Registry(t)
		ref := Push(t, host, "app:v1", img)
		r, _ := name.ParseReference(ref)
		got, err := remote.Image(r)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := got.Digest(); d != want {
			t.Errorf("pulled %s, want %s", d, want)
		}
		iref := Push(t, host, "app:multi", idx)
		r, _ = name.ParseReference(iref)
		gi, err := remote.Index(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Index(gi); err != nil {
			t.Fatalf("validate pulled index: %v", err)
		}
	})
}

func TestImageFromLayers(t *testing.T) {
	img := ImageFromLayers(t, []v1.Layer{Layer(t, sample[0]), Layer(t, sample[1])})
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatal(err)
	}
}
