package mediatype

import (
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseFamily(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Family
		wantErr error
	}{
		{"oci", OCI, nil},
		{" Docker ", Docker, nil},
		{"v2", "", ErrFamily},
		{"", "", ErrFamily},
	} {
		got, err := ParseFamily(tt.in)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("ParseFamily(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestConvert(t *testing.T) {
	for _, tt := range []struct {
		mt      types.MediaType
		of      Family
		oci     types.MediaType
		docker  types.MediaType
		wantErr error // converting to Docker
	}{
		{types.DockerManifestSchema2, Docker, types.OCIManifestSchema1, types.DockerManifestSchema2, nil},
		{types.OCIManifestSchema1, OCI, types.OCIManifestSchema1, types.DockerManifestSchema2, nil},
		{types.DockerManifestList, Docker, types.OCIImageIndex, types.DockerManifestList, nil},
		{types.OCIImageIndex, OCI, types.OCIImageIndex, types.DockerManifestList, nil},
		{types.DockerConfigJSON, Docker, types.OCIConfigJSON, types.DockerConfigJSON, nil},
		{types.OCILayer, OCI, types.OCILayer, types.DockerLayer, nil},
		{types.DockerLayer, Docker, types.OCILayer, types.DockerLayer, nil},
		{types.DockerUncompressedLayer, Docker, types.OCIUncompressedLayer, types.DockerUncompressedLayer, nil},
		{types.DockerForeignLayer, Docker, types.OCIRestrictedLayer, types.DockerForeignLayer, nil},
		{types.OCILayerZStd, OCI, types.OCILayerZStd, "", ErrMediaType},
		{types.OCIUncompressedRestrictedLayer, OCI, types.OCIUncompressedRestrictedLayer, "", ErrMediaType},
		{types.DockerManifestSchema1, "", types.DockerManifestSchema1, types.DockerManifestSchema1, nil},
		{"application/vnd.example+json", "", "application/vnd.example+json", "application/vnd.example+json", nil},
	} {
		t.Run(string(tt.mt), func(t *testing.T) {
			if got := Of(tt.mt); got != tt.of {
				t.Errorf("Of = %q, want %q", got, tt.of)
			}
			if got := ToOCI(tt.mt); got != tt.oci {
				t.Errorf("ToOCI = %s, want %s", got, tt.oci)
			}
			got, err := Convert(tt.mt, Docker)
			if got != tt.docker || !errors.Is(err, tt.wantErr) {
				t.Errorf("Convert(Docker) = %q, %v; want %q, %v", got, err, tt.docker, tt.wantErr)
			}
		})
	}
}

func TestChoose(t *testing.T) {
	for _, tt := range []struct {
		name   string
		from   types.MediaType
		layers []types.MediaType
		want   Family
	}{
		{"docker base", types.DockerManifestSchema2, []types.MediaType{types.DockerLayer, types.OCILayer}, Docker},
		{"oci base", types.OCIManifestSchema1, []types.MediaType{types.DockerLayer}, OCI},
		{"zstd makes docker oci", types.DockerManifestSchema2, []types.MediaType{types.DockerLayer, types.OCILayerZStd}, OCI},
		{"unknown base", "", nil, OCI},
	} {
		if got := Choose(tt.from, tt.layers...); got != tt.want {
			t.Errorf("%s: Choose = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLayer(t *testing.T) {
	for _, tt := range []struct {
		f       Family
		c       compression.Compression
		want    types.MediaType
		wantErr error
	}{
		{OCI, compression.GZip, types.OCILayer, nil},
		{OCI, compression.ZStd, types.OCILayerZStd, nil},
		{OCI, compression.None, types.OCIUncompressedLayer, nil},
		{Docker, compression.GZip, types.DockerLayer, nil},
		{Docker, compression.None, types.DockerUncompressedLayer, nil},
		{Docker, compression.ZStd, "", ErrMediaType},
		{"appc", compression.GZip, "", ErrFamily},
		{OCI, "lz4", "", ErrMediaType},
	} {
		got, err := Layer(tt.f, tt.c)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("Layer(%q, %q) = %q, %v; want %q, %v", tt.f, tt.c, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestEmpty(t *testing.T) {
	for _, tt := range []struct {
		f                 Family
		image, cfg, index types.MediaType
	}{
		{OCI, types.OCIManifestSchema1, types.OCIConfigJSON, types.OCIImageIndex},
		{Docker, types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerManifestList},
	} {
		mf, err := EmptyImage(tt.f).Manifest()
		if err != nil || mf.MediaType != tt.image || mf.Config.MediaType != tt.cfg {
			t.Errorf("EmptyImage(%s): %v, %v", tt.f, mf, err)
		}
		if mt, err := EmptyIndex(tt.f).MediaType(); err != nil || mt != tt.index {
			t.Errorf("EmptyIndex(%s) = %s, %v", tt.f, mt, err)
		}
	}
}

func TestBaseAnnotations(t *testing.T) {
	const d1, d2 = "sha256:1111", "sha256:2222"
	named := func(name, digest string) map[string]string { return NewBaseAnnotations(name, digest) }
	cfg := func(labels map[string]string) *v1.ConfigFile {
		return &v1.ConfigFile{Config: v1.Config{Labels: labels}}
	}
	for _, tt := range []struct {
		name                 string
		mf                   *v1.Manifest
		cf                   *v1.ConfigFile
		wantName, wantDigest string
	}{
		{"none", &v1.Manifest{}, cfg(nil), "", ""},
		{"nil both", nil, nil, "", ""},
		{"annotations", &v1.Manifest{Annotations: named("r.io/a:1", d1)}, cfg(named("r.io/b:1", d2)), "r.io/a:1", d1},
		{"labels when no annotations", &v1.Manifest{}, cfg(named("r.io/b:1", d2)), "r.io/b:1", d2},
		{"annotations with only a digest win over labels", &v1.Manifest{Annotations: named("", d1)}, cfg(named("r.io/b:1", "")), "", d1},
		// A built-in base is named under slim's own key, not the spec's base.name.
		{"built-in", &v1.Manifest{Annotations: named("static", d1)}, cfg(nil), "static", d1},
		{"built-in in labels", &v1.Manifest{}, cfg(named("scratch", "")), "scratch", ""},
		{"digest only", &v1.Manifest{Annotations: named("", d1)}, cfg(nil), "", d1},
	} {
		n, d := BaseAnnotations(tt.mf, tt.cf)
		if n != tt.wantName || d != tt.wantDigest {
			t.Errorf("%s: BaseAnnotations = %q, %q; want %q, %q", tt.name, n, d, tt.wantName, tt.wantDigest)
		}
	}
	if a := NewBaseAnnotations("docker.io/library/x:1", ""); len(a) != 1 || a[specs.AnnotationBaseImageName] != "docker.io/library/x:1" {
		t.Errorf("NewBaseAnnotations(docker.io/library/x:1, \"\") = %v", a)
	}
	if a := NewBaseAnnotations("static", ""); len(a) != 1 || a[AnnotationBuiltinBase] != "static" {
		t.Errorf("NewBaseAnnotations(static, \"\") = %v: a built-in base belongs under %s", a, AnnotationBuiltinBase)
	}
}

func TestLayerCompression(t *testing.T) {
	for mt, want := range map[types.MediaType]compression.Compression{
		types.OCILayer: compression.GZip, types.DockerLayer: compression.GZip, types.DockerForeignLayer: compression.GZip,
		types.OCILayerZStd:         compression.ZStd,
		types.OCIUncompressedLayer: compression.None, types.DockerUncompressedLayer: compression.None,
	} {
		if got, ok := LayerCompression(mt); !ok || got != want {
			t.Errorf("LayerCompression(%s) = %s, %t; want %s", mt, got, ok, want)
		}
	}
	if _, ok := LayerCompression(types.OCIManifestSchema1); ok {
		t.Error("a manifest type is no layer type")
	}
}
