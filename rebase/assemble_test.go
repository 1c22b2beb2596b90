package rebase

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/slim-dev/slim/internal/mediatype"
	"github.com/slim-dev/slim/internal/testimage"
)

func TestMergeConfig(t *testing.T) {
	base := v1.Config{
		Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "TZ=UTC"},
		Entrypoint:   []string{"/docker-entrypoint.sh"},
		Cmd:          []string{"/bin/sh"},
		WorkingDir:   "/",
		User:         "root",
		Labels:       map[string]string{"vendor": "base", "keep": "base"},
		ExposedPorts: map[string]struct{}{"22/tcp": {}},
		StopSignal:   "SIGTERM",
		Volumes:      map[string]struct{}{"/data": {}},
	}
	src := &v1.ConfigFile{Config: v1.Config{
		Env:          []string{"PATH=/app/bin:/usr/bin", "TZ=Europe/Paris", "APP=1"},
		Entrypoint:   []string{"/app/server"},
		Cmd:          []string{"--port", "8080"},
		WorkingDir:   "/app",
		User:         "nonroot",
		Labels:       map[string]string{"vendor": "src", "app": "server"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		StopSignal:   "SIGINT",
		Healthcheck:  &v1.HealthConfig{Test: []string{"CMD", "/app/server", "-health"}},
		Volumes:      map[string]struct{}{"/var/lib/app": {}},
	}}
	srcCmdOnly := &v1.ConfigFile{Config: v1.Config{Cmd: []string{"/app/server"}}}

	tests := []struct {
		name string
		src  *v1.ConfigFile
		opts []AssembleOption
		want func(c *v1.Config)
	}{
		{
			name: "no source keeps the base",
			want: func(c *v1.Config) {},
		},
		{
			name: "source runtime config over base",
			src:  src,
			want: func(c *v1.Config) {
				c.Env = []string{"PATH=/app/bin:/usr/bin:/usr/local/bin:/bin", "LANG=C.UTF-8", "TZ=Europe/Paris", "APP=1"}
				c.Entrypoint = []string{"/app/server"}
				c.Cmd = []string{"--port", "8080"}
				c.WorkingDir = "/app"
				c.User = "nonroot"
				c.Labels = map[string]string{"vendor": "src", "keep": "base", "app": "server"}
				c.ExposedPorts = map[string]struct{}{"22/tcp": {}, "8080/tcp": {}}
				c.StopSignal = "SIGINT"
				c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "/app/server", "-health"}}
			},
		},
		{
			name: "source cmd alone replaces the base's entrypoint and cmd",
			src:  srcCmdOnly,
			want: func(c *v1.Config) {
				c.Entrypoint = nil
				c.Cmd = []string{"/app/server"}
			},
		},
		{
			name: "overrides win",
			src:  src,
			opts: []AssembleOption{
				WithCmd("--port", "9090"), WithEnv("PATH=/only", "NEW=x"), WithUser("65532:65532"),
				WithWorkdir("/srv"), WithLabel("vendor", "me"), WithExpose("9090", "53/udp"),
			},
			want: func(c *v1.Config) {
				c.Env = []string{"PATH=/only", "LANG=C.UTF-8", "TZ=Europe/Paris", "APP=1", "NEW=x"}
				c.Entrypoint = []string{"/app/server"}
				c.Cmd = []string{"--port", "9090"}
				c.WorkingDir = "/srv"
				c.User = "65532:65532"
				c.Labels = map[string]string{"vendor": "me", "keep": "base", "app": "server"}
				c.ExposedPorts = map[string]struct{}{"22/tcp": {}, "8080/tcp": {}, "9090/tcp": {}, "53/udp": {}}
				c.StopSignal = "SIGINT"
				c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "/app/server", "-health"}}
			},
		},
		{
			name: "entrypoint override clears cmd",
			src:  src,
			opts: []AssembleOption{WithEntrypoint("/app/other")},
			want: func(c *v1.Config) {
				*c = mergeConfig(base, src, &assembly{})
				c.Entrypoint = []string{"/app/other"}
				c.Cmd = nil
			},
		},
		{
			name: "entrypoint and cmd overrides together",
			opts: []AssembleOption{WithEntrypoint("/x"), WithCmd("a")},
			want: func(c *v1.Config) {
				c.Entrypoint = []string{"/x"}
				c.Cmd = []string{"a"}
			},
		},
		{
			name: "empty entrypoint override removes it",
			opts: []AssembleOption{WithEntrypoint()},
			want: func(c *v1.Config) {
				c.Entrypoint = nil
				c.Cmd = nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := *base.DeepCopy()
			tt.want(&want)
			o := makeAssembleOptions(tt.opts)
			got := mergeConfig(base, tt.src, &o.assembly)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAssemble(t *testing.T) {
	ctx := context.Background()
	epoch := time.Unix(1700000000, 0).UTC()
	src := &v1.ConfigFile{Architecture: "amd64", OS: "linux", Config: v1.Config{Entrypoint: []string{"/app/server"}}}

	tests := []struct {
		name       string
		base       v1.Image
		layers     []v1.Layer
		opts       []AssembleOption
		wantFamily mediatype.Family
		wantErr    error
	}{
		{name: "oci base, oci layer", base: baseImage(t), layers: []v1.Layer{newLayer(t)}, wantFamily: mediatype.OCI},
		{name: "docker base, docker layer", base: baseImage(t, testimage.WithDocker()), layers: []v1.Layer{newLayer(t, testimage.WithDocker())}, wantFamily: mediatype.Docker},
		{name: "docker base, oci layer becomes docker", base: baseImage(t, testimage.WithDocker()), layers: []v1.Layer{newLayer(t)}, wantFamily: mediatype.Docker},
		{name: "oci base, docker layer becomes oci", base: baseImage(t), layers: []v1.Layer{newLayer(t, testimage.WithDocker())}, wantFamily: mediatype.OCI},
		{name: "docker base, zstd layer makes all oci", base: baseImage(t, testimage.WithDocker()), layers: []v1.Layer{newLayer(t, testimage.WithCompression(testimage.Zstd))}, wantFamily: mediatype.OCI},
		{name: "forced docker", base: baseImage(t), layers: []v1.Layer{newLayer(t)}, opts: []AssembleOption{WithMediaTypes(mediatype.Docker)}, wantFamily: mediatype.Docker},
		{name: "forced docker refuses zstd", base: baseImage(t), layers: []v1.Layer{newLayer(t, testimage.WithCompression(testimage.Zstd))}, opts: []AssembleOption{WithMediaTypes(mediatype.Docker)}, wantErr: ErrMediaType},
		{name: "uncompressed layer", base: baseImage(t, testimage.WithDocker()), layers: []v1.Layer{newLayer(t, testimage.WithCompression(testimage.None))}, wantFamily: mediatype.Docker},
		{name: "two layers on scratch", base: mustScratch(t), layers: []v1.Layer{newLayer(t), testimage.Layer(t, []testimage.Entry{testimage.File("etc/x", "x")})}, wantFamily: mediatype.OCI},
		{name: "platform mismatch", base: baseImage(t, testimage.WithPlatform("linux", "arm64")), layers: []v1.Layer{newLayer(t)}, wantErr: ErrNoPlatform},
		{name: "bad media types option", base: baseImage(t), opts: []AssembleOption{WithMediaTypes("v2")}, wantErr: ErrBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]AssembleOption{WithBaseName("example.com/base:1"), WithSourceDateEpoch(epoch),
				WithHistory("slim: --from builder:/app/server (1 file)")}, tt.opts...)
			img, err := Assemble(ctx, tt.base, tt.layers, src, opts...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			testimage.Validate(t, img)

			// Base layers keep their digests; new layers follow with theirs.
			want := digests(t, tt.base)
			for _, l := range tt.layers {
				d, _ := l.Digest()
				want = append(want, d)
			}
			if got := digests(t, img); !slices.Equal(got, want) {
				t.Errorf("layer digests %v, want %v", got, want)
			}

			mf, _ := img.Manifest()
			family := mediatype.OCI
			if mf.MediaType == types.DockerManifestSchema2 {
				family = mediatype.Docker
			}
			if family != tt.wantFamily {
				t.Errorf("manifest %s, want %s family", mf.MediaType, tt.wantFamily)
			}
			for _, d := range append([]v1.Descriptor{mf.Config}, mf.Layers...) {
				if isDocker := strings.Contains(string(d.MediaType), "docker"); isDocker != (family == mediatype.Docker) {
					t.Errorf("descriptor %s has %s in a %s manifest", d.Digest, d.MediaType, family)
				}
			}

			// Annotations (labels on Docker manifests).
			cf := configOf(t, img)
			names := mf.Annotations
			if family == mediatype.Docker {
				names = cf.Config.Labels
			}
			if names[specs.AnnotationBaseImageName] != "example.com/base:1" {
				t.Errorf("base name %q", names[specs.AnnotationBaseImageName])
			}
			if baseLayers := digests(t, tt.base); len(baseLayers) > 0 {
				bd, _ := tt.base.Digest()
				if names[specs.AnnotationBaseImageDigest] != bd.String() {
					t.Errorf("base digest %q, want %s", names[specs.AnnotationBaseImageDigest], bd)
				}
			}

			// History: base entries, then one per new layer; times from the epoch option.
			baseHist := configOf(t, tt.base).History
			if len(cf.History) != len(baseHist)+len(tt.layers) {
				t.Fatalf("%d history entries, want %d", len(cf.History), len(baseHist)+len(tt.layers))
			}
			if got := cf.History[len(baseHist)].CreatedBy; got != "slim: --from builder:/app/server (1 file)" {
				t.Errorf("history %q", got)
			}
			if !cf.Created.Time.Equal(epoch) || !cf.History[len(cf.History)-1].Created.Time.Equal(epoch) {
				t.Errorf("created %v / %v, want %v", cf.Created, cf.History[len(cf.History)-1].Created, epoch)
			}
			if !slices.Equal(cf.Config.Entrypoint, []string{"/app/server"}) {
				t.Errorf("entrypoint %q", cf.Config.Entrypoint)
			}

			// Same inputs, same digest.
			again, err := Assemble(ctx, tt.base, tt.layers, src, opts...)
			if err != nil {
				t.Fatal(err)
			}
			d1, _ := img.Digest()
			d2, _ := again.Digest()
			if d1 != d2 {
				t.Errorf("two assemblies differ: %s, %s", d1, d2)
			}
		})
	}
}

