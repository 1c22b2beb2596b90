package imageref

import (
	"errors"
	"strings"
	"testing"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		kind    Kind
		name    string // Name.Name() for registry and daemon
		path    string
		tag     string
		digest  string
		http    bool   // registry reached over plain HTTP
		wantErr error  // errors.Is target, when the error has one
		errText string // substring of the error, for any failure
	}{
		{in: "docker.io/library/alpine", kind: Registry, name: "index.docker.io/library/alpine:latest"},
		{in: "alpine:3.20", kind: Registry, name: "index.docker.io/library/alpine:3.20"},
		{in: "alpine@" + testDigest, kind: Registry, name: "index.docker.io/library/alpine@" + testDigest},
		{in: "localhost:5000/x:y", kind: Registry, name: "localhost:5000/x:y", http: true},
		{in: "127.0.0.1:41234/repo:tag", kind: Registry, name: "127.0.0.1:41234/repo:tag", http: true},
		{in: "[::1]:5000/repo", kind: Registry, name: "[::1]:5000/repo:latest", http: true},
		{in: "ghcr.io/a/b:c", kind: Registry, name: "ghcr.io/a/b:c"},
		{in: "alpine:Latest", kind: Registry, name: "index.docker.io/library/alpine:Latest"},
		{in: "oci-layout:///tmp/a:b:v1", kind: Layout, path: "/tmp/a:b", tag: "v1"},
		{in: "oci-layout:///tmp/a:b/", kind: Layout, path: "/tmp/a:b"},
		{in: "oci-layout:///", kind: Layout, path: "/"},
		{in: "oci-layout://dir", kind: Layout, path: "dir"},
		{in: "oci-layout://dir:v1.2_x-y", kind: Layout, path: "dir", tag: "v1.2_x-y"},
		{in: "oci-layout://dir@" + testDigest, kind: Layout, path: "dir", digest: testDigest},
		{in: "oci-layout:///x@y:z/dir@" + testDigest, kind: Layout, path: "/x@y:z/dir", digest: testDigest},
		{in: "OCI-LAYOUT://dir", kind: Layout, path: "dir"},
		{in: "docker-archive://img.tar", kind: DockerArchive, path: "img.tar"},
		{in: "docker-archive://img.tar:myapp:v1", kind: DockerArchive, path: "img.tar", tag: "myapp:v1"},
		{in: "docker-archive:///tmp/a:b/img.tar:docker.io/library/alpine:3", kind: DockerArchive, path: "/tmp/a:b/img.tar", tag: "docker.io/library/alpine:3"},
		{in: "docker-daemon://myapp:fat", kind: DockerDaemon, name: "index.docker.io/library/myapp:fat"},

		{in: "", errText: "empty reference"},
		{in: "   ", errText: "empty reference"},
		{in: "ftp://x", wantErr: ErrUnknownScheme, errText: "oci-layout://, docker-archive://, docker-daemon://"},
		{in: "docker://alpine", wantErr: ErrUnknownScheme},
		{in: "Alpine:latest", errText: "repository names must be lower case"},
		{in: "docker.io/Library/alpine:Latest", errText: "repository names must be lower case"},
		{in: "a b", errText: "parsing image reference"},
		{in: "alpine:", errText: "parsing image reference"},
		{in: "alpine@sha256:xyz", errText: "parsing image reference"},
		{in: "oci-layout://", errText: "no layout directory"},
		{in: "oci-layout://:v1", errText: "no layout directory"},
		{in: "oci-layout://dir:", errText: "empty tag"},
		{in: "oci-layout://dir:v 1", errText: "invalid tag"},
		{in: "oci-layout://dir@sha256:abc", errText: "invalid digest"},
		{in: "docker-archive://", errText: "no archive file"},
		{in: "docker-archive://img.tar:", errText: "empty image reference"},
		{in: "docker-daemon://", errText: "no image name"},
		{in: "docker-daemon://UPPER", errText: "parsing image reference"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			r, err := Parse(tt.in)
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want an error", tt.in, r)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Parse(%q) error %v, want errors.Is %v", tt.in, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("Parse(%q) error %q, want it to contain %q", tt.in, err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if r.Kind != tt.kind || r.Path != tt.path || r.Tag != tt.tag || r.Digest != tt.digest || r.Raw != tt.in {
				t.Errorf("Parse(%q) = {%v %q path=%q tag=%q digest=%q}, want {%v path=%q tag=%q digest=%q}",
					tt.in, r.Kind, r.Raw, r.Path, r.Tag, r.Digest, tt.kind, tt.path, tt.tag, tt.digest)
			}
			if tt.name != "" {
				if r.Name == nil || r.Name.Name() != tt.name {
					t.Errorf("Parse(%q).Name = %v, want %s", tt.in, r.Name, tt.name)
				}
			}
			if r.Kind == Registry {
				if got := r.Name.Context().Scheme() == "http"; got != tt.http {
					t.Errorf("Parse(%q): plain HTTP = %v, want %v", tt.in, got, tt.http)
				}
			}
			assertRoundTrip(t, r)
		})
	}
}

