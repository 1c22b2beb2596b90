package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcrtarball "github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// refsDockerfile makes an image offline whose history has empty and non-empty steps
// between its layers, so a history that does not line up with them shows.
const refsDockerfile = `FROM scratch
COPY busybox /bin/busybox
ENV GREETING=hello
LABEL org.example.test=refs
COPY Dockerfile /etc/Dockerfile
ENTRYPOINT ["/bin/busybox"]
CMD ["echo", "refs ok"]
`

// TestSlimDockerDaemonBareName: the README's "a fat image you already have", with the
// image only in the local Docker daemon and named as docker build named it. The daemon's
// image reads as `docker save` writes it, history lined up with the layers.
func TestSlimDockerDaemonBareName(t *testing.T) {
	docker := needDocker(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		testimage.Missing(t, "Debian's busybox-static is not installed: %v", err)
	}
	ctxDir := t.TempDir()
	runHost(t, "cp", "/bin/busybox", filepath.Join(ctxDir, "busybox"))
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(refsDockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("slim-e2e/refs:%d", os.Getpid())
	slimTag := tag + "-slim"
	t.Cleanup(func() { exec.Command(docker, "rmi", "-f", tag, slimTag).Run() })
	// The legacy builder needs no buildx plugin and no network for FROM scratch.
	build := exec.Command(docker, "build", "-q", "-t", tag, ctxDir)
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, b)
	}

	code, _, stderr := slimCLI(t, "--from", tag+":/bin/busybox", "--base", "static", "--load", "-t", slimTag)
	if code != 0 {
		t.Fatalf("slim with the bare name %s: exit %d\n%s", tag, code, stderr)
	}
	if want := "[slim] reading " + tag + " from the Docker daemon"; !strings.Contains(stderr, want) {
		t.Errorf("progress does not say where the source came from (want %q):\n%s", want, stderr)
	}
	if b, err := exec.Command(docker, "run", "--rm", "--network", "none", slimTag).CombinedOutput(); err != nil || string(b) != "refs ok\n" {
		t.Errorf("docker run %s: %v\n%s", slimTag, err, b)
	}

	archive := filepath.Join(t.TempDir(), "saved.tar")
	runHost(t, docker, "save", "-o", archive, tag)
	fromDaemon := inspectJSON(t, "docker-daemon://"+tag)
	fromArchive := inspectJSON(t, "docker-archive://"+archive)
	if len(fromDaemon.Layers) != 2 || len(fromDaemon.Layers) != len(fromArchive.Layers) {
		t.Fatalf("layers: %d from the daemon, %d from docker save; want 2 each", len(fromDaemon.Layers), len(fromArchive.Layers))
	}
	for i, want := range fromArchive.Layers {
		got := fromDaemon.Layers[i]
		if got.DiffID != want.DiffID || got.CreatedBy != want.CreatedBy {
			t.Errorf("layer %d from the daemon is %s %q; docker save has %s %q", i, got.DiffID, got.CreatedBy, want.DiffID, want.CreatedBy)
		}
	}
	for i, file := range []string{"/bin/busybox", "/etc/Dockerfile"} {
		if !strings.Contains(fromDaemon.Layers[i].CreatedBy, "COPY") || !strings.Contains(fromDaemon.Layers[i].CreatedBy, file) {
			t.Errorf("layer %d is labelled %q, want the COPY of %s", i, fromDaemon.Layers[i].CreatedBy, file)
		}
	}

	// recompress keeps the daemon image's history, empty steps included.
	out := filepath.Join(t.TempDir(), "out")
	slimOK(t, "recompress", "docker-daemon://"+tag, "-t", "refs:rc", "-o", "type=oci,dest="+out)
	savedImg, err := ggcrtarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	saved := createdBy(t, savedImg)
	got := createdBy(t, layoutImage(t, out))
	if len(got) < len(saved) || strings.Join(got[:len(saved)], "\n") != strings.Join(saved, "\n") {
		t.Errorf("recompressed history:\n%s\nwant it to start with docker save's:\n%s", strings.Join(got, "\n"), strings.Join(saved, "\n"))
	}
}