func mustScratch(t *testing.T) v1.Image {
	t.Helper()
	b, err := ResolveBase(context.Background(), "scratch", WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatal(err)
	}
	return b.Image
}

func TestAssembleIndex(t *testing.T) {
	ctx := context.Background()
	srcFor := func(arch string) v1.Image {
		return testimage.Image(t, [][]testimage.Entry{{testimage.File("app/server", "server for "+arch, 0o755)}},
			testimage.WithPlatform("linux", arch),
			testimage.WithConfig(func(c *v1.Config) { c.Entrypoint = []string{"/app/server"} }))
	}
	src := testimage.Index(t, map[string]v1.Image{
		"linux/amd64": srcFor("amd64"),
		"linux/arm64": srcFor("arm64"),
		"linux/s390x": srcFor("s390x"),
	})
	layersFor := func(ctx context.Context, p v1.Platform, img v1.Image) ([]v1.Layer, []string, error) {
		l := testimage.Layer(t, []testimage.Entry{testimage.File("app/server", "server for "+p.Architecture, 0o755)})
		return []v1.Layer{l}, []string{"slim: --from src:/app/server for " + p.Architecture}, nil
	}
	baseIdx := testimage.Index(t, map[string]v1.Image{
		"linux/amd64": baseImage(t),
		"linux/arm64": baseImage(t, testimage.WithPlatform("linux", "arm64")),
	})
	regBase := Base{Name: "example.com/base:1", Ref: "example.com/base:1", Index: baseIdx}
	static, err := ResolveBase(ctx, "static")
	if err != nil {
		t.Fatal(err)
	}
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	ppc := v1.Platform{OS: "linux", Architecture: "ppc64le"}

	tests := []struct {
		name    string
		base    Base
		opts    []IndexOption
		want    []string
		wantErr error
	}{
		{name: "index base: common platforms", base: regBase, want: []string{"linux/amd64", "linux/arm64"}},
		{name: "index base narrowed", base: regBase, opts: []IndexOption{WithPlatforms(arm64)}, want: []string{"linux/arm64"}},
		{name: "built-in base has every platform", base: static, want: []string{"linux/amd64", "linux/arm64", "linux/s390x"}},
		{name: "built-in narrowed to two", base: static, opts: []IndexOption{WithPlatforms(amd64, arm64)}, want: []string{"linux/amd64", "linux/arm64"}},
		{name: "narrowed to nothing", base: regBase, opts: []IndexOption{WithPlatforms(ppc)}, wantErr: ErrNoPlatform},
		{name: "single-image base of another platform", base: Base{Name: "b", Image: baseImage(t, testimage.WithPlatform("linux", "riscv64"))}, wantErr: ErrNoPlatform},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, err := AssembleIndex(ctx, tt.base, src, layersFor, tt.opts...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Index(idx); err != nil {
				t.Fatalf("validating index: %v", err)
			}
			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range im.Manifests {
				got = append(got, platformKey(*d.Platform))
				img, err := idx.Image(d.Digest)
				if err != nil {
					t.Fatal(err)
				}
				testimage.Validate(t, img)
				cf := configOf(t, img)
				if platformKey(configPlatform(cf)) != platformKey(*d.Platform) {
					t.Errorf("image for %s has config %s", platformKey(*d.Platform), platformKey(configPlatform(cf)))
				}
				if !slices.Equal(cf.Config.Entrypoint, []string{"/app/server"}) {
					t.Errorf("%s: entrypoint %q", platformKey(*d.Platform), cf.Config.Entrypoint)
				}
				if last := cf.History[len(cf.History)-1].CreatedBy; !strings.HasSuffix(last, d.Platform.Architecture) {
					t.Errorf("%s: history %q", platformKey(*d.Platform), last)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("platforms %v, want %v", got, tt.want)
			}
			if name, _ := mediatype.BaseAnnotations(&v1.Manifest{Annotations: im.Annotations}, nil); name != tt.base.AnnotationName() {
				t.Errorf("index base name %q, want %q", name, tt.base.AnnotationName())
			}
		})
	}
}
