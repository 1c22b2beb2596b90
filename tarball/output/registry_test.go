package output

import (
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/progress"
	"github.com/slim-dev/slim/internal/testimage"
)

// basicKeychain answers every registry with one user:pass; an empty one is
// anonymous, whatever the machine's Docker config holds.
type basicKeychain struct{ user, pass string }

func (k basicKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	if k.user == "" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

// TestPushRefused: a registry that refuses the push is named, with the
// `docker login` to run; the same push with credentials goes through, so the
// refusal is the credentials' doing.
func TestPushRefused(t *testing.T) {
	t.Parallel()
	const user, pass = "slim", "pr1vate"
	host := testimage.PrivateRegistry(t, user, pass, nil)
	img := testimage.Image(t, outputLayers())
	outs := []Output{{Type: Registry, Name: []string{host + "/app:v1"}}}

	err := Write(t.Context(), img, outs, WithRefOptions(imageref.WithKeychain(basicKeychain{})))
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("push without credentials: %v, want ErrUnauthorized", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "registry "+host+" ") || !strings.Contains(msg, "docker login "+host) {
		t.Errorf("push without credentials: %q does not name %s and `docker login %s`", msg, host, host)
	}

	if err := Write(t.Context(), img, outs, WithRefOptions(imageref.WithKeychain(basicKeychain{user, pass}))); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
}

// TestPushDigestBeforeTags: every blob and the manifest go up by digest before any tag,
// and a registry refusing one tag leaves an error that says which tags were written.
func TestPushDigestBeforeTags(t *testing.T) {
	t.Parallel()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var mu sync.Mutex
	var puts []string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut || (r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads")) {
			mu.Lock()
			puts = append(puts, r.Method+" "+r.URL.Path)
			mu.Unlock()
		}
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/refused") {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"tag is immutable"}]}`, http.StatusForbidden)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	img := testimage.Image(t, outputLayers())
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{host + "/app:v1", host + "/app:refused", host + "/app:latest"}
	err = Write(t.Context(), img, []Output{{Type: Registry, Name: names}}, WithRefOptions(imageref.WithKeychain(basicKeychain{})))
	if err == nil {
		t.Fatal("a refused tag gave no error")
	}
	for _, w := range []string{"tags written: " + host + "/app:v1;", "not written: " + host + "/app:refused, " + host + "/app:latest"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	// The order of writes: blobs, the manifest by digest, then tags one by one.
	firstTag := slices.IndexFunc(puts, func(p string) bool { return strings.HasSuffix(p, "/manifests/v1") })
	byDigest := slices.Index(puts, "PUT /v2/app/manifests/"+d.String())
	lastBlob := -1
	for i, p := range puts {
		if strings.Contains(p, "/blobs/") {
			lastBlob = i
		}
	}
	if byDigest < 0 || firstTag < 0 || lastBlob > byDigest || byDigest > firstTag {
		t.Errorf("writes in order %q: want blobs, then the manifest by digest, then tags", puts)
	}
	if slices.ContainsFunc(puts, func(p string) bool { return strings.HasSuffix(p, "/manifests/latest") }) {
		t.Errorf("a tag after the refused one was written: %q", puts)
	}
	// The digest is pullable and v1 points at it; latest does not exist.
	for ref, want := range map[string]bool{host + "/app@" + d.String(): true, host + "/app:v1": true, host + "/app:latest": false} {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := remote.Head(r); (err == nil) != want {
			t.Errorf("%s exists: %v, want %t", ref, err, want)
		}
	}
}

// recordSteps keeps every step and every progress report a write shows.
type recordSteps struct {
	mu       sync.Mutex
	names    []string
	progress map[string][2]int64 // id → the last current, total
	done     int
}

func (r *recordSteps) Start(name string) progress.Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, name)
	return r
}

func (r *recordSteps) Progress(id string, current, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.progress == nil {
		r.progress = map[string][2]int64{}
	}
	r.progress[id] = [2]int64{current, total}
}

func (r *recordSteps) Log(string) {}

func (r *recordSteps) Done(error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done++
}

// TestPushShowsBytes: a push is a step of the display with the bytes sent so far of the
// bytes to send, ending with all of them, per repository pushed to.
func TestPushShowsBytes(t *testing.T) {
	t.Parallel()
	const user, pass = "slim", "pr1vate"
	host := testimage.PrivateRegistry(t, user, pass, nil)
	img := testimage.Image(t, outputLayers())
	rec := &recordSteps{}
	outs := []Output{{Type: Registry, Name: []string{host + "/app:v1", host + "/other:v1"}}}
	if err := Write(t.Context(), img, outs, WithRefOptions(imageref.WithKeychain(basicKeychain{user, pass})), WithSteps(rec)); err != nil {
		t.Fatal(err)
	}
	if len(rec.names) != 1 || !strings.HasPrefix(rec.names[0], "writing registry ") || rec.done != 1 {
		t.Errorf("steps %q (%d done): want one registry step, done", rec.names, rec.done)
	}
	for _, repo := range []string{host + "/app", host + "/other"} {
		p, ok := rec.progress["push "+repo]
		if !ok || p[1] == 0 || p[0] != p[1] {
			t.Errorf("push to %s showed %v (have %v): want all of a non-zero total sent", repo, p, rec.progress)
		}
	}
}
