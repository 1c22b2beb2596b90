package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// dockerHosts is the /etc/hosts Docker writes into every container: runtimes mount it,
// so images do not carry it and tests copy it in before they run one.
const dockerHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

// runWithHosts runs argv in rootfs as a container would see it: with Docker's /etc/hosts.
func runWithHosts(t *testing.T, rootfs string, argv ...string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/hosts"), []byte(dockerHosts), 0o644); err != nil {
		t.Fatal(err)
	}
	return testimage.Chroot(t, rootfs, "", []string{"PATH=/usr/local/bin:/usr/bin:/bin"}, argv...)
}

// mountProc mounts a proc file system at rootfs/proc for the test, as runtimes do:
// glibc finds a program's $ORIGIN through /proc/self/exe.
func mountProc(t *testing.T, rootfs string) {
	t.Helper()
	dir := filepath.Join(rootfs, "proc")
	if err := os.MkdirAll(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("proc", dir, "proc", 0, ""); err != nil {
		testimage.Missing(t, "mounting proc: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
}

// hostLibDir is Debian's multiarch library directory of this machine.
func hostLibDir(t *testing.T) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		testimage.Missing(t, "the fixtures list amd64 paths")
	}
	return "/usr/lib/x86_64-linux-gnu"
}

// TestSlimShellScriptEntrypoint: a #!/bin/sh entrypoint named alone brings the commands
// it calls (busybox applets: the symlinks and busybox), and prints what the fat image
// prints.
func TestSlimShellScriptEntrypoint(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	script := filepath.Join(t.TempDir(), "entry.sh")
	body := "#!/bin/sh\nset -e\nyear=$(date -u -d @0 +%Y)\necho \"epoch year $year\" | grep -o 'year [0-9]*' | sed 's/year/YEAR/'\nwc -c </etc/motd.txt\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	motd := filepath.Join(t.TempDir(), "motd.txt")
	if err := os.WriteFile(motd, []byte("twelve bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	layer := hostEntries(t, "bin/busybox=/bin/busybox", "app/entry.sh="+script, "etc/motd.txt="+motd)
	for _, applet := range []string{"sh", "date", "grep", "sed", "wc", "ls", "tar", "vi"} {
		layer = append(layer, symlinkEntry("bin/"+applet, "busybox"))
	}
	_, ref := hostImage(t, [][]tarball.Entry{layer}, func(c *v1.Config) {
		c.Entrypoint = []string{"/app/entry.sh"}
		c.Env = []string{"PATH=/bin"}
	})
	want := runWithHosts(t, unpack(t, strings.TrimPrefix(ref, "oci-layout://"), "latest"), "/app/entry.sh")
	if !strings.HasPrefix(want, "YEAR 1970\n12\n") {
		t.Fatalf("fat image printed %q", want)
	}

	out := filepath.Join(t.TempDir(), "out")
	stdout := slimOK(t, "--from", ref+":/app/entry.sh", "--from", ref+":/etc/motd.txt", "--base", "scratch", "-t", "script:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")
	if !strings.Contains(stdout, `command "date" run by /app/entry.sh`) {
		t.Errorf("report lacks why date was taken:\n%s", stdout)
	}
	root := unpack(t, out, "slim")
	for _, p := range []string{"bin/ls", "bin/tar", "bin/vi"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("/%s taken: the script does not call it", p)
		}
	}
	if got := runWithHosts(t, root, "/app/entry.sh"); got != want {
		t.Errorf("slim image printed %q, fat image %q", got, want)
	}
}

// glibcProbe uses what glibc reads by name: /etc/services, /etc/hosts through NSS with
// /etc/host.conf, the C.UTF-8 locale, and prints its first argument.
const glibcProbe = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <locale.h>
#include <wchar.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <netinet/in.h>
int main(int argc, char **argv) {
	struct servent *s = getservbyname("http", "tcp");
	printf("arg=%s http/tcp=%d\n", argc > 1 ? argv[1] : "", s ? ntohs(s->s_port) : -1);
	struct addrinfo hints, *res, *p;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int rc = getaddrinfo("localhost", "80", &hints, &res);
	if (rc != 0) {
		printf("getaddrinfo: %s\n", gai_strerror(rc));
	} else {
		for (p = res; p; p = p->ai_next) {
			char buf[64];
			void *a = p->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)p->ai_addr)->sin_addr
			                                  : (void *)&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr;
			inet_ntop(p->ai_family, a, buf, sizeof buf);
			printf("localhost=%s\n", buf);
		}
	}
	printf("setlocale=%s\n", setlocale(LC_ALL, "C.UTF-8") ? "ok" : "failed");
	wchar_t w[16];
	printf("mbstowcs=%ld\n", (long)mbstowcs(w, "h\xc3\xa9llo", 16));
	return 0;
}
`

// TestSlimImageModeGlibcProgram: `--from IMG:/app` on an image whose CMD runs a glibc
// program found through PATH takes the program with its closure and the data glibc
// reads by name; on scratch it prints what the fat image prints (both families of
// localhost, the http port, a UTF-8 locale).
func TestSlimImageModeGlibcProgram(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	lib := hostLibDir(t)
	prog := testimage.GCCBuild(t, glibcProbe)
	paths := hostGlibc(lib, lib+"/libnss_files.so.2", lib+"/libnss_dns.so.2", lib+"/gconv", "/usr/lib/locale", "/etc/host.conf", "/etc/services",
		"/etc/protocols", "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/bin/busybox")
	layers := [][]tarball.Entry{
		hostEntries(t, append(paths, "usr/local/bin/probe="+prog, "app/data.txt=/etc/os-release")...),
	}
	_, ref := hostImage(t, layers, func(c *v1.Config) {
		c.Cmd = []string{"probe", "x"}
		c.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	})
	want := runWithHosts(t, unpack(t, strings.TrimPrefix(ref, "oci-layout://"), "latest"), "probe", "x")
	for _, w := range []string{"arg=x http/tcp=80", "localhost=127.0.0.1", "localhost=::1", "setlocale=ok", "mbstowcs=5"} {
		if !strings.Contains(want, w) {
			t.Fatalf("fat image printed %q, want %q in it", want, w)
		}
	}

	out := filepath.Join(t.TempDir(), "out")
	stdout := slimOK(t, "--from", ref+":/app", "--base", "scratch", "-t", "probe:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")
	for _, w := range []string{`entrypoint "probe" of the config`, "C.UTF-8 locale for glibc programs", "/etc/services", "/etc/host.conf"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, stdout)
		}
	}
	root := unpack(t, out, "slim")
	if _, err := os.Lstat(filepath.Join(root, "bin/busybox")); err == nil {
		t.Errorf("/bin/busybox taken: nothing runs it")
	}
	if got := runWithHosts(t, root, "probe", "x"); got != want {
		t.Errorf("slim image printed %q, fat image %q", got, want)
	}

	// Onto static, which has its own /etc/nsswitch.conf: the closure's is left to the
	// base (it was in the image twice, 684 B that dive counted as waste), and no file
	// the base has identically is added again.
	out = filepath.Join(t.TempDir(), "static")
	slimOK(t, "--from", ref+":/app", "--base", "static", "-t", "probe:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")
	if n := layerPaths(t, layoutImage(t, out))["etc/nsswitch.conf"]; n != 1 {
		t.Errorf("/etc/nsswitch.conf is in %d layers, want 1", n)
	}
	if got := runWithHosts(t, unpack(t, out, "slim"), "probe", "x"); got != want {
		t.Errorf("slim image on static printed %q, fat image %q", got, want)
	}
}

// opensslProbe loads OpenSSL's configuration and fetches MD4, which only the legacy
// provider has.
const opensslProbe = `#include <stdio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
int main(void) {
	int ok = OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	EVP_MD *md = EVP_MD_fetch(NULL, "MD4", NULL);
	printf("config=%d legacy=%d md4=%s\n", ok, OSSL_PROVIDER_available(NULL, "legacy"), md ? "yes" : "no");
	return 0;
}
`

// TestSlimOpenSSLLegacyProvider: a program linking libcrypto in an image whose
// openssl.cnf activates the legacy provider gets the config (through OPENSSLDIR's
// symlink) and legacy.so, and still computes MD4 on scratch.
func TestSlimOpenSSLLegacyProvider(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	lib := hostLibDir(t)
	if _, err := os.Stat("/usr/include/openssl/provider.h"); err != nil {
		testimage.Missing(t, "OpenSSL headers (libssl-dev) are not installed")
	}
	prog := testimage.GCCBuild(t, opensslProbe, "-lcrypto")
	cnf := filepath.Join(t.TempDir(), "openssl.cnf")
	if err := os.WriteFile(cnf, []byte("openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n[provider_sect]\ndefault = default_sect\nlegacy = legacy_sect\n[default_sect]\nactivate = 1\n[legacy_sect]\nactivate = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	layers := [][]tarball.Entry{hostEntries(t, "/lib", "/lib64", "/usr/lib64", lib+"/ld-linux-x86-64.so.2", lib+"/libc.so.6", lib+"/libcrypto.so.3",
		lib+"/libz.so.1", lib+"/libzstd.so.1", lib+"/ossl-modules", lib+"/engines-3", "/usr/lib/ssl", "etc/ssl/openssl.cnf="+cnf, "app/probe="+prog)}
	_, ref := hostImage(t, layers, func(c *v1.Config) { c.Entrypoint = []string{"/app/probe"} })
	want := runWithHosts(t, unpack(t, strings.TrimPrefix(ref, "oci-layout://"), "latest"), "/app/probe")
	if want != "config=1 legacy=1 md4=yes\n" {
		t.Fatalf("fat image printed %q", want)
	}
	out := filepath.Join(t.TempDir(), "out")
	stdout := slimOK(t, "--from", ref+":/app/probe", "--base", "scratch", "-t", "ossl:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")
	if !strings.Contains(stdout, "OpenSSL provider legacy activated by") {
		t.Errorf("report lacks the legacy provider:\n%s", stdout)
	}
	if got := runWithHosts(t, unpack(t, out, "slim"), "/app/probe"); got != want {
		t.Errorf("slim image printed %q, fat image %q", got, want)
	}
}

// TestSlimStrictForTheEntrypointOnly: a taken tree with a script whose interpreter is
// missing is taken with a warning (such a script never runs), while an entrypoint whose
// interpreter is missing is refused, and --force still writes it.
func TestSlimStrictForTheEntrypointOnly(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	entry := write("entry.sh", "#!/bin/sh\necho ok\n")
	cgi := write("cgi.py", "#!/usr/local/bin/python\nprint(1)\n")
	layer := hostEntries(t, "bin/busybox=/bin/busybox", "app/entry.sh="+entry, "usr/lib/python3/cgi.py="+cgi)
	layer = append(layer, symlinkEntry("bin/sh", "busybox"))
	_, ref := hostImage(t, [][]tarball.Entry{layer}, func(c *v1.Config) { c.Entrypoint = []string{"/app/entry.sh"} })

	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := slimCLI(t, "--from", ref+":/app/entry.sh", "--from", ref+":/usr/lib/python3", "-o", "type=oci,dest="+out)
	if code != 0 || !strings.Contains(stderr, "warning: script interpreter /usr/local/bin/python of usr/lib/python3/cgi.py") {
		t.Errorf("a tree with a broken script: exit %d, stderr %q: want 0 and a warning naming the interpreter", code, stderr)
	}

	out = filepath.Join(t.TempDir(), "out")
	code, _, stderr = slimCLI(t, "--from", ref+":/usr/lib/python3", "--entrypoint", "/usr/lib/python3/cgi.py", "-o", "type=oci,dest="+out)
	if code != 1 || !strings.Contains(stderr, "missing script interpreter /usr/local/bin/python needed by /usr/lib/python3/cgi.py") {
		t.Errorf("an entrypoint with no interpreter: exit %d, stderr %q: want 1 naming the interpreter", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused image left output behind: %v", err)
	}
	slimOK(t, "--from", ref+":/usr/lib/python3", "--entrypoint", "/usr/lib/python3/cgi.py", "--force", "-o", "type=oci,dest="+out)
}

// TestSlimOriginSymlinkAndHintFollowed: a program that finds its library through
// $ORIGIN/../lib, named through a symlink chain (/usr/bin/prog -> /etc/alternatives/prog
// -> /opt/app/bin/prog, as Debian installs java), runs when named alone; and with
// --deps none, the fixes the refusal prints, added exactly as printed, make an image
// that runs.
func TestSlimOriginSymlinkAndHintFollowed(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	lib := hostLibDir(t)
	libDir := t.TempDir()
	so := testimage.GCCBuild(t, "const char *hello(void) { return \"hello from $ORIGIN\"; }\n", "-shared", "-fPIC", "-Wl,-soname,libhello.so")
	if b, err := os.ReadFile(so); err != nil || os.WriteFile(filepath.Join(libDir, "libhello.so"), b, 0o755) != nil {
		t.Fatal(err)
	}
	prog := testimage.GCCBuild(t, "#include <stdio.h>\nconst char *hello(void);\nint main(void) { puts(hello()); return 0; }\n",
		"-L"+libDir, "-lhello", "-Wl,-rpath,$ORIGIN/../lib", "-Wl,--enable-new-dtags")
	layer := hostEntries(t, "/lib", "/lib64", "/usr/lib64", lib+"/ld-linux-x86-64.so.2", lib+"/libc.so.6",
		"opt/app/bin/prog="+prog, "opt/app/lib/libhello.so="+filepath.Join(libDir, "libhello.so"))
	layer = append(layer, symlinkEntry("usr/bin/prog", "/etc/alternatives/prog"), symlinkEntry("etc/alternatives/prog", "/opt/app/bin/prog"))
	_, ref := hostImage(t, [][]tarball.Entry{layer}, func(c *v1.Config) { c.Entrypoint = []string{"/usr/bin/prog"} })
	want := "hello from $ORIGIN\n"

	out := filepath.Join(t.TempDir(), "out")
	slimOK(t, "--from", ref+":/usr/bin/prog", "--base", "scratch", "-t", "origin:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")
	root := unpack(t, out, "slim")
	mountProc(t, root)
	if got := runWithHosts(t, root, "/usr/bin/prog"); got != want {
		t.Errorf("slim image printed %q, want %q", got, want)
	}

	args := []string{"--from", ref + ":/usr/bin/prog", "--deps", "none", "--base", "scratch", "-t", "origin:slim"}
	out = filepath.Join(t.TempDir(), "out")
	code, _, stderr := slimCLI(t, append(args, "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")...)
	fixes := regexp.MustCompile(`add --from (\S+?)(?:,|$)`).FindAllStringSubmatch(stderr, -1)
	if code != 1 || len(fixes) == 0 {
		t.Fatalf("--deps none: exit %d, stderr %q: want a refusal with fixes", code, stderr)
	}
	for _, f := range fixes {
		args = append(args, "--from", f[1])
	}
	out = filepath.Join(t.TempDir(), "out")
	code, _, stderr2 := slimCLI(t, append(args, "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")...)
	if code != 0 {
		t.Fatalf("the fixes printed (%q) followed literally: exit %d\n%s", fixes, code, stderr2)
	}
	root = unpack(t, out, "slim")
	mountProc(t, root)
	if got := runWithHosts(t, root, "/usr/bin/prog"); got != want {
		t.Errorf("slim image made by following the hints printed %q, want %q", got, want)
	}
}

// hostGlibc lists the paths of this machine's glibc an image needs to run a gcc
// program (the loader through the /lib64 and /lib links, libc), then extra, each
// where this machine has it.
func hostGlibc(lib string, extra ...string) []string {
	var paths []string
	for _, p := range append([]string{"/lib", "/lib64", "/usr/lib64", lib + "/ld-linux-x86-64.so.2", lib + "/libc.so.6"}, extra...) {
		if _, err := os.Lstat(p); err == nil {
			paths = append(paths, p)
		}
	}
	return paths
}

// slimOntoScratch slims ref (--from REF:/app) onto scratch, runs the result with runc
// and fails the test unless it ran as fat did; it returns slim's report.
func slimOntoScratch(t *testing.T, ref string, fat testimage.Ran) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	stdout := slimOK(t, "--from", ref+":/app", "--base", "scratch", "-t", "app:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")
	if got := runImage(t, layoutImage(t, out)); got != fat {
		t.Errorf("the slim image ran differently from the fat one:\nslim: %s\nfat: %s\nslim's report:\n%s", got, fat, stdout)
	}
	return stdout
}

// preloadLib is a library an image preloads: its constructor says so before main runs.
const preloadLib = `#include <unistd.h>
__attribute__((constructor)) static void said(void) { static const char m[] = "preloaded " NAME "\n"; write(1, m, sizeof m - 1); }
`

// TestSlimPreloadedLibraries: what the loader maps before a program's own libraries (an
// allocator through ENV LD_PRELOAD, by name or path, or /etc/ld.so.preload) comes with
// the program. Before, the slim image ran without it and the loader printed "cannot be
// preloaded … ignored" at every start.
func TestSlimPreloadedLibraries(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	lib := hostLibDir(t)
	prog := testimage.GCCBuild(t, "#include <stdio.h>\nint main(void) { puts(\"main\"); return 0; }\n")
	byName := testimage.GCCBuild(t, preloadLib, "-shared", "-fPIC", `-DNAME="by name"`)
	byPath := testimage.GCCBuild(t, preloadLib, "-shared", "-fPIC", `-DNAME="by path"`)
	listed := testimage.GCCBuild(t, preloadLib, "-shared", "-fPIC", `-DNAME="listed"`)
	list := hostFile(t, "ld.so.preload", "/usr/lib/liballoc-listed.so\n")
	paths := hostGlibc(lib, "/etc/ld.so.conf", "/etc/ld.so.conf.d")
	for _, tc := range []struct {
		name  string
		files []string
		env   string
		want  string
	}{
		{"LD_PRELOAD", []string{"usr/lib/x86_64-linux-gnu/liballoc.so=" + byName, "opt/alloc/liballoc2.so=" + byPath}, "LD_PRELOAD=liballoc.so:/opt/alloc/liballoc2.so",
			"preloaded by path\npreloaded by name\nmain\n"},
		{"ld.so.preload", []string{"usr/lib/liballoc-listed.so=" + listed, "etc/ld.so.preload=" + list}, "",
			"preloaded listed\nmain\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := append(append(append([]string{}, paths...), tc.files...), "app/prog="+prog)
			img, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, files...)}, func(c *v1.Config) {
				c.Entrypoint = []string{"/app/prog"}
				if tc.env != "" {
					c.Env = []string{tc.env}
				}
			})
			fat := runImage(t, img)
			if fat.Code != 0 || fat.Stdout != tc.want || fat.Stderr != "" {
				t.Fatalf("fat image: %s, want stdout %q", fat, tc.want)
			}
			slimOntoScratch(t, ref, fat)
		})
	}
}

// TestSlimLibraryFromLdconfigDir: a library installed the way `make install && ldconfig`
// installs it, in a directory of /etc/ld.so.conf (/usr/local/lib), is found by glibc's
// loader through /etc/ld.so.cache only: the slim image must still find it.
func TestSlimLibraryFromLdconfigDir(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	lib := hostLibDir(t)
	ldconfig := testimage.NeedTool(t, "ldconfig")
	dir := t.TempDir()
	so := testimage.GCCBuild(t, "int foo(void) { return 42; }\n", "-shared", "-fPIC", "-Wl,-soname,libfoo.so.1")
	root := filepath.Join(dir, "root")
	for _, d := range []string{"usr/local/lib", "etc/ld.so.conf.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(so)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{"usr/local/lib/libfoo.so.1": b, "etc/ld.so.conf": []byte("include /etc/ld.so.conf.d/*.conf\n"),
		"etc/ld.so.conf.d/local.conf": []byte("/usr/local/lib\n")} {
		if err := os.WriteFile(filepath.Join(root, name), body, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(ldconfig, "-r", root).CombinedOutput(); err != nil {
		t.Fatalf("ldconfig: %v\n%s", err, out)
	}
	if err := os.Symlink("libfoo.so.1", filepath.Join(root, "usr/local/lib/libfoo.so")); err != nil {
		t.Fatal(err)
	}
	prog := testimage.GCCBuild(t, "#include <stdio.h>\nint foo(void);\nint main(void) { printf(\"foo %d\\n\", foo()); return 0; }\n",
		"-L"+filepath.Join(root, "usr/local/lib"), "-lfoo")
	paths := append(hostGlibc(lib), "usr/local/lib="+filepath.Join(root, "usr/local/lib"), "etc/ld.so.conf="+filepath.Join(root, "etc/ld.so.conf"),
		"etc/ld.so.conf.d="+filepath.Join(root, "etc/ld.so.conf.d"), "etc/ld.so.cache="+filepath.Join(root, "etc/ld.so.cache"), "app/prog="+prog)
	img, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, paths...)}, func(c *v1.Config) { c.Entrypoint = []string{"/app/prog"} })
	fat := runImage(t, img)
	if fat.Code != 0 || fat.Stdout != "foo 42\n" {
		t.Fatalf("fat image: %s", fat)
	}
	slimOntoScratch(t, ref, fat)
}

// TestSlimThreadExitUnwinder: a glibc program whose thread calls pthread_exit (as
// Debian's python3 does when a daemon thread outlives the interpreter) makes glibc
// dlopen libgcc_s.so.1 to unwind that thread; the result has it. Before, the slim
// image aborted: "libgcc_s.so.1 must be installed for pthread_exit to work".
func TestSlimThreadExitUnwinder(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needRoot(t)
	lib := hostLibDir(t)
	prog := testimage.GCCBuild(t, `#include <pthread.h>
#include <stdio.h>
static void *run(void *a) { pthread_exit((void *)42); return a; }
int main(void) {
	pthread_t t; void *r;
	pthread_create(&t, 0, run, 0);
	pthread_join(t, &r);
	printf("thread %ld\n", (long)r);
	return 0;
}
`)
	paths := hostGlibc(lib, lib+"/libgcc_s.so.1")
	img, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, append(paths, "app/prog="+prog)...)}, func(c *v1.Config) { c.Entrypoint = []string{"/app/prog"} })
	fat := runImage(t, img)
	if fat.Code != 0 || fat.Stdout != "thread 42\n" {
		t.Fatalf("fat image: %s", fat)
	}
	if stdout := slimOntoScratch(t, ref, fat); !strings.Contains(stdout, "to unwind the stack for pthread_exit") {
		t.Errorf("the report does not say why libgcc_s.so.1 was taken:\n%s", stdout)
	}
}
