package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slim-dev/slim/internal/baseimage"
	"github.com/slim-dev/slim/internal/testimage"
)

// TestBuildPrivateBase runs the whole job on a Dockerfile whose FROM is on a
// registry that wants basic auth: $DOCKER_CONFIG's credentials let it through,
// and an empty config gets an error naming the registry and `docker login`.
// Not parallel: it sets DOCKER_CONFIG, as a user would.
func TestBuildPrivateBase(t *testing.T) {
	needBuildkit(t)
	const user, pass = "slim", "pr1vate"
	base, err := baseimage.Busybox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	host := testimage.PrivateRegistry(t, user, pass, map[string]any{"private/busybox:latest": base})
	dir := project(t, map[string]string{
		"Dockerfile": "FROM " + host + "/private/busybox AS builder\nRUN echo built-on-private > /marker\n",
	})
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"--addr", bk.addr, "--progress", "quiet", "--from", "builder:/marker", "--force",
		"-t", "private:slim", "-o", "type=oci,dest=" + out, "--sbom=false", "--provenance=false", dir}

	t.Setenv("DOCKER_CONFIG", t.TempDir())
	code, _, stderr := slimCLI(t, args...)
	if code == 0 || !strings.Contains(stderr, "registry "+host+" refused access") || !strings.Contains(stderr, "docker login "+host) {
		t.Fatalf("slim without credentials: exit %d, want a failure naming %s and `docker login %s`:\n%s", code, host, host, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused build left %s behind (%v)", out, err)
	}

	t.Setenv("DOCKER_CONFIG", testimage.DockerConfig(t, host, user, pass))
	slimOK(t, args...)
	rootfs := unpack(t, out, "slim")
	if b, err := os.ReadFile(filepath.Join(rootfs, "marker")); err != nil || string(b) != "built-on-private\n" {
		t.Errorf("/marker in the result = %q, %v: want the RUN's output from the private base", b, err)
	}
}
