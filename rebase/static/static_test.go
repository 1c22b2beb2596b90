package static

import (
	"archive/tar"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/slim-dev/slim/extract/pkgdb"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/testimage"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-digests.txt")

const goldenFile = "testdata/golden-digests.txt"

// TestReproducible builds the base twice and compares with the stored digests: the
// promise is that the same go.mod gives the same base, byte for byte.
func TestReproducible(t *testing.T) {
	p := v1.Platform{OS: "linux", Architecture: "amd64"}
	a, err := Image(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Image(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(a); err != nil {
		t.Fatalf("validating static base: %v", err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("two builds differ: %s and %s", da, db)
	}
	layers, err := a.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("want one layer, got %d (%v)", len(layers), err)
	}
	ld, _ := layers[0].Digest()
	size, _ := layers[0].Size()
	got := "image " + da.String() + "\nlayer " + ld.String() + "\n"
	t.Logf("static base (linux/amd64): image %s, layer %s, %d bytes compressed", da, ld, size)

	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("reading golden digests (run with -update to create them): %v", err)
	}
	if string(want) != got {
		t.Fatalf("static base digest changed (if the CA module, tzdata or tarball changed on purpose, run go test -update):\ngot:\n%swant:\n%s", got, want)
	}

	// Other platforms share the layer blob, only the config differs.
	arm, err := Image(v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	al, _ := arm.Layers()
	ald, _ := al[0].Digest()
	if ald != ld {
		t.Errorf("arm64 layer %s differs from amd64 layer %s", ald, ld)
	}
	cf, _ := arm.ConfigFile()
	if cf.Architecture != "arm64" || cf.OS != "linux" {
		t.Errorf("arm64 config says %s/%s", cf.OS, cf.Architecture)
	}
}

// TestRootsModuleVersion keeps RootsModule honest: it must name the version go.mod
// requires (test binaries carry no dependency list in their build information, so the
// module's go.mod is read instead).
func TestRootsModuleVersion(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatalf("reading go.mod: %v", err)
	}
	path, version, _ := strings.Cut(RootsModule, "@")
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == path || len(f) >= 3 && f[0] == "require" && f[1] == path {
			if f[0] == "require" {
				f = f[1:]
			}
			if f[1] != version {
				t.Fatalf("RootsModule says %s but go.mod requires %s: update the constant and the golden digest (-update)", version, f[1])
			}
			return
		}
	}
	t.Fatalf("go.mod does not require %s", path)
}

// TestContents checks the files a distroless-static user relies on.
func TestContents(t *testing.T) {
	img, err := Image(v1.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	hdrs := map[string]*tar.Header{}
	bodies := map[string]string{}
	layers, _ := img.Layers()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	for _, m := range testimage.ReadTar(t, rc) {
		name := strings.TrimSuffix(m.Name, "/")
		hdrs[name] = m.Header
		if strings.HasPrefix(name, "etc/") && m.Typeflag == tar.TypeReg {
			bodies[name] = string(m.Body)
		}
	}
	for _, tc := range []struct {
		name     string
		mode     int64
		uid      int
		contains string
	}{
		{name: "tmp", mode: 0o1777},
		{name: "root", mode: 0o700},
		{name: "home/nonroot", mode: 0o700, uid: 65532},
		{name: "etc/passwd", mode: 0o644, contains: "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
		{name: "etc/group", mode: 0o644, contains: "nobody:x:65534:\n"},
		{name: "etc/nsswitch.conf", mode: 0o644, contains: "hosts:          files dns\n"},
		{name: "etc/os-release", mode: 0o644, contains: "ID=slim-static\n"},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, contains: "-----BEGIN CERTIFICATE-----"},
		{name: "usr/share/zoneinfo/Europe/Paris", mode: 0o644},
		{name: "usr/share/zoneinfo/UTC", mode: 0o644},
	} {
		h, ok := hdrs[tc.name]
		if !ok {
			t.Errorf("%s missing", tc.name)
			continue
		}
		if h.Mode&0o7777 != tc.mode || h.Uid != tc.uid || h.Gid != tc.uid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d", tc.name, h.Mode, h.Uid, h.Gid, tc.mode, tc.uid)
		}
		if tc.contains != "" && !strings.Contains(bodies[tc.name], tc.contains) {
			t.Errorf("%s does not contain %q", tc.name, tc.contains)
		}
	}
	if !strings.Contains(bodies["etc/os-release"], TZDataVersion()) || !strings.Contains(bodies["etc/os-release"], RootsModule) {
		t.Errorf("os-release does not name its data versions:\n%s", bodies["etc/os-release"])
	}
	cf, _ := img.ConfigFile()
	if cf.Config.User != "" {
		t.Errorf("user %q, want root (empty)", cf.Config.User)
	}
	wantEnv := []string{"PATH=" + DefaultPath, "SSL_CERT_FILE=" + CertFile}
	if strings.Join(cf.Config.Env, " ") != strings.Join(wantEnv, " ") {
		t.Errorf("env %q, want %q", cf.Config.Env, wantEnv)
	}
}

// TestRunChroot runs a static Go program on the extracted base: the user database, the
// CA bundle and the time zones must work for a real program, not only be present.
func TestRunChroot(t *testing.T) {
	testimage.NeedChroot(t)
	probe := testimage.GoBuild(t, testimage.ProbeStatic, runtime.GOARCH)

	img, err := Image(v1.Platform{OS: "linux", Architecture: runtime.GOARCH})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	// The base has nothing but directories, files and symlinks.
	for _, h := range testimage.Unpack(t, img, root) {
		t.Fatalf("unexpected entry %s of type %c", h.Name, h.Typeflag)
	}
	if err := os.Rename(probe, filepath.Join(root, "probe")); err != nil {
		t.Fatal(err)
	}

	cf, _ := img.ConfigFile()
	out := testimage.Chroot(t, root, "", cf.Config.Env, "/probe")
	got := strings.TrimSpace(out)
	t.Logf("probe: %s", got)
	var uid, zone string
	var euid, certs int
	if _, err := fmt.Sscanf(got, "uid=%s euid=%d certs=%d zone=%s", &uid, &euid, &certs, &zone); err != nil {
		t.Fatalf("parsing probe output %q: %v", got, err)
	}
	if uid != "65532" || certs <= 100 || zone != "Europe/Paris" {
		t.Fatalf("probe says uid=%s certs=%d zone=%s, want 65532, >100, Europe/Paris", uid, certs, zone)
	}
}

// TestPackageStatus: scanners read the base's CA bundle and time zones as packages at
// the versions of their sources, from distroless's status.d layout.
func TestPackageStatus(t *testing.T) {
	img, err := Image(v1.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := imagefs.New(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	pkgs, err := pkgdb.Installed(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Name+"@"+p.Version)
	}
	_, pseudo, _ := strings.Cut(RootsModule, "@")
	want := []string{"ca-certificates@" + strings.Split(pseudo, "-")[1][:8], "tzdata@" + TZDataVersion()}
	if !slices.Equal(got, want) {
		t.Errorf("packages of the static base %v, want %v", got, want)
	}
}
