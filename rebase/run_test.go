package rebase

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

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
	testimage.NeedChroot(t)
	ctx := context.Background()
	bin := testimage.GoBuild(t, testimage.ProbeStatic, runtime.GOARCH)

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

	out := runImage(t, img, "65532:65532")
	if !strings.HasPrefix(out, "uid=65532 euid=65532 certs=") || !strings.HasSuffix(out, "zone=Europe/Paris") {
		t.Fatalf("probe says %q", out)
	}
}

// TestRunGCCOnScratch slims a dynamically linked C program with its libraries onto
// scratch: the check passes and the program runs; without its libraries the check
// names them.
func TestRunGCCOnScratch(t *testing.T) {
	testimage.NeedChroot(t)
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
	if out := runImage(t, img, ""); out != "hello" {
		t.Fatalf("hello says %q", out)
	}
}

// runImage unpacks img's merged file system and runs its entrypoint with chroot.
func runImage(t *testing.T, img v1.Image, userspec string) string {
	t.Helper()
	root := t.TempDir()
	testimage.Unpack(t, img, root)
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
	return strings.TrimSpace(testimage.Chroot(t, root, userspec, cf.Config.Env, argv...))
}