func assertRoundTrip(t *testing.T, r Ref) {
	t.Helper()
	back, err := Parse(r.String())
	if err != nil {
		t.Fatalf("Parse(%q) (String of %q): %v", r.String(), r.Raw, err)
	}
	if !sameRef(back, r) {
		t.Errorf("Parse(%q) = {%v path=%q tag=%q digest=%q name=%v}, want {%v path=%q tag=%q digest=%q name=%v}",
			r.String(), back.Kind, back.Path, back.Tag, back.Digest, back.Name, r.Kind, r.Path, r.Tag, r.Digest, r.Name)
	}
}

func sameRef(a, b Ref) bool {
	sameName := (a.Name == nil) == (b.Name == nil) && (a.Name == nil || a.Name.Name() == b.Name.Name())
	return sameName && a.Kind == b.Kind && a.Path == b.Path && a.Tag == b.Tag && a.Digest == b.Digest
}

// Refs built by hand, not by Parse, must still print as something Parse reads back.
func TestStringRoundTrip(t *testing.T) {
	t.Parallel()
	for _, r := range []Ref{
		{Kind: Layout, Path: "/tmp/a:b"},
		{Kind: Layout, Path: "/tmp/a@sha256:x"},
		{Kind: Layout, Path: "/tmp/a:b", Tag: "v1"},
		{Kind: Layout, Path: "rel", Digest: testDigest},
		{Kind: DockerArchive, Path: "/tmp/x.tar", Tag: "app:v1"},
	} {
		assertRoundTrip(t, r)
	}
}

func TestWithInsecure(t *testing.T) {
	t.Parallel()
	r, err := Parse("registry.example.com/x:y", WithInsecure(true))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Name.Context().Scheme(); got != "http" {
		t.Errorf("scheme with WithInsecure(true) = %s, want http", got)
	}
	r, err = Parse("registry.example.com/x:y")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Name.Context().Scheme(); got != "https" {
		t.Errorf("scheme by default = %s, want https", got)
	}
}

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/arm64/v8", "linux/arm64/v8", true},
		{"windows/amd64:10.0.17763.1234", "windows/amd64:10.0.17763.1234", true},
		{"", "", false},
		{"linux", "", false},
		{"linux/arm/v7/x", "", false},
	} {
		p, err := ParsePlatform(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParsePlatform(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && p.String() != tt.want {
			t.Errorf("ParsePlatform(%q) = %s, want %s", tt.in, p, tt.want)
		}
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts prints back to
// an equal Ref.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"alpine", "localhost:5000/x:y", "alpine@" + testDigest, "oci-layout:///tmp/a:b:v1",
		"oci-layout://dir@" + testDigest, "oci-layout://a:b/", "docker-archive://x.tar:app:v1",
		"docker-daemon://app", "ftp://x", "", "oci-layout://@:/", "docker-archive://:a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		if r.Raw != s {
			t.Fatalf("Raw = %q, want %q", r.Raw, s)
		}
		back, err := Parse(r.String())
		if err != nil {
			t.Fatalf("Parse(%q) accepted, but its String %q is refused: %v", s, r.String(), err)
		}
		if !sameRef(back, r) {
			t.Fatalf("Parse(%q).String() = %q reads back as {%v %q %q %q}, want {%v %q %q %q}",
				s, r.String(), back.Kind, back.Path, back.Tag, back.Digest, r.Kind, r.Path, r.Tag, r.Digest)
		}
	})
}

func TestQualified(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"alpine:3.20", "docker.io/library/alpine:3.20", true},
		{"alpine", "docker.io/library/alpine:latest", true},
		{"docker-image://alpine:3.20", "docker.io/library/alpine:3.20", true},
		{"gcr.io/distroless/static@" + d, "gcr.io/distroless/static@" + d, true},
		{"localhost:5000/team/base:v1", "localhost:5000/team/base:v1", true},
		{"index.docker.io/me/app:1", "docker.io/me/app:1", true},
		{"oci-layout:///bases/cc:latest", "", false},
		{"docker-archive:///tmp/base.tar", "", false},
		{"docker-daemon://alpine:3.20", "", false},
		{"./out", "", false},
	} {
		r, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		got, ok := r.Qualified()
		if got != tt.want || ok != tt.ok {
			t.Errorf("Qualified(%s) = %q, %t; want %q, %t", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
