package rebase

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/rebase/static"
)

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"distroless/cc":     "SLIM_BASE_DISTROLESS_CC",
		"alpine":            "SLIM_BASE_ALPINE",
		"distroless/static": "SLIM_BASE_DISTROLESS_STATIC",
		"my-base.v2":        "SLIM_BASE_MY_BASE_V2",
	} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

// failingTransport fails every request the way a machine without network does.
type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

func TestResolveBase(t *testing.T) {
	ctx := context.Background()
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	host := testimage.Registry(t)
	baseIdx := testimage.Index(t, map[string]v1.Image{
		"linux/amd64": baseImage(t),
		"linux/arm64": baseImage(t, testimage.WithPlatform("linux", "arm64")),
	})
	regRef := testimage.Push(t, host, "distroless/cc:test", baseIdx)
	layoutDir := testimage.WriteLayout(t, baseImage(t))
	layoutRef := "oci-layout://" + layoutDir + ":latest"
	env := map[string]string{"SLIM_BASE_DISTROLESS_CC": regRef}
	getenv := func(k string) string { return env[k] }
	noEnv := WithGetenv(func(string) string { return "" })
	offline := WithRefOptions(imageref.WithTransport(failingTransport{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("network is unreachable")}}))
	dnsFail := WithRefOptions(imageref.WithTransport(failingTransport{&net.DNSError{Err: "no such host", Name: "gcr.io", IsNotFound: true}}))

	tests := []struct {
		name      string
		base      string
		opts      []BaseOption
		wantRef   string
		wantLayer int
		wantIndex bool
		wantArch  string
		wantErr   error
		wantMsg   string
	}{
		{name: "scratch", base: "scratch", opts: []BaseOption{WithPlatform(arm64)}, wantLayer: 0, wantArch: "arm64"},
		{name: "static", base: "static", opts: []BaseOption{WithPlatform(arm64)}, wantLayer: 1, wantArch: "arm64"},
		{name: "alias from environment", base: "distroless/cc", opts: []BaseOption{WithGetenv(getenv), WithPlatform(arm64)}, wantRef: regRef, wantLayer: 2, wantIndex: true, wantArch: "arm64"},
		{name: "alias from option beats environment", base: "distroless/cc", opts: []BaseOption{WithGetenv(getenv), WithAlias("distroless/cc", layoutRef), WithPlatform(amd64)}, wantRef: layoutRef, wantLayer: 2, wantArch: "amd64"},
		{name: "new alias word", base: "mine", opts: []BaseOption{WithAlias("mine", layoutRef), WithPlatform(amd64)}, wantRef: layoutRef, wantLayer: 2, wantArch: "amd64"},
		{name: "plain reference", base: regRef, opts: []BaseOption{WithPlatform(amd64)}, wantRef: regRef, wantLayer: 2, wantIndex: true, wantArch: "amd64"},
		{name: "layout reference", base: layoutRef, opts: []BaseOption{WithPlatform(amd64)}, wantRef: layoutRef, wantLayer: 2, wantArch: "amd64"},
		{name: "alias without network", base: "distroless/cc", opts: []BaseOption{noEnv, offline}, wantErr: ErrNoNetwork, wantMsg: "--base static"},
		{name: "reference without DNS", base: "gcr.io/distroless/cc-debian13:latest", opts: []BaseOption{dnsFail}, wantErr: ErrNoNetwork, wantMsg: "oci-layout://"},
		{name: "nothing listening", base: "127.0.0.1:1/nothing:here", opts: []BaseOption{}, wantErr: ErrNoNetwork},
		{name: "missing layout is not a network problem", base: "oci-layout:///nonexistent/dir", wantErr: imageref.ErrNotFound},
		{name: "empty name", base: " ", wantErr: ErrBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ResolveBase(ctx, tt.base, tt.opts...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != ErrNoNetwork && errors.Is(err, ErrNoNetwork) {
					t.Fatalf("error %v wrongly blames the network", err)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("error %q does not say %q", err, tt.wantMsg)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Ref != tt.wantRef {
				t.Errorf("ref %q, want %q", b.Ref, tt.wantRef)
			}
			if (b.Index != nil) != tt.wantIndex {
				t.Errorf("index %v, want %v", b.Index != nil, tt.wantIndex)
			}
			if err := validate.Image(b.Image); err != nil {
				t.Fatalf("validating base: %v", err)
			}
			if got := len(digests(t, b.Image)); got != tt.wantLayer {
				t.Errorf("%d layers, want %d", got, tt.wantLayer)
			}
			if got := configOf(t, b.Image).Architecture; got != tt.wantArch {
				t.Errorf("architecture %q, want %q", got, tt.wantArch)
			}
			// Every base gives an image for the platforms it has.
			other, err := b.ForPlatform(v1.Platform{OS: "linux", Architecture: tt.wantArch})
			if err != nil {
				t.Fatal(err)
			}
			d1, _ := other.Digest()
			d2, _ := b.Image.Digest()
			if d1 != d2 {
				t.Errorf("ForPlatform gives %s, Image is %s", d1, d2)
			}
		})
	}
}

func TestAliasesDocumented(t *testing.T) {
	doc := readDoc(t)
	for name, ref := range Aliases() {
		if !strings.Contains(doc, "| "+name+" ") || !strings.Contains(doc, ref) || !strings.Contains(doc, EnvName(name)) {
			t.Errorf("alias %s → %s (%s) is not in the package doc's table", name, ref, EnvName(name))
		}
	}
}

func TestStaticBaseName(t *testing.T) {
	b, err := ResolveBase(context.Background(), "static")
	if err != nil {
		t.Fatal(err)
	}
	if !b.Builtin() || b.AnnotationName() != Static {
		t.Errorf("builtin %v, name %q", b.Builtin(), b.AnnotationName())
	}
	want, err := static.Image(v1.Platform{OS: "linux", Architecture: configOf(t, b.Image).Architecture})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := want.Digest()
	d2, _ := b.Image.Digest()
	if d1 != d2 {
		t.Errorf("static base %s, package static gives %s", d2, d1)
	}
}

// TestAnnotationName: base.name is written only for a base another machine can pull by
// that name, and then in full, so that regctl image check-base finds it.
func TestAnnotationName(t *testing.T) {
	for _, tt := range []struct {
		base Base
		want string
	}{
		{Base{Name: Scratch, builtin: scratchImage}, Scratch},
		{Base{Name: Static, builtin: static.Image}, Static},
		{Base{Name: "alpine", Ref: "alpine:3.20"}, "docker.io/library/alpine:3.20"},
		{Base{Name: "distroless/cc", Ref: "gcr.io/distroless/cc-debian12"}, "gcr.io/distroless/cc-debian12:latest"},
		{Base{Name: "docker-image://busybox", Ref: "docker-image://busybox"}, "docker.io/library/busybox:latest"},
		{Base{Name: "oci-layout:///bases/cc", Ref: "oci-layout:///bases/cc"}, ""},
		{Base{Name: "docker-archive://b.tar", Ref: "docker-archive://b.tar"}, ""},
		{Base{Name: "docker-daemon://b:1", Ref: "docker-daemon://b:1"}, ""},
		{Base{Name: "./base", Ref: "./base"}, ""},
	} {
		if got := tt.base.AnnotationName(); got != tt.want {
			t.Errorf("base %q (%q): AnnotationName %q, want %q", tt.base.Name, tt.base.Ref, got, tt.want)
		}
	}
}
