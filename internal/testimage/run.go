package testimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Missing stops a test whose machine lacks something it needs (root, a tool, a
// file system feature): it skips, except under CI=true, where the machine has
// everything and a skip would hide a lost check, so it fails.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI's machine has it, so this is a failure)", args...)
	}
	t.Skipf(format+" (under CI=true this fails)", args...)
}

// NeedRoot stops the test (see Missing) unless it runs as root; why says what
// needs it ("running images with chroot").
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "%s needs root", why)
	}
}

// NeedTool returns the path of a host program, stopping the test (see Missing)
// when it is not installed.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not installed: %v", name, err)
	}
	return p
}

// NeedChroot stops the test (see Missing) unless images can be run here with
// chroot: linux, root and the chroot program. It returns chroot's path.
func NeedChroot(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		Missing(t, "chroot needs linux")
	}
	NeedRoot(t, "chroot")
	return NeedTool(t, "chroot")
}

// Chroot runs argv inside rootfs with chroot as user ("uid:gid", or "" for
// root) and the environment env, and returns what it printed; a failure to run
// or a non-zero status fails the test.
func Chroot(t testing.TB, rootfs, user string, env []string, argv ...string) string {
	t.Helper()
	chroot := NeedChroot(t)
	var args []string
	if user != "" {
		args = append(args, "--userspec="+user)
	}
	args = append(append(args, rootfs), argv...)
	cmd := exec.Command(chroot, args...)
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chroot %s %q: %v\n%s", rootfs, argv, err, b)
	}
	return string(b)
}

// Unpack writes img's merged file system (mutate.Extract) under dir, so that it
// can be run with Chroot: directories, regular files and symlinks, with their
// modes and owners. It returns the headers of the entries it left out (hard
// links, devices), for tests that expect none.
func Unpack(t testing.TB, img v1.Image, dir string) []*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	var skipped []*tar.Header
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return skipped
		}
		if err != nil {
			t.Fatalf("unpacking image: %v", err)
		}
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(h.Name, "/")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		// Over a base (UnpackOverlay) the name may be there already: a file or link
		// replaces it, rather than writing through a link.
		if fi, err := os.Lstat(p); err == nil && (h.Typeflag != tar.TypeDir || !fi.IsDir()) {
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, h.FileInfo().Mode()); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, h.FileInfo().Mode().Perm())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				t.Fatal(err)
			}
		default:
			skipped = append(skipped, h)
			continue
		}
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			t.Fatal(err)
		}
	}
}

// GoBuild compiles a one-file Go program (package main) for linux/goarch with
// cgo off, as a static binary, and returns its path.
func GoBuild(t testing.TB, src, goarch string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module probe\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "prog")
	// go test puts its own GOROOT/bin first in PATH, so this is the go running the test.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// GCCBuild compiles a C program with gcc -O2, dynamically linked against the
// host's glibc, with extra arguments for gcc after the source ("-lm"), and
// returns its path. It stops the test (see Missing) without linux or gcc.
func GCCBuild(t testing.TB, src string, extra ...string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		Missing(t, "building against glibc needs linux")
	}
	gcc := NeedTool(t, "gcc")
	dir := t.TempDir()
	c := filepath.Join(dir, "prog.c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "prog")
	if b, err := exec.Command(gcc, append([]string{"-O2", "-o", out, c}, extra...)...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return out
}

// ProbeStatic is a Go program for a static base (distroless static, slim's
// own): it looks up the nonroot user, loads the system CA pool and the
// Europe/Paris zone, exits 1 naming what failed, and otherwise prints
// "uid=65532 euid=N certs=N zone=Europe/Paris".
const ProbeStatic = `package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"os/user"
	"time"
)

func main() {
	u, err := user.Lookup("nonroot")
	if err != nil {
		fmt.Println("user:", err)
		os.Exit(1)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		fmt.Println("certs:", err)
		os.Exit(1)
	}
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		fmt.Println("zone:", err)
		os.Exit(1)
	}
	fmt.Printf("uid=%s euid=%d certs=%d zone=%s\n", u.Uid, os.Geteuid(), len(pool.Subjects()), loc)
}
`

// RepoRoot finds the module root (the directory holding go.mod) from the test's
// working directory, where make tools puts bin/buildkitd.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Tracer builds the --trace tracer (internal/tracer/cmd/slim-tracer) static, as
// the image's root needs it, and returns its path: the slim binary is one too,
// but much slower to build.
func Tracer(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "slim-tracer")
	cmd := exec.Command("go", "build", "-o", out, "./internal/tracer/cmd/slim-tracer")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the tracer: %v\n%s", err, b)
	}
	return out
}
