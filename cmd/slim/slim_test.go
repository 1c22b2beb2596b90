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
	"github.com/google/go-containerregistry/pkg/v1/layout"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/rebase/static"
	"github.com/slim-dev/slim/tarball"
)

const cProgram = `#include <stdio.h>
#include <math.h>
#include <gnu/libc-version.h>
int main(int argc, char **argv) {
	volatile double x = argc;
	printf("hello from C: cos(%g)=%.3f, glibc %s\n", x, cos(x), gnu_get_libc_version());
	return 0;
}
`

// goServer answers HTTP; with -selftest it serves one request to itself on loopback and
// prints the answer, so a chroot run shows the server really works.
const goServer = `package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "server says hello to %s", r.URL.Path)
	}))
	resp, err := http.Get("http://" + ln.Addr().String() + "/slim")
	if err != nil {
		fmt.Println("get:", err)
		os.Exit(1)
	}
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(b))
}
`

// goNonroot looks up the nonroot user and loads the system certificate pool, the two
// things a Go service on distroless static relies on.
const goNonroot = `package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"os/user"
)

func main() {
	u, err := user.Lookup("nonroot")
	if err != nil {
		fmt.Println("lookup:", err)
		os.Exit(1)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		fmt.Println("certs:", err)
		os.Exit(1)
	}
	fmt.Printf("nonroot uid=%s home=%s certs=%v running as uid %d\n", u.Uid, u.HomeDir, len(pool.Subjects()) > 100, os.Getuid())
}
`

// slimOK runs the CLI and fails the test on a non-zero status.
func slimOK(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := slimCLI(t, args...)
	if code != 0 {
		t.Fatalf("slim %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// layoutDigest is the digest of the image an OCI layout directory holds (see
// layoutResult).
func layoutDigest(t *testing.T, dir string) v1.Hash {
	t.Helper()
	_, d := layoutResult(t, dir)
	return d.Digest
}

// TestSlimCProgramOntoScratch slims a glibc program out of an image that holds the
// host's /usr/lib and /bin (so the closure is found among thousands of libraries), names
// it through a symlink, runs the result and compares with the program's own output.
func TestSlimCProgramOntoScratch(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	prog := testimage.GCCBuild(t, cProgram, "-lm")
	want := runHost(t, prog)
	libdir := "/usr/lib/" + map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH] + "-linux-gnu"
	layers := [][]tarball.Entry{
		hostEntries(t, "/bin", "/lib", "/lib64", "/usr/bin", libdir, "/usr/lib64", "/etc/ld.so.conf", "/etc/ld.so.conf.d"),
		hostEntries(t, "app/releases/1.0/hello="+prog),
	}
	layers[1] = append(layers[1], symlinkEntry("app/current", "releases/1.0/hello"))
	_, ref := hostImage(t, layers, func(c *v1.Config) { c.Entrypoint = []string{"/app/current"} })

	out := filepath.Join(t.TempDir(), "out")
	report := filepath.Join(t.TempDir(), "report.json")
	stdout := slimOK(t, "--from", ref+":/app/current:/app/hello", "--entrypoint", `["/app/hello"]`,
		"--base", "scratch", "-t", "hello:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false", "--report", report)
	for _, w := range []string{"libc.so.6", "libm.so.6", "DT_NEEDED", "Files taken"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, stdout)
		}
	}
	if got := testimage.Chroot(t, unpack(t, out, "slim"), "", nil, "/app/hello"); got != want {
		t.Errorf("slim image printed %q, the program itself %q", got, want)
	}

	rep := readReport(t, report)
	if len(rep.Images) != 1 || len(rep.Sources) != 1 || rep.Images[0].Uncompressed*20 > rep.Sources[0].Uncompressed {
		t.Errorf("report: want one result far smaller than its source, got %+v %+v", rep.Sources, rep.Images)
	}
}

