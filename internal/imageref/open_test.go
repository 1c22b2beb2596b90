package imageref

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/moby/moby/client"
)

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// startRegistry serves an in-memory registry on 127.0.0.1 over plain HTTP and returns
// its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func push(t *testing.T, ref string, v any) {
	t.Helper()
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	switch v := v.(type) {
	case v1.Image:
		err = remote.Write(n, v)
	case v1.ImageIndex:
		err = remote.WriteIndex(n, v)
	}
	if err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

// writeLayout writes an OCI layout holding imgs, each annotated with the given tag (none
// when empty) under the given annotation key.
func writeLayout(t *testing.T, dir string, key string, entries map[string]mutate.Appendable) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for tag, a := range entries {
		var opts []layout.Option
		if tag != "" && !strings.HasPrefix(tag, "untagged") {
			opts = append(opts, layout.WithAnnotations(map[string]string{key: tag}))
		}
		switch a := a.(type) {
		case v1.Image:
			err = p.AppendImage(a, opts...)
		case v1.ImageIndex:
			err = p.AppendIndex(a, opts...)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mustParse(t *testing.T, s string, opts ...Option) Ref {
	t.Helper()
	r, err := Parse(s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The same image stored in each kind of place opens to the same image.
func TestOpenSameImageEverywhere(t *testing.T) {
	t.Parallel()
	img := randomImage(t)
	want := digestOf(t, img)
	wantConfig, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}

	host := startRegistry(t)
	push(t, host+"/repo:tag", img)

	dir := filepath.Join(t.TempDir(), "lay:out")
	writeLayout(t, dir, annotationRefName, map[string]mutate.Appendable{"v1": img})

	archive := filepath.Join(t.TempDir(), "img.tar")
	tag, err := name.NewTag("myapp:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}

	for _, ref := range []string{
		host + "/repo:tag",
		host + "/repo@" + want.String(),
		"oci-layout://" + dir + "/",
		"oci-layout://" + dir + ":v1",
		"oci-layout://" + dir + "@" + want.String(),
		"docker-archive://" + archive,
		"docker-archive://" + archive + ":myapp:v1",
		"docker-archive://" + archive + ":index.docker.io/library/myapp:v1",
	} {
		t.Run(ref, func(t *testing.T) {
			t.Parallel()
			r := mustParse(t, ref)
			got, idx, err := Open(t.Context(), r)
			if err != nil {
				t.Fatalf("Open(%s): %v", ref, err)
			}
			if idx != nil || got == nil {
				t.Fatalf("Open(%s) = image %v, index %v; want an image only", ref, got, idx)
			}
			if err := validate.Image(got); err != nil {
				t.Errorf("validate.Image: %v", err)
			}
			if d := digestOf(t, got); d != want {
				t.Errorf("digest = %s, want %s", d, want)
			}
			if c, err := got.ConfigName(); err != nil || c != wantConfig {
				t.Errorf("config = %s, %v; want %s", c, err, wantConfig)
			}
		})
	}
}

// multiPlatformIndex holds one image for each of linux/amd64, linux/arm64/v8 and the
// platform this test runs on, plus an attestation manifest that must never be chosen.
func multiPlatformIndex(t *testing.T) (v1.ImageIndex, map[string]v1.Image) {
	t.Helper()
	platforms := []v1.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
		{OS: "unknown", Architecture: "unknown"},
	}
	if here := defaultPlatform(); here.Architecture != "amd64" && here.Architecture != "arm64" {
		platforms = append(platforms, here)
	}
	imgs := map[string]v1.Image{}
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		img := randomImage(t)
		imgs[p.String()] = img
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.AppendManifests(empty.Index, adds...), imgs
}

func TestImagePlatform(t *testing.T) {
	t.Parallel()
	idx, imgs := multiPlatformIndex(t)
	host := startRegistry(t)
	push(t, host+"/multi:latest", idx)
	dir := t.TempDir()
	writeLayout(t, dir, annotationRefName, map[string]mutate.Appendable{"latest": idx})

	here := defaultPlatform()
	hereKey := here.String()
	if here.Architecture == "arm64" {
		hereKey = "linux/arm64/v8"
	}
	tests := []struct {
		name     string
		platform *v1.Platform
		want     string // key into imgs
		errText  string
	}{
		{name: "default", want: hereKey},
		{name: "explicit amd64", platform: &v1.Platform{OS: "linux", Architecture: "amd64"}, want: "linux/amd64"},
		{name: "arm64 without variant", platform: &v1.Platform{OS: "linux", Architecture: "arm64"}, want: "linux/arm64/v8"},
		{name: "arm64 with variant", platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, want: "linux/arm64/v8"},
		{name: "aarch64 alias", platform: &v1.Platform{OS: "linux", Architecture: "aarch64"}, want: "linux/arm64/v8"},
		{name: "unknown", platform: &v1.Platform{OS: "linux", Architecture: "s390x"}, errText: "no linux/s390x in the index; it has linux/amd64, linux/arm64/v8"},
		{name: "attestations are not images", platform: &v1.Platform{OS: "unknown"}, errText: "no unknown in the index"},
	}
	for _, ref := range []string{host + "/multi:latest", "oci-layout://" + dir} {
		r := mustParse(t, ref)
		for _, tt := range tests {
			t.Run(ref+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				var opts []Option
				if tt.platform != nil {
					opts = append(opts, WithPlatform(*tt.platform))
				}
				_, gotIdx, err := Open(t.Context(), r, opts...)
				if err != nil || gotIdx == nil {
					t.Fatalf("Open = index %v, %v; want the index", gotIdx, err)
				}
				img, err := Image(t.Context(), r, opts...)
				if tt.errText != "" {
					if !errors.Is(err, ErrPlatform) || !strings.Contains(err.Error(), tt.errText) {
						t.Fatalf("Image error = %v, want ErrPlatform saying %q", err, tt.errText)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got, want := digestOf(t, img), digestOf(t, imgs[tt.want]); got != want {
					t.Errorf("Image chose %s, want %s (%s)", got, want, tt.want)
				}
			})
		}
	}
}

func TestPlatformMatches(t *testing.T) {
	t.Parallel()
	p := func(s string) v1.Platform {
		pl, err := ParsePlatform(s)
		if err != nil {
			t.Fatal(err)
		}
		return pl
	}
	for _, tt := range []struct {
		have, want string
		match      bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/arm64", "linux/arm64/v8", true},
		{"linux/arm64/v8", "linux/arm64", true},
		{"linux/arm/v7", "linux/arm", true},
		{"linux/arm/v6", "linux/arm", true},
		{"linux/arm", "linux/arm/v7", true},
		{"linux/arm", "linux/arm/v6", false},
		{"linux/arm/v6", "linux/arm/v7", false},
		{"linux/amd64", "linux/arm64", false},
		{"windows/amd64", "linux/amd64", false},
	} {
		if got := platformMatches(p(tt.have), p(tt.want)); got != tt.match {
			t.Errorf("platformMatches(have %s, want %s) = %v, want %v", tt.have, tt.want, got, tt.match)
		}
	}
}

func TestOpenLayout(t *testing.T) {
	t.Parallel()
	a, b, c := randomImage(t), randomImage(t), randomImage(t)
	idx, byPlatform := multiPlatformIndex(t)
	arm64 := byPlatform["linux/arm64/v8"]

	several := t.TempDir()
	writeLayout(t, several, annotationRefName, map[string]mutate.Appendable{"a": a, "b": b, "docker.io/library/app:full": c, "multi": idx})
	containerd := t.TempDir()
	writeLayout(t, containerd, annotationContainerName, map[string]mutate.Appendable{"docker.io/library/app:v2": a})
	untagged := t.TempDir()
	writeLayout(t, untagged, annotationRefName, map[string]mutate.Appendable{"untagged1": a, "untagged2": b})
	emptyLayout := t.TempDir()
	writeLayout(t, emptyLayout, annotationRefName, nil)
	notLayout := t.TempDir()
	colon := filepath.Join(t.TempDir(), "x:y")
	writeLayout(t, colon, annotationRefName, map[string]mutate.Appendable{"": a})

	tests := []struct {
		ref       string
		want      v1.Image
		wantIndex bool
		wantErr   error
		errText   string
	}{
		{ref: several + ":a", want: a},
		{ref: several + ":b", want: b},
		{ref: several + ":full", want: c},
		{ref: several + "@" + digestOf(t, b).String(), want: b},
		{ref: several + ":multi", wantIndex: true},
		{ref: several + "@" + digestOf(t, idx).String(), wantIndex: true},
		{ref: several + "@" + digestOf(t, arm64).String(), want: arm64},
		{ref: containerd + ":v2", want: a},
		{ref: containerd, want: a},
		{ref: untagged + "@" + digestOf(t, a).String(), want: a},
		{ref: several, errText: "the layout holds 4 manifests; choose one with :TAG or @DIGEST: "},
		{ref: untagged, errText: "@sha256:"},
		{ref: several + ":nope", wantErr: ErrNotFound, errText: `no tag "nope" in the layout; it has `},
		{ref: several + "@" + testDigest, wantErr: ErrNotFound, errText: "no manifest " + testDigest},
		{ref: emptyLayout, wantErr: ErrNotFound, errText: "holds no image"},
		{ref: notLayout, wantErr: ErrNotFound, errText: "not an OCI image layout"},
		{ref: filepath.Join(notLayout, "missing"), wantErr: ErrNotFound, errText: "no directory"},
		{ref: colon, wantErr: ErrNotFound, errText: "end the reference with a slash: oci-layout://" + colon + "/"},
		{ref: colon + "/", want: a},
	}
	for _, tt := range tests {
		ref := "oci-layout://" + tt.ref
		t.Run(ref, func(t *testing.T) {
			t.Parallel()
			img, idx, err := Open(t.Context(), mustParse(t, ref))
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					t.Fatalf("Open(%s) succeeded, want an error", ref)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Open(%s) error %v, want errors.Is %v", ref, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) || !strings.HasPrefix(err.Error(), "reading "+ref+": ") {
					t.Errorf("Open(%s) error %q, want %q after the reference", ref, err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%s): %v", ref, err)
			}
			if tt.wantIndex {
				if idx == nil || img != nil {
					t.Fatalf("Open(%s) = %v, %v; want an index", ref, img, idx)
				}
				return
			}
			if img == nil || idx != nil {
				t.Fatalf("Open(%s) = %v, %v; want an image", ref, img, idx)
			}
			if got, want := digestOf(t, img), digestOf(t, tt.want); got != want {
				t.Errorf("Open(%s) = %s, want %s", ref, got, want)
			}
		})
	}

	// The error for a layout with several images names each of them.
	_, _, err := Open(t.Context(), mustParse(t, "oci-layout://"+several))
	for _, tag := range []string{"a", "b", "full", "multi"} {
		if !strings.Contains(err.Error(), tag) {
			t.Errorf("error %q does not list tag %q", err, tag)
		}
	}
}

func TestOpenArchive(t *testing.T) {
	t.Parallel()
	a, b := randomImage(t), randomImage(t)
	tagA, _ := name.NewTag("app:a")
	tagB, _ := name.NewTag("example.com/app:b")
	two := filepath.Join(t.TempDir(), "two.tar")
	if err := tarball.MultiWriteToFile(two, map[name.Tag]v1.Image{tagA: a, tagB: b}); err != nil {
		t.Fatal(err)
	}
	notTar := filepath.Join(t.TempDir(), "not.tar")
	if err := os.WriteFile(notTar, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		ref     string
		want    v1.Image
		wantErr error
		errText string
	}{
		{ref: two + ":app:a", want: a},
		{ref: two + ":docker.io/library/app:a", want: a},
		{ref: two + ":example.com/app:b", want: b},
		{ref: two, errText: "the archive holds 2 images; choose one with :NAME:TAG: "},
		{ref: two + ":app:c", wantErr: ErrNotFound, errText: "no app:c in the archive; it has "},
		{ref: two + ":a", wantErr: ErrNotFound, errText: "(the part after the file is a full name such as app:a, not a bare tag)"},
		{ref: filepath.Join(t.TempDir(), "missing.tar"), wantErr: ErrNotFound, errText: "no file "},
		{ref: notTar, errText: "reading manifest.json of "},
	}
	for _, tt := range tests {
		ref := "docker-archive://" + tt.ref
		t.Run(ref, func(t *testing.T) {
			t.Parallel()
			img, err := Image(t.Context(), mustParse(t, ref))
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					t.Fatalf("Image(%s) succeeded, want an error", ref)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Image(%s) error %v, want errors.Is %v", ref, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("Image(%s) error %q, want it to contain %q", ref, err, tt.errText)
				}
				if strings.Contains(tt.errText, "it has") || strings.Contains(tt.errText, "choose") {
					for _, s := range []string{"app:a", "example.com/app:b"} {
						if !strings.Contains(err.Error(), s) {
							t.Errorf("error %q does not list %s", err, s)
						}
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Image(%s): %v", ref, err)
			}
			if got, want := digestOf(t, img), digestOf(t, tt.want); got != want {
				t.Errorf("Image(%s) = %s, want %s", ref, got, want)
			}
		})
	}
}

func TestOpenRegistry(t *testing.T) {
	t.Parallel()
	host := startRegistry(t)
	img := randomImage(t)
	push(t, host+"/repo:tag", img)

	t.Run("unknown tag", func(t *testing.T) {
		t.Parallel()
		_, _, err := Open(t.Context(), mustParse(t, host+"/repo:nope"))
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Open error = %v, want ErrNotFound", err)
		}
	})
	t.Run("unknown repository", func(t *testing.T) {
		t.Parallel()
		_, _, err := Open(t.Context(), mustParse(t, host+"/nope:tag"))
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Open error = %v, want ErrNotFound", err)
		}
	})
	t.Run("unknown digest", func(t *testing.T) {
		t.Parallel()
		_, _, err := Open(t.Context(), mustParse(t, host+"/repo@"+testDigest))
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Open error = %v, want ErrNotFound", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, _, err := Open(ctx, mustParse(t, host+"/repo:tag")); !errors.Is(err, context.Canceled) {
			t.Errorf("Open error = %v, want context.Canceled", err)
		}
	})

	// A registry under a name that is not loopback, reached through a transport that
	// dials the test server: plain HTTP is used only with WithInsecure.
	dialer := &net.Dialer{}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, host)
	}
	ua := &recordUA{next: tr}
	remoteRef := "registry.example.com/repo:tag"
	t.Run("insecure", func(t *testing.T) {
		t.Parallel()
		got, err := Image(t.Context(), mustParse(t, remoteRef), WithInsecure(true), WithTransport(ua), WithUserAgent("slim-test/1"), WithKeychain(authn.NewMultiKeychain()))
		if err != nil {
			t.Fatal(err)
		}
		if digestOf(t, got) != digestOf(t, img) {
			t.Error("wrong image")
		}
		if !strings.Contains(ua.last(), "slim-test/1") {
			t.Errorf("User-Agent = %q, want it to contain slim-test/1", ua.last())
		}
	})
	t.Run("secure", func(t *testing.T) {
		t.Parallel()
		if _, err := Image(t.Context(), mustParse(t, remoteRef), WithTransport(tr)); err == nil {
			t.Error("Image over https to a plain HTTP registry succeeded, want an error")
		}
	})
}

