package imageref

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/moby/moby/client"

	"github.com/slim-dev/slim/internal/regerr"
	"github.com/slim-dev/slim/internal/testimage"
)

func TestParseSchemes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		kind Kind
		bare bool
		name string
		path string
	}{
		{in: "myapp:fat", kind: Registry, bare: true, name: "index.docker.io/library/myapp:fat"},
		{in: "docker-image://myapp:fat", kind: Registry, name: "index.docker.io/library/myapp:fat"},
		{in: "DOCKER-IMAGE://ghcr.io/a/b@" + testDigest, kind: Registry, name: "ghcr.io/a/b@" + testDigest},
		{in: "./out", kind: Path, bare: true, path: "./out"},
		{in: "/tmp/App.tar", kind: Path, bare: true, path: "/tmp/App.tar"},
		{in: "oci-layout://out", kind: Layout, path: "out"},
	} {
		r, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if r.Kind != tt.kind || r.Bare != tt.bare || r.Path != tt.path || (tt.name != "") != (r.Name != nil) || r.Name != nil && r.Name.Name() != tt.name {
			t.Errorf("Parse(%q) = {%v bare=%v name=%v path=%q}, want {%v bare=%v name=%s path=%q}", tt.in, r.Kind, r.Bare, r.Name, r.Path, tt.kind, tt.bare, tt.name, tt.path)
		}
		assertRoundTrip(t, r)
	}
	for _, in := range []string{"docker-image://", "docker-image://Upper", "docker-image://a b"} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), "parsing image reference") {
			t.Errorf("Parse(%q) error = %v, want a parse error", in, err)
		}
	}
}

// unreachableDaemon fails as a client does when nothing listens on the socket.
type unreachableDaemon struct{ fakeDaemon }

func (unreachableDaemon) ImageInspect(context.Context, string, ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return client.ImageInspectResult{}, errors.New("Cannot connect to the Docker daemon at unix:///nowhere.sock")
}

// A bare name is read from the daemon when it holds the name, else from the registry.
func TestResolveBareName(t *testing.T) {
	t.Parallel()
	host := startRegistry(t)
	inDaemon, inRegistry := randomImage(t), randomImage(t)
	both := host + "/app:v1"
	push(t, both, inRegistry)
	fake := func(tag string) Option {
		n, err := name.NewTag(tag)
		if err != nil {
			t.Fatal(err)
		}
		return withDaemonClient(fakeDaemon{tag: n, img: inDaemon})
	}
	for _, tt := range []struct {
		name, ref string
		daemon    Option
		kind      Kind
		want      v1.Image
		reading   string
	}{
		{name: "hit", ref: both, daemon: fake(both), kind: DockerDaemon, want: inDaemon, reading: "reading " + both + " from the Docker daemon"},
		{name: "miss", ref: both, daemon: fake("myapp:other"), kind: Registry, want: inRegistry, reading: "reading " + both + " from the registry " + host},
		{name: "no daemon", ref: both, daemon: withDaemonClient(unreachableDaemon{}), kind: Registry, want: inRegistry},
		{name: "explicit registry", ref: "docker-image://" + both, daemon: fake(both), kind: Registry, want: inRegistry, reading: "reading docker-image://" + both},
		{name: "digest goes to the registry", ref: host + "/app@" + digestOf(t, inRegistry).String(), daemon: fake(both), kind: Registry, want: inRegistry},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustParse(t, tt.ref)
			got, err := Resolve(t.Context(), r, tt.daemon)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tt.kind {
				t.Errorf("Resolve(%s).Kind = %v, want %v", tt.ref, got.Kind, tt.kind)
			}
			if tt.reading != "" && got.Reading() != tt.reading {
				t.Errorf("Reading() = %q, want %q", got.Reading(), tt.reading)
			}
			img, err := Image(t.Context(), r, tt.daemon)
			if err != nil {
				t.Fatal(err)
			}
			if digestOf(t, img) != digestOf(t, tt.want) {
				t.Errorf("Image(%s) read the wrong image", tt.ref)
			}
		})
	}

	// Nowhere: the registry's error says the daemon was asked too.
	_, err := Image(t.Context(), mustParse(t, host+"/app:missing"), fake(both))
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no local Docker daemon holds it either") {
		t.Errorf("error = %v, want ErrNotFound naming the daemon", err)
	}
}