// TestSlimFidelityCheckNamesMissingLibrary: with --deps none the program's libraries are
// left behind, and slim refuses to write an image that cannot start.
func TestSlimFidelityCheckNamesMissingLibrary(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	prog := testimage.GCCBuild(t, cProgram, "-lm")
	libdir := "/usr/lib/x86_64-linux-gnu"
	if runtime.GOARCH != "amd64" {
		t.Skip("the fixture lists amd64 paths; CI runs on amd64, where this test runs")
	}
	_, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, "/lib", "/lib64", "/usr/lib64", libdir+"/libc.so.6", libdir+"/libm.so.6", "app/hello="+prog)},
		func(c *v1.Config) { c.Entrypoint = []string{"/app/hello"} })
	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := slimCLI(t, "--from", ref+":/app/hello", "--deps", "none", "-o", "type=oci,dest="+out)
	if code != 1 || !strings.Contains(stderr, "libc.so.6") || !strings.Contains(stderr, "--from") {
		t.Errorf("exit %d, stderr %q: want 1 and a message naming libc.so.6 and how to add it", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused image left output behind: %v", err)
	}
	// --force writes it all the same.
	slimOK(t, "--from", ref+":/app/hello", "--deps", "none", "--force", "-o", "type=oci,dest="+out)
	if _, err := os.Stat(filepath.Join(out, "index.json")); err != nil {
		t.Errorf("--force wrote nothing: %v", err)
	}
}

// TestSlimGoServerGlobOntoScratch takes a static Go server through a glob, runs the fat
// image and the slim one, and checks the same answer, a size close to the binary's, and
// reproducible digests.
func TestSlimGoServerGlobOntoScratch(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	server := testimage.GoBuild(t, goServer, runtime.GOARCH)
	busybox := "/bin/busybox"
	_, ref := hostImage(t, [][]tarball.Entry{
		hostEntries(t, "bin/busybox="+busybox, "srv/bin/server-linux="+server, "srv/README=/etc/os-release"),
	}, func(c *v1.Config) { c.Entrypoint = []string{"/srv/bin/server-linux"}; c.WorkingDir = "/srv" })
	fatDir := strings.TrimPrefix(ref, "oci-layout://")
	want := testimage.Chroot(t, unpack(t, fatDir, "latest"), "", nil, "/srv/bin/server-linux")
	if !strings.Contains(want, "200 OK server says hello to /slim") {
		t.Fatalf("fat image printed %q", want)
	}

	var digests []v1.Hash
	for range 2 {
		out := filepath.Join(t.TempDir(), "out")
		slimOK(t, "--from", ref+":/srv/bin/server-*:/app/", "--entrypoint", "/app/server-linux", "--base", "scratch",
			"-t", "server:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")
		digests = append(digests, layoutDigest(t, out))
		if got := testimage.Chroot(t, unpack(t, out, "slim"), "", nil, "/app/server-linux"); got != want {
			t.Errorf("slim image printed %q, fat image %q", got, want)
		}
	}
	if digests[0] != digests[1] {
		t.Errorf("two runs gave %s and %s, want the same digest", digests[0], digests[1])
	}
}