// recordUA remembers the User-Agent of the last request it carried.
type recordUA struct {
	next http.RoundTripper
	mu   sync.Mutex
	ua   string
}

func (r *recordUA) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.ua = req.Header.Get("User-Agent")
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recordUA) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ua
}

func TestOpenDaemonUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "no-docker.sock")
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	r := mustParse(t, "docker-daemon://x")
	_, _, err := Open(t.Context(), r)
	if err == nil {
		t.Fatal("Open succeeded without a daemon")
	}
	want := "reading docker-daemon://x: cannot reach the Docker daemon"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want it to start with %q", err, want)
	}
	if !strings.Contains(err.Error(), sock) {
		t.Errorf("error = %q, want it to name %s", err, sock)
	}
	t.Log(err)
}

// fakeDaemon answers for one tagged image, as `docker image inspect` and `docker save` would.
type fakeDaemon struct {
	daemon.Client // methods Open must not call panic through the nil interface
	tag           name.Tag
	img           v1.Image
}

type notFoundError struct{ error }

func (notFoundError) NotFound() {}

func (f fakeDaemon) Ping(context.Context, client.PingOptions) (client.PingResult, error) {
	return client.PingResult{}, nil
}

func (f fakeDaemon) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	if ref != f.tag.String() {
		return client.ImageInspectResult{}, notFoundError{fmt.Errorf("No such image: %s", ref)}
	}
	id, err := f.img.ConfigName()
	if err != nil {
		return client.ImageInspectResult{}, err
	}
	var res client.ImageInspectResult
	res.ID = id.String()
	return res, nil
}

