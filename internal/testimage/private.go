package testimage

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PrivateRegistry starts an in-memory registry that answers only to user:pass
// (HTTP basic auth, as a registry behind `docker login` does), pushes images
// (repo:tag → image or index) with those credentials, and returns its
// host:port on 127.0.0.1, which ggcr and BuildKit both reach over plain HTTP.
func PrivateRegistry(t testing.TB, user, pass string, images map[string]any) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="slim-test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	for repoTag, v := range images {
		Push(t, host, repoTag, v, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
	}
	return host
}

// DockerConfig writes a Docker config directory holding user:pass for host, as
// `docker login HOST` leaves it, and returns the directory (for DOCKER_CONFIG).
func DockerConfig(t testing.TB, host, user, pass string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{"auths": map[string]any{
		host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))},
	}}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatalf("writing docker config: %v", err)
	}
	return dir
}