// TestSlimGoNonrootOntoStatic lays a Go program that needs users and CA certificates on
// the built-in static base, runs it as nonroot, and checks the base's layer is untouched.
func TestSlimGoNonrootOntoStatic(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	prog := testimage.GoBuild(t, goNonroot, runtime.GOARCH)
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ref := hostImage(t, [][]tarball.Entry{
		hostEntries(t, "bin/busybox=/bin/busybox", "etc/passwd="+passwd, "etc/ssl/certs/ca-certificates.crt=/etc/ssl/certs/ca-certificates.crt", "usr/local/bin/probe="+prog),
	}, func(c *v1.Config) {
		c.Entrypoint = []string{"probe"}
		c.User = "nonroot"
		c.Env = []string{"PATH=/usr/local/bin:/bin"}
	})
	want := testimage.Chroot(t, unpack(t, strings.TrimPrefix(ref, "oci-layout://"), "latest"), "65532:65532", nil, "/usr/local/bin/probe")
	if !strings.Contains(want, "nonroot uid=65532 home=/home/nonroot certs=true running as uid 65532") {
		t.Fatalf("fat image printed %q", want)
	}

	out := filepath.Join(t.TempDir(), "out")
	slimOK(t, "--from", ref+":/usr/local/bin/probe", "--base", "static", "-t", "probe:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")
	if got := testimage.Chroot(t, unpack(t, out, "slim"), "65532:65532", nil, "/usr/local/bin/probe"); got != want {
		t.Errorf("slim image printed %q, fat image %q", got, want)
	}

	// The static base's layer is carried over byte for byte.
	baseLayer, err := static.Layer()
	if err != nil {
		t.Fatal(err)
	}
	wantDigest, err := baseLayer.Digest()
	if err != nil {
		t.Fatal(err)
	}
	res := layoutImage(t, out)
	ls, err := res.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := ls[0].Digest(); got != wantDigest || len(ls) != 2 {
		t.Errorf("result layers %d, first %s; want 2 with the static base's %s first", len(ls), got, wantDigest)
	}
	cf, err := res.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "nonroot" {
		t.Errorf("result user %q, want the source's nonroot", cf.Config.User)
	}
	// static is no registry image: no base.name (regctl image check-base looked up
	// docker.io/library/static:latest), only the digest and slim's own key (mediatype.AnnotationBuiltinBase), which --keep-base auto knows.
	m, err := res.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := m.Annotations[specs.AnnotationBaseImageName]; ok || m.Annotations[specs.AnnotationBaseImageDigest] == "" {
		t.Errorf("base annotations %v: want a digest and no name (was %q)", m.Annotations, n)
	}
	re := filepath.Join(t.TempDir(), "re")
	slimOK(t, "recompress", "oci-layout://"+out+":slim", "--keep-base", "auto", "-o", re)
	if got := layerDigests(t, re); got[0] != wantDigest.String() {
		t.Errorf("recompress --keep-base auto rewrote the static base layer: %s, want %s", got, wantDigest)
	}
}

// TestSlimMultiPlatform: an index source gives an index result with each platform slimmed.
func TestSlimMultiPlatform(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	images := map[string]v1.Image{}
	for _, arch := range []string{"amd64", "arm64"} {
		bin := testimage.GoBuild(t, goServer, arch)
		img, _ := hostImage(t, [][]tarball.Entry{hostEntries(t, "srv/server="+bin, "srv/junk=/etc/os-release")},
			func(c *v1.Config) { c.Entrypoint = []string{"/srv/server"} }, "linux", arch)
		images["linux/"+arch] = img
	}
	src := "oci-layout://" + testimage.WriteLayout(t, testimage.Index(t, images))
	out := filepath.Join(t.TempDir(), "out")
	slimOK(t, "--from", src+":/srv/server", "--base", "scratch", "-t", "multi:slim", "-o", "type=oci,dest="+out)

	idx, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	top, err := idx.IndexManifest()
	if err != nil || len(top.Manifests) != 1 {
		t.Fatalf("layout index: %v, %d manifests", err, len(top.Manifests))
	}
	inner, err := idx.ImageIndex(top.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("the result is not an index: %v", err)
	}
	im, err := inner.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range im.Manifests {
		if d.Annotations[rebase.ReferenceTypeAnnotation] == rebase.AttestationManifestType {
			continue // the default attestations, one per image
		}
		got = append(got, d.Platform.String())
	}
	if strings.Join(got, " ") != "linux/amd64 linux/arm64" {
		t.Errorf("result platforms %v, want linux/amd64 linux/arm64", got)
	}
	want := "200 OK server says hello to /slim\n"
	if runtime.GOARCH == "amd64" {
		// umoci cannot pick a platform out of an index; skopeo, another reader, does.
		skopeo := testimage.NeedTool(t, "skopeo")
		single := filepath.Join(t.TempDir(), "single")
		if b, err := exec.Command(skopeo, "--override-os", "linux", "--override-arch", "amd64", "copy", "oci:"+out+":slim", "oci:"+single+":slim").CombinedOutput(); err != nil {
			t.Fatalf("skopeo copy: %v\n%s", err, b)
		}
		if got := testimage.Chroot(t, unpack(t, single, "slim"), "", nil, "/srv/server"); got != want {
			t.Errorf("amd64 result printed %q, want %q", got, want)
		}
	}
}

