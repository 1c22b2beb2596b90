package rebase

import (
	"archive/tar"
	"context"
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

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// needChroot skips (fails under CI=true) when images cannot be run with chroot here.
func needChroot(t *testing.T) string {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("CI") == "true" {
		skip = t.Fatalf
	}
	if runtime.GOOS != "linux" {
		skip("chroot needs linux")
	}
	if os.Geteuid() != 0 {
		skip("chroot needs root")
	}
	p, err := exec.LookPath("chroot")
	if err != nil {
		skip("no chroot command: %v", err)
	}
	return p
}

const probeSource = `package main

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

// slimLayer packs host files into a layer with slim's own writer, as the root command
// would: name in the image → file on the host.
func slimLayer(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var entries []tarball.Entry
	for name, host := range files {
		fi, err := os.Stat(host)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, tarball.Entry{
			Header: &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: int64(fi.Mode().Perm()), Size: fi.Size()},
			Open:   func() (io.ReadCloser, error) { return os.Open(host) },
		})
	}
	l, err := tarball.NewLayer(entries, tarball.WithParents())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestRunOnStatic slims a static Go program onto the static base, checks it, and runs
// the result as its USER: the users, CA roots and zones the base promises must work.
func TestRunOnStatic(t *testing.T) {
	chroot := needChroot(t)
	ctx := context.Background()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(probeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module probe\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "probe")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building probe: %v\n%s", err, out)
	}

	base, err := ResolveBase(ctx, "static", WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}))
	if err != nil {
		t.Fatal(err)
	}
	srcCfg := &v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH, Config: v1.Config{
		Entrypoint: []string{"probe"}, User: "nonroot", Env: []string{"PATH=/app"},
	}}
	img, err := Assemble(ctx, base.Image, []v1.Layer{slimLayer(t, map[string]string{"app/probe": bin})}, srcCfg,
		WithBaseName(base.AnnotationName()), WithHistory("slim: --from probe:/app/probe (1 file)"))
	if err != nil {
		t.Fatal(err)
	}
	testimage.Validate(t, img)
	if err := Check(ctx, img); err != nil {
		t.Fatalf("check: %v", err)
	}

	out := runImage(t, chroot, img, "65532:65532")
	if !strings.HasPrefix(out, "uid=65532 euid=65532 certs=") || !strings.HasSuffix(out, "zone=Europe/Paris") {
		t.Fatalf("probe says %q", out)
	}
}

// TestRunGCCOnScratch slims a dynamically linked C program with its libraries onto
// scratch: the check passes and the program runs; without its libraries the check
// names them.
func TestRunGCCOnScratch(t *testing.T) {
	chroot := needChroot(t)
	ctx := context.Background()
	hello := gccHello(t)
	body, err := os.ReadFile(hello)
	if err != nil {
		t.Fatal(err)
	}
	entries := append([]testimage.Entry{{Name: "app/hello", Body: body, Mode: 0o755}}, hostClosure(t, hello)...)
	layer := testimage.Layer(t, entries)
	srcCfg := &v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH, Config: v1.Config{Entrypoint: []string{"/app/hello"}}}
	img, err := Assemble(ctx, mustScratch(t), []v1.Layer{layer}, srcCfg, WithBaseName("scratch"))
	if err != nil {
		t.Fatal(err)
	}
	testimage.Validate(t, img)
	if err := Check(ctx, img); err != nil {
		t.Fatalf("check: %v", err)
	}
	if out := runImage(t, chroot, img, ""); out != "hello" {
		t.Fatalf("hello says %q", out)
	}
}

// runImage extracts img's merged file system and runs its entrypoint with chroot.
func runImage(t *testing.T, chroot string, img v1.Image, userspec string) string {
	t.Helper()
	root := t.TempDir()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(h.Name, "/")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
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
			continue
		}
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			t.Fatal(err)
		}
	}
	cf := configOf(t, img)
	argv := append(append([]string{}, cf.Config.Entrypoint...), cf.Config.Cmd...)
	if !strings.HasPrefix(argv[0], "/") {
		// chroot's exec looks the name up in the host's PATH: resolve it in the image's.
		for _, kv := range cf.Config.Env {
			if dirs, ok := strings.CutPrefix(kv, "PATH="); ok {
				for _, d := range strings.Split(dirs, ":") {
					if _, err := os.Stat(filepath.Join(root, d, argv[0])); err == nil {
						argv[0] = d + "/" + argv[0]
						break
					}
				}
			}
		}
	}
	args := []string{}
	if userspec != "" {
		args = append(args, "--userspec="+userspec)
	}
	args = append(append(args, root), argv...)
	cmd := exec.Command(chroot, args...)
	cmd.Env = cf.Config.Env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("running %q in chroot: %v\n%s", argv, err, out)
	}
	return strings.TrimSpace(string(out))
}