func (f fakeDaemon) ImageSave(_ context.Context, refs []string, _ ...client.ImageSaveOption) (client.ImageSaveResult, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.Write(f.tag, f.img, pw)) }()
	return pr, nil
}

func TestOpenDaemon(t *testing.T) {
	t.Parallel()
	img := randomImage(t)
	tag, err := name.NewTag("myapp:fat")
	if err != nil {
		t.Fatal(err)
	}
	fake := withDaemonClient(fakeDaemon{tag: tag, img: img})

	got, err := Image(t.Context(), mustParse(t, "docker-daemon://myapp:fat"), fake)
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, got) != digestOf(t, img) {
		t.Errorf("digest = %s, want %s", digestOf(t, got), digestOf(t, img))
	}
	// Everything, config included, comes from the save: the fake serves no history.
	if err := validate.Image(got); err != nil {
		t.Error(err)
	}

	_, err = Image(t.Context(), mustParse(t, "docker-daemon://myapp:thin"), fake)
	if !errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), "reading docker-daemon://myapp:thin: ") {
		t.Errorf("error = %v, want ErrNotFound after the reference", err)
	}
}

// A registry with a self-signed certificate is refused unless the user says it is
// insecure.
func TestOpenRegistrySelfSigned(t *testing.T) {
	t.Parallel()
	s := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	ref := strings.TrimPrefix(s.URL, "https://") + "/repo:tag"
	img := randomImage(t)
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(n, img, remote.WithTransport(s.Client().Transport)); err != nil {
		t.Fatal(err)
	}

	if _, err := Image(t.Context(), mustParse(t, ref)); err == nil {
		t.Error("Image from a registry with an unverifiable certificate succeeded without WithInsecure")
	}
	got, err := Image(t.Context(), mustParse(t, ref), WithInsecure(true))
	if err != nil {
		t.Fatalf("Image with WithInsecure(true): %v", err)
	}
	if digestOf(t, got) != digestOf(t, img) {
		t.Error("wrong image")
	}
}