// TestSlimBadInput: each mistake is one clear line, status 1, and nothing written.
func TestSlimBadInput(t *testing.T) {
	_, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, "bin/busybox=/bin/busybox")}, func(c *v1.Config) {})
	for _, tc := range []struct {
		name string
		from string
		want string
	}{
		{"missing path", ref + ":/no/such/file", "no/such/file"},
		{"empty glob", ref + ":/bin/nothing*", "nothing*"},
		{"missing source", "oci-layout://" + filepath.Join(t.TempDir(), "none") + ":/bin/busybox", "none"},
		{"unreachable registry", "localhost:1/x:y:/bin/busybox", "localhost:1"},
		{"escaping dest", ref + ":/bin/busybox:/../../etc/evil", "climbs out of the root"},
		{"no path", ref, "SRC:/PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := slimCLI(t, "--from", tc.from, "--entrypoint", "/bin/busybox", "-o", "type=oci,dest="+out)
			// Progress lines may come first; the error is the last line, and one line.
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if code != 1 || !strings.HasPrefix(last, "slim: ") || !strings.Contains(last, tc.want) {
				t.Errorf("exit %d, stderr %q: want 1 and a last line mentioning %q", code, stderr, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output written despite the error: %v", err)
			}
		})
	}
}

// TestSlimMaxSize: a broken budget is exit status 3, distinct from failures.
func TestSlimMaxSize(t *testing.T) {
	_, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, "bin/busybox=/bin/busybox")},
		func(c *v1.Config) { c.Entrypoint = []string{"/bin/busybox"} })
	code, _, stderr := slimCLI(t, "--from", ref+":/bin/busybox", "--max-size", "10kB")
	if code != exitMaxSize || !strings.Contains(stderr, "max-size") {
		t.Errorf("exit %d, stderr %q: want %d and a message about --max-size", code, stderr, exitMaxSize)
	}
	if code, _, stderr := slimCLI(t, "--from", ref+":/bin/busybox", "--max-size", "100MB"); code != 0 {
		t.Errorf("within budget: exit %d: %s", code, stderr)
	}
}

// TestSlimOutputs writes one result to every output the CLI offers and has third-party
// readers (skopeo) and slim itself read each back.
func TestSlimOutputs(t *testing.T) {
	skopeo := testimage.NeedTool(t, "skopeo")
	_, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, "bin/busybox=/bin/busybox")},
		func(c *v1.Config) { c.Entrypoint = []string{"/bin/busybox"} })
	host := testimage.Registry(t)
	dir := t.TempDir()
	pushed := host + "/slim/busybox:v1"
	slimOK(t, "--from", ref+":/bin/busybox", "-t", pushed, "--push",
		"-o", "type=oci,dest="+filepath.Join(dir, "layout"),
		"-o", "type=oci,dest="+filepath.Join(dir, "layout.tar"),
		"-o", "type=docker,dest="+filepath.Join(dir, "docker.tar"))
	for _, target := range []string{
		"oci:" + filepath.Join(dir, "layout") + ":v1",
		"oci-archive:" + filepath.Join(dir, "layout.tar"),
		"docker-archive:" + filepath.Join(dir, "docker.tar"),
		"docker://" + pushed,
	} {
		if b, err := exec.Command(skopeo, "inspect", "--tls-verify=false", target).CombinedOutput(); err != nil || !strings.Contains(string(b), `"Layers"`) {
			t.Errorf("skopeo inspect %s: %v\n%s", target, err, b)
		}
	}
	// The pushed image is the same as the layout's.
	out := slimOK(t, "inspect", "--json", pushed)
	if !strings.Contains(out, layoutDigest(t, filepath.Join(dir, "layout")).String()) {
		t.Errorf("pushed image's digest differs from the layout's:\n%s", out)
	}
}