// A bare path that exists is read as what it holds, with a note giving the scheme.
func TestResolvePath(t *testing.T) {
	t.Parallel()
	img := randomImage(t)
	layoutDir := testimage.WriteLayout(t, img)
	archive := testimage.WriteDockerArchive(t, img, "app:v1")
	plainDir := t.TempDir()
	plainFile := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(plainFile, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, ref string
		kind      Kind
		errText   string
	}{
		{name: "layout", ref: layoutDir, kind: Layout},
		{name: "archive", ref: archive, kind: DockerArchive},
		{name: "directory", ref: plainDir, errText: "exists but is neither an OCI image layout"},
		{name: "file", ref: plainFile, errText: "exists but is neither an OCI image layout"},
		{name: "missing", ref: filepath.Join(plainDir, "nope"), errText: "no file or directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustParse(t, tt.ref)
			got, err := Resolve(t.Context(), r, withDaemonClient(unreachableDaemon{}))
			if tt.errText != "" {
				if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tt.errText) || strings.Contains(err.Error(), "registry") {
					t.Fatalf("Resolve(%s) error = %v, want ErrNotFound saying %q", tt.ref, err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tt.kind || got.Path != tt.ref {
				t.Errorf("Resolve(%s) = {%v %q}, want {%v %q}", tt.ref, got.Kind, got.Path, tt.kind, tt.ref)
			}
			wantNote := "note: reading " + tt.ref + " as " + tt.kind.String() + "://" + tt.ref
			if got.Reading() != wantNote {
				t.Errorf("Reading() = %q, want %q", got.Reading(), wantNote)
			}
			opened, err := Image(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			if digestOf(t, opened) != digestOf(t, img) {
				t.Error("read the wrong image")
			}
		})
	}
}

// A bare word that names an existing directory (slim inspect out-dir) is that
// directory, not a registry name; one that holds no image says so and how to mean the
// registry.
func TestResolveRelativeName(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	img := randomImage(t)
	writeLayout(t, filepath.Join(dir, "out-dir"), annotationRefName, map[string]mutate.Appendable{"latest": img})
	if err := os.Mkdir("alpine", 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := Resolve(t.Context(), mustParse(t, "out-dir"), withDaemonClient(unreachableDaemon{}))
	if err != nil || r.Kind != Layout || r.Reading() != "note: reading out-dir as oci-layout://out-dir" {
		t.Errorf("Resolve(out-dir) = {%v %q}, %v; want the layout with a note", r.Kind, r.Reading(), err)
	}
	_, err = Resolve(t.Context(), mustParse(t, "alpine"), withDaemonClient(unreachableDaemon{}))
	if err == nil || !strings.Contains(err.Error(), "write docker-image://alpine") {
		t.Errorf("Resolve(alpine) with ./alpine a plain directory: error = %v, want the docker-image:// hint", err)
	}
	if r, err := Resolve(t.Context(), mustParse(t, "docker-image://alpine")); err != nil || r.Kind != Registry {
		t.Errorf("Resolve(docker-image://alpine) = %v, %v; want the registry", r.Kind, err)
	}
}

// --platform is a demand: a single image of another platform is refused, naming the
// platform it has, as an index without the platform is.
func TestImagePlatformSingle(t *testing.T) {
	t.Parallel()
	amd := testimage.Image(t, [][]testimage.Entry{{testimage.File("a", "a")}}, testimage.WithPlatform("linux", "amd64"))
	arm := testimage.Image(t, [][]testimage.Entry{{testimage.File("a", "b")}}, testimage.WithPlatform("linux", "arm64"))
	single := "oci-layout://" + testimage.WriteLayout(t, amd)
	index := "oci-layout://" + testimage.WriteLayout(t, testimage.Index(t, map[string]v1.Image{"linux/amd64": amd}))
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	for _, ref := range []string{single, index} {
		_, err := Image(t.Context(), mustParse(t, ref), WithPlatform(arm64))
		if !errors.Is(err, ErrPlatform) || !strings.Contains(err.Error(), "linux/amd64") || !strings.Contains(err.Error(), "no linux/arm64") {
			t.Errorf("Image(%s, linux/arm64) error = %v, want ErrPlatform naming linux/amd64", ref, err)
		}
		if _, err := Image(t.Context(), mustParse(t, ref), WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
			t.Errorf("Image(%s, linux/amd64): %v", ref, err)
		}
	}
	// Without WithPlatform a single image is taken whatever it is for (inspect of an
	// arm64 image on amd64).
	if _, err := Image(t.Context(), mustParse(t, "oci-layout://"+testimage.WriteLayout(t, arm))); err != nil {
		t.Errorf("Image of an arm64 image without a platform: %v", err)
	}
	if err := CheckPlatform(amd, v1.Platform{OS: "linux", Architecture: "amd64"}, arm64); !errors.Is(err, ErrPlatform) {
		t.Errorf("CheckPlatform(amd64 image, amd64+arm64) = %v, want ErrPlatform", err)
	}
}

// A daemon image's config is the one `docker save` writes: history in order, empty
// steps marked, lined up with the layers; never rebuilt from `docker history`.
func TestOpenDaemonHistory(t *testing.T) {
	t.Parallel()
	base := testimage.Image(t, [][]testimage.Entry{{testimage.File("bin/busybox", "x")}})
	img, err := mutate.Append(base,
		mutate.Addendum{History: v1.History{CreatedBy: "ENV A=1", EmptyLayer: true}},
		mutate.Addendum{Layer: testimage.Layer(t, []testimage.Entry{testimage.File("etc/x", "y")}), History: v1.History{CreatedBy: "COPY x /etc/x"}},
		mutate.Addendum{History: v1.History{CreatedBy: "LABEL a=b", EmptyLayer: true}},
	)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag("myapp:fat")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Image(t.Context(), mustParse(t, "myapp:fat"), withDaemonClient(historyDaemon{fakeDaemon{tag: tag, img: img}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Error(err)
	}
	want, _ := img.ConfigFile()
	cf, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.History) != len(want.History) {
		t.Fatalf("history has %d entries, want %d", len(cf.History), len(want.History))
	}
	for i := range want.History {
		if cf.History[i].CreatedBy != want.History[i].CreatedBy || cf.History[i].EmptyLayer != want.History[i].EmptyLayer {
			t.Errorf("history[%d] = %+v, want %+v", i, cf.History[i], want.History[i])
		}
	}
}

// historyDaemon answers `docker history` newest first, as the Engine API does; Open
// must not use it.
type historyDaemon struct{ fakeDaemon }

func (historyDaemon) ImageHistory(context.Context, string, ...client.ImageHistoryOption) (client.ImageHistoryResult, error) {
	return client.ImageHistoryResult{}, errors.New("docker history is not the image's history")
}

// A registry that refuses a read is named, with the command that logs in to it.
func TestOpenRegistryRefused(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			}
			w.WriteHeader(status)
		}))
		t.Cleanup(s.Close)
		host := strings.TrimPrefix(s.URL, "http://")
		_, err := Image(t.Context(), mustParse(t, "docker-image://"+host+"/private:v1"))
		want := "registry " + host + " refused access (log in with `docker login " + host + "`"
		if !errors.Is(err, regerr.ErrUnauthorized) || !strings.Contains(err.Error(), want) {
			t.Errorf("status %d: error = %v, want it to say %q", status, err, want)
		}
	}
}