// createdBy lists an image's history entries, one line each.
func createdBy(t *testing.T, img v1.Image) []string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range cf.History {
		out = append(out, fmt.Sprintf("%s empty=%v", h.CreatedBy, h.EmptyLayer))
	}
	return out
}

// TestSlimPlatformMismatch: a --platform that the source or the base does not have is
// one line naming the platforms they have, status 1, and nothing written.
func TestSlimPlatformMismatch(t *testing.T) {
	here, other := "linux/"+runtime.GOARCH, "linux/arm64"
	if runtime.GOARCH == "arm64" {
		other = "linux/amd64"
	}
	_, otherArch, _ := strings.Cut(other, "/")
	img, single := hostImage(t, [][]tarball.Entry{hostEntries(t, "bin/busybox=/bin/busybox")},
		func(c *v1.Config) { c.Entrypoint = []string{"/bin/busybox"} }, "linux", runtime.GOARCH)
	index := "oci-layout://" + testimage.WriteLayout(t, testimage.Index(t, map[string]v1.Image{here: img}))
	otherBase := "oci-layout://" + testimage.WriteLayout(t, testimage.Index(t, map[string]v1.Image{
		other: testimage.Image(t, [][]testimage.Entry{{testimage.File("etc/base", "b")}}, testimage.WithPlatform("linux", otherArch)),
	}))
	for _, tc := range []struct {
		name, from, platform, base string
		want                       []string
	}{
		{"single image", single, other, "scratch", []string{"no " + other, here}},
		{"single image two platforms", single, here + "," + other, "scratch", []string{"no " + other, here}},
		{"index", index, other, "scratch", []string{"no " + other, here}},
		{"base", single, here, otherBase, []string{here, other}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := slimCLI(t, "--from", tc.from+":/bin/busybox", "--platform", tc.platform, "--base", tc.base, "-o", "type=oci,dest="+out)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if code != 1 || !strings.HasPrefix(last, "slim: ") {
				t.Fatalf("exit %d, stderr %q: want 1 and one error line", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(last, w) {
					t.Errorf("error %q does not name %s", last, w)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output written despite the error: %v", err)
			}
		})
	}
}

// TestInspectBareReferences: an existing path is read as what it holds, with a note
// giving the explicit scheme; a path holding no image says so rather than asking a
// registry; docker-image:// is a reference like any other.
func TestInspectBareReferences(t *testing.T) {
	img := testimage.Image(t, [][]testimage.Entry{{testimage.File("a", "a")}})
	layoutDir := testimage.WriteLayout(t, img)
	archive := testimage.WriteDockerArchive(t, img, "app:v1")
	for _, tc := range []struct{ ref, note string }{
		{layoutDir, "slim: note: reading " + layoutDir + " as oci-layout://" + layoutDir},
		{archive, "slim: note: reading " + archive + " as docker-archive://" + archive},
	} {
		code, stdout, stderr := slimCLI(t, "inspect", "--progress", "quiet", tc.ref)
		if code != 0 || !strings.Contains(stdout, "efficiency") && !strings.Contains(stdout, "Efficiency") {
			t.Errorf("slim inspect %s: exit %d\n%s%s", tc.ref, code, stdout, stderr)
		}
		if strings.TrimSpace(stderr) != tc.note {
			t.Errorf("slim inspect %s: stderr %q, want the note %q", tc.ref, stderr, tc.note)
		}
	}

	code, _, stderr := slimCLI(t, "inspect", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "neither an OCI image layout") || strings.Contains(stderr, "registry") {
		t.Errorf("slim inspect of a plain directory: exit %d, %q; want 1 and what the directory is not", code, stderr)
	}
	code, _, stderr = slimCLI(t, "inspect", "docker-image://localhost:1/x:y")
	if code != 1 || strings.Contains(stderr, "scheme") || !strings.Contains(stderr, "localhost:1") {
		t.Errorf("slim inspect docker-image://localhost:1/x:y: exit %d, %q; want the registry's error", code, stderr)
	}
}
