package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slim-dev/slim/internal/baseimage"
	"github.com/slim-dev/slim/internal/testimage"
)

// TestOwnImage builds slim's own image as `make image` does (cmd/slim/Dockerfile onto
// static, a golang image made offline, the modules vendored) and runs `slim --help` in
// it under runc; the result holds /usr/local/bin/slim and the static base only.
func TestOwnImage(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	if testing.Short() {
		t.Skip("-short: compiles slim inside BuildKit, minutes of CPU")
	}
	needBuildkit(t)
	needRoot(t)
	root, err := testimage.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	golang := filepath.Join(t.TempDir(), "golang")
	if _, err := baseimage.Golang(golang); err != nil {
		t.Fatal(err)
	}
	vendor := filepath.Join(t.TempDir(), "vendor")
	cmd := exec.Command("go", "mod", "vendor", "-o", vendor)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor: %v\n%s", err, b)
	}
	out := filepath.Join(t.TempDir(), "out")
	report := filepath.Join(t.TempDir(), "report.json")
	slimOK(t, "--addr", bk.addr, "--progress", "quiet", "-f", filepath.Join(root, "cmd/slim/Dockerfile"), "--base", "static",
		"--build-context", "golang=oci-layout://"+golang, "--build-context", "vendor="+vendor,
		"-t", "slim:own", "-o", "type=oci,dest="+out, "--report", report, root)
	readReport(t, report)
	img := layoutImage(t, out)
	testimage.Validate(t, img)
	if n := layerPaths(t, img)["etc/nsswitch.conf"]; n != 1 {
		t.Errorf("/etc/nsswitch.conf is in %d layers, want 1", n)
	}
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testimage.Unpack(t, img, rootfs)
	got := testimage.RunC(t, rootfs, testimage.Container{Args: []string{"/usr/local/bin/slim", "--help"}})
	if got.Code != 0 || !strings.Contains(got.Stdout, "slim takes the named files out of images") || !strings.Contains(got.Stdout, "Usage:") {
		t.Errorf("slim --help in slim's own image:\n%s", got)
	}
}