// TestSlimDockerLoadAndRun loads slim's docker archive (and --load) into a Docker
// daemon and runs the image there. .ci/run starts Debian's dockerd, so under CI=true a
// missing daemon is a failure.
func TestSlimDockerLoadAndRun(t *testing.T) {
	docker := needDocker(t)
	server := testimage.GoBuild(t, goServer, runtime.GOARCH)
	_, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, "srv/server="+server, "srv/junk=/etc/os-release")},
		func(c *v1.Config) { c.Entrypoint = []string{"/srv/server"} })
	tag := fmt.Sprintf("slim-e2e/server:%d", os.Getpid())
	archive := filepath.Join(t.TempDir(), "docker.tar")
	slimOK(t, "--from", ref+":/srv/server", "-t", tag, "-o", "type=docker,dest="+archive, "--load")
	t.Cleanup(func() { exec.Command(docker, "rmi", "-f", tag).Run() })
	if b, err := exec.Command(docker, "load", "-i", archive).CombinedOutput(); err != nil || !strings.Contains(string(b), tag) {
		t.Fatalf("docker load: %v\n%s", err, b)
	}
	b, err := exec.Command(docker, "run", "--rm", "--network", "none", tag).CombinedOutput()
	if err != nil || string(b) != "200 OK server says hello to /slim\n" {
		t.Errorf("docker run %s: %v\n%s", tag, err, b)
	}
}

// goZones is a Go server's use of time zones named at run time.
const goZones = `package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	for _, name := range os.Args[1:] {
		loc, err := time.LoadLocation(name)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(name, time.Unix(1e9, 0).In(loc).Format(time.RFC3339))
	}
}
`

// TestSlimGoTimeZonesOntoScratch: a Go program that loads time zones by name
// (time.LoadLocation) from the system's database, slimmed onto scratch, brings the
// source's /usr/share/zoneinfo and prints what the fat image prints; on the static base,
// which has its own, the source's is left out. Before, the result failed with "unknown
// time zone America/New_York" and slim said nothing.
func TestSlimGoTimeZonesOntoScratch(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	if _, err := os.Stat("/usr/share/zoneinfo/America/New_York"); err != nil {
		testimage.Missing(t, "the host's time zone database (tzdata)")
	}
	prog := testimage.GoBuild(t, goZones, runtime.GOARCH)
	_, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, "app/server="+prog, "usr/share/zoneinfo=/usr/share/zoneinfo")},
		func(c *v1.Config) { c.Entrypoint = []string{"/app/server"} })
	argv := []string{"/app/server", "America/New_York", "Asia/Tokyo"}
	want := testimage.Chroot(t, unpack(t, strings.TrimPrefix(ref, "oci-layout://"), "latest"), "", nil, argv...)
	if !strings.Contains(want, "America/New_York 2001-09-08T21:46:40-04:00") {
		t.Fatalf("fat image printed %q", want)
	}
	for _, base := range []string{"scratch", "static"} {
		out := filepath.Join(t.TempDir(), "out")
		report := filepath.Join(t.TempDir(), "report.json")
		slimOK(t, "--from", ref+":/app/server", "--base", base, "-t", "zones:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false", "--report", report)
		if got := testimage.Chroot(t, unpack(t, out, "slim"), "", nil, argv...); got != want {
			t.Errorf("on %s: slim image printed %q, fat image %q", base, got, want)
		}
		taken := false
		for _, f := range readReport(t, report).Files {
			taken = taken || f.Path == "/usr/share/zoneinfo/Asia/Tokyo" && strings.Contains(f.Reason, "time.LoadLocation")
		}
		if taken != (base == "scratch") {
			t.Errorf("on %s: the source's zoneinfo taken %v, want %v", base, taken, base == "scratch")
		}
	}
}
