package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slim-dev/slim/internal/baseimage"
	"github.com/slim-dev/slim/internal/testimage"
)

// TestSolvePrivateBase builds FROM an image on a registry that wants basic
// auth: the Docker config's credentials reach BuildKit through the session,
// and without them the error names the registry and `docker login`.
func TestSolvePrivateBase(t *testing.T) {
	shared := needDaemon(t)
	const user, pass = "slim", "pr1vate"
	base, err := baseimage.Busybox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	host := testimage.PrivateRegistry(t, user, pass, map[string]any{"private/busybox:latest": base})

	dir := t.TempDir()
	df := "FROM " + host + "/private/busybox\nRUN echo built-on-private > /marker\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	req := Request{ContextDir: dir, Progress: "plain", ProgressOutput: testWriter{t}}
	connect := func(opts ...Option) *Client {
		c, err := Connect(t.Context(), append([]Option{WithAddr(shared.Addr())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	// Refused first, so no cache from a successful pull can hide the refusal.
	anon := connect(WithDockerConfig(t.TempDir()))
	wantRefused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("%s without credentials: %v, want ErrUnauthorized", what, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "registry "+host+" ") || !strings.Contains(msg, "docker login "+host) {
			t.Errorf("%s without credentials: %q does not name %s and `docker login %s`", what, msg, host, host)
		}
	}
	wantRefused("Solve", anon.Solve(t.Context(), req, nil))
	wantRefused("Export", anon.Export(t.Context(), req, "0", filepath.Join(t.TempDir(), "out.tar")))

	config := testimage.DockerConfig(t, host, user, pass)
	for what, opt := range map[string]Option{
		"WithDockerConfig": WithDockerConfig(config),
		"$DOCKER_CONFIG": withEnv(func(k string) string {
			if k == "DOCKER_CONFIG" {
				return config
			}
			return ""
		}),
	} {
		var marker string
		err = connect(opt).Solve(t.Context(), req, func(_ context.Context, stages map[string]*StageFS) error {
			for _, s := range stages {
				b, err := s.ReadFile("marker")
				marker = string(b)
				return err
			}
			return errors.New("no stage solved")
		})
		if err != nil {
			t.Fatalf("Solve with the credentials from %s: %v", what, err)
		}
		if marker != "built-on-private\n" {
			t.Errorf("%s: /marker = %q: the RUN on the private base did not run", what, marker)
		}
	}
}
