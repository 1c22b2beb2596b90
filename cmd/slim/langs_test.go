package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// The runtime tests below run real interpreters from Debian bookworm packages. Their
// fixture (debootstrap's minbase with python3, nodejs and a JRE: one image, so the cold
// cost is paid once) takes a few minutes to make the first time and is kept under
// .cache/fixtures; each test then adds only its app. They are slow: -short skips them.

// langsDebian is the fixture all runtime tests share; each slims only its own app.
func langsDebian() testimage.Debian { return testimage.LanguageRuntimes() }

// langsImage is the shared fixture with app on top and cfg applied, as an oci-layout
// reference.
func langsImage(t *testing.T, app []tarball.Entry, cfg func(*v1.Config)) (v1.Image, string) {
	t.Helper()
	return debianApp(t, langsDebian(), app, cfg)
}

// debianApp is the Debian fixture d with app on top and cfg applied, as an oci-layout
// reference.
func debianApp(t *testing.T, d testimage.Debian, app []tarball.Entry, cfg func(*v1.Config)) (v1.Image, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs real runtimes from a Debian fixture (make test and CI run it)")
	}
	base := testimage.DebianLayout(t, d)
	l, err := tarball.NewLayer(app, tarball.WithCompression(tarball.Uncompressed), tarball.WithParents(), tarball.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	img, dir := testimage.ExtendLayout(t, base, []v1.Layer{l}, cfg)
	return img, "oci-layout://" + dir
}

// runImage runs img's entrypoint and command with runc as Docker would: its Env,
// WorkingDir, and /etc/hosts, /etc/hostname, /etc/resolv.conf mounted in.
func runImage(t *testing.T, img v1.Image) testimage.Ran {
	t.Helper()
	r, _ := runImageIn(t, img)
	return r
}

// runImageIn is runImage that also returns the root file system it ran in.
func runImageIn(t *testing.T, img v1.Image) (testimage.Ran, string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	if skipped := testimage.Unpack(t, img, root); len(skipped) > 0 {
		t.Fatalf("unpacking skipped %d entries (first %s)", len(skipped), skipped[0].Name)
	}
	return testimage.RunC(t, root, testimage.Container{
		Args: append(append([]string(nil), cf.Config.Entrypoint...), cf.Config.Cmd...),
		Env:  cf.Config.Env,
		Cwd:  cf.Config.WorkingDir,
	}), root
}

// runFat runs the fat image, which must succeed and print want.
func runFat(t *testing.T, img v1.Image, want string) testimage.Ran {
	t.Helper()
	fat := runImage(t, img)
	if fat.Code != 0 || !strings.Contains(fat.Stdout, want) {
		t.Fatalf("fat image (want %q in its output): %s", want, fat)
	}
	return fat
}

// slimRuns slims ref with args, then runs the result: it must behave as fat did (same
// exit status, stdout and stderr), or slim must have refused naming what is missing.
// It returns slim's report (stdout) and whether the result has a name.
func slimRuns(t *testing.T, fat testimage.Ran, args ...string) (string, func(string) bool) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	// Uncompressed: what is measured here is what runs, and gzip of a JRE is most of the time.
	report := filepath.Join(t.TempDir(), "report.json")
	code, stdout, stderr := slimCLI(t, append(args, "--compression", "uncompressed", "-t", "langs:slim", "-o", "type=oci,dest="+out, "--report", report)...)
	if code != 0 {
		if code == 1 && strings.Contains(stderr, "missing") {
			t.Fatalf("slim refused (at least not silently broken), but the runtime rules should have taken it:\n%s", stderr)
		}
		t.Fatalf("slim %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	img := layoutImage(t, out)
	testimage.Validate(t, img)
	if rep := readReport(t, report); len(rep.Files) == 0 {
		t.Errorf("the report lists no files taken")
	}
	summary, _, _ := strings.Cut(stdout, "Files taken")
	t.Logf("slim %s:\n%s", strings.Join(args, " "), summary)
	got, root := runImageIn(t, img)
	if got.Code != fat.Code || got.Stdout != fat.Stdout || got.Stderr != fat.Stderr {
		t.Errorf("the slim image ran differently from the fat one:\nslim: %s\nfat: %s", got, fat)
	}
	return stdout, func(name string) bool {
		_, err := os.Lstat(filepath.Join(root, name))
		return err == nil
	}
}

// traceAndVerify slims ref with the runtime rules plus --trace app onto scratch, with
// --verify app in the same run (it must pass), and checks that the result runs exactly
// as fat did. It returns slim's report and whether the result has a name.
func traceAndVerify(t *testing.T, fat testimage.Ran, ref string, app []string) (string, func(string) bool) {
	t.Helper()
	needBuildkit(t)
	t.Setenv("SLIM_TRACER", testimage.Tracer(t))
	cmd, err := json.Marshal(app)
	if err != nil {
		t.Fatal(err)
	}
	report, has := slimRuns(t, fat, "--addr", bk.addr, "--from", ref+":/app", "--trace", string(cmd), "--base", "scratch",
		"--verify", string(cmd), "--verify-stderr")
	if !strings.Contains(report, " by --trace "+string(cmd)) {
		t.Errorf("report names no file taken by --trace %s:\n%s", cmd, report)
	}
	return report, has
}

// verifyCatches slims ref with args, a result the fidelity check passes but that does
// not run as the source does; --verify app must refuse it: exit 4, the source's output
// (with wantSource) and the result's (with wantResult) shown, nothing written.
func verifyCatches(t *testing.T, app []string, wantSource, wantResult string, args ...string) {
	t.Helper()
	needBuildkit(t)
	cmd, err := json.Marshal(app)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := slimCLI(t, append(args, "--addr", bk.addr, "--verify", string(cmd), "--compression", "uncompressed",
		"-t", "langs:broken", "-o", "type=oci,dest="+out)...)
	if code != 4 {
		t.Fatalf("slim %s: exit %d, want 4 (--verify refuses)\n%s", strings.Join(args, " "), code, stderr)
	}
	for _, want := range []string{"source: " + string(cmd) + ", exit 0", "result: " + string(cmd) + ", exit", wantSource, wantResult, "nothing was written"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a result that --verify refused left output behind: %v", err)
	}
}

// hostFile writes body to a file of the test and returns its path.
func hostFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const pythonApp = `import hashlib, json, sys
import six
import yaml

data = {"name": "slim", "list": [1, 2.5, None, True], "nested": {"k": "v"}}
text = yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=True)
back = yaml.load(text, Loader=yaml.CSafeLoader)
print(text, end="")
print("round trip:", back == data, "libyaml:", yaml.__with_libyaml__)
print("six:", six.PY3, six.text_type.__name__, "python:", sys.version_info[:2])
print("sha256:", hashlib.sha256(b"slim").hexdigest(), json.dumps(back, sort_keys=True))
`

// TestSlimLangsPython: `python3 /app/main.py` (PyYAML with its C extension, six) taken
// with --from IMG:/app alone onto the static base prints the same YAML round trip as
// the fat image: the stdlib (less its tests) and the dist-packages the app imports come
// with the interpreter. Slow (a Debian fixture).
func TestSlimLangsPython(t *testing.T) {
	img, ref := langsImage(t, hostEntries(t, "app/main.py="+hostFile(t, "main.py", pythonApp)), func(c *v1.Config) {
		c.Cmd = []string{"python3", "/app/main.py"}
	})
	fat := runFat(t, img, "round trip: True libyaml: True")
	report, has := slimRuns(t, fat, "--from", ref+":/app", "--base", "static")
	for _, w := range []string{"python3.11 stdlib for /usr/bin/python3.11", "module yaml imported by /app/main.py", "module six imported by /app/main.py"} {
		if !strings.Contains(report, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	for _, p := range []string{"usr/lib/python3.11/encodings/utf_8.py", "usr/lib/python3/dist-packages/six.py",
		"usr/lib/x86_64-linux-gnu/libyaml-0.so.2", "etc/python3.11/sitecustomize.py"} {
		if !has(p) {
			t.Errorf("/%s not taken", p)
		}
	}
	for _, p := range []string{"usr/lib/python3.11/test", "usr/lib/jvm", "usr/share/nodejs", "usr/bin/node"} {
		if has(p) {
			t.Errorf("/%s taken: the app does not need it", p)
		}
	}

	app := []string{"python3", "/app/main.py"}
	traceAndVerify(t, fat, ref, app)
	// The app's --from left out (image mode takes python3 from the config, with its
	// stdlib): the entrypoint starts, so the fidelity check passes; the run cannot open
	// the script. (--from IMG:/usr/bin/python3 is refused as conflicting files with the
	// python3 that the stdlib's #! lines take.)
	verifyCatches(t, app, "round trip: True", "can't open file '/app/main.py'", "--from", ref+":/etc/debian_version", "--base", "static")
}

const nodeApp = `const express = require('express');
const _ = require('lodash');
const semver = require('semver');
console.log('express', typeof express());
console.log('lodash', JSON.stringify(_.chunk([1, 2, 3, 4, 5], 2)));
console.log('semver', semver.satisfies('1.2.3', '^1.0.0'), semver.valid('v2.0.0'));
`

// TestSlimLangsNode: `node /app/app.js` with express, lodash and semver from npm runs
// on the static base when only /app is named: Debian's libnode loads builtins from
// /usr/share/nodejs by name, and they come with it. Slow (a Debian fixture, npm).
func TestSlimLangsNode(t *testing.T) {
	modules := testimage.NPMInstall(t, "express@4.21.2", "lodash@4.17.21", "semver@7.6.3")
	img, ref := langsImage(t, hostEntries(t, "app/app.js="+hostFile(t, "app.js", nodeApp), "app/node_modules="+modules), func(c *v1.Config) {
		c.Cmd = []string{"node", "/app/app.js"}
	})
	fat := runFat(t, img, "express function")
	report, has := slimRuns(t, fat, "--from", ref+":/app", "--base", "static")
	if !strings.Contains(report, "node builtin /usr/share/nodejs/cjs-module-lexer/lexer.js named in /usr/lib/x86_64-linux-gnu/libnode.so.108") {
		t.Errorf("report lacks the externalized builtins:\n%s", report)
	}
	for _, p := range []string{"usr/lib/python3.11", "usr/lib/jvm"} {
		if has(p) {
			t.Errorf("/%s taken: the app does not need it", p)
		}
	}

	app := []string{"node", "/app/app.js"}
	traceAndVerify(t, fat, ref, app)
	// Every module but lodash: node and its builtins start, the require fails.
	verifyCatches(t, app, `lodash [[1,2],[3,4],[5]]`, "Cannot find module 'lodash'",
		"--from", ref+":/app/app.js", "--from", ref+":/app/node_modules/[^l]*", "--base", "static")
}

const javaApp = `import java.security.KeyStore;
import java.security.MessageDigest;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.Instant;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class Main {
	public static void main(String[] args) throws Exception {
		System.out.println("java " + System.getProperty("java.version"));
		StringBuilder sb = new StringBuilder();
		for (byte b : MessageDigest.getInstance("SHA-256").digest("slim".getBytes("UTF-8"))) {
			sb.append(String.format("%02x", b));
		}
		System.out.println("sha256 " + sb);
		TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
		tmf.init((KeyStore) null);
		System.out.println("trusted " + (((X509TrustManager) tmf.getTrustManagers()[0]).getAcceptedIssuers().length > 100));
		System.out.println("paris " + ZonedDateTime.ofInstant(Instant.EPOCH, ZoneId.of("Europe/Paris")));
	}
}
`

// TestSlimLangsJava: a class compiled by the host's javac, run by Debian's JRE 17
// (`java -cp /app Main`: a digest, the default trust store, a time zone), runs on the
// static base from --from IMG:/app alone (java from the config, through PATH and
// /etc/alternatives) and from --from IMG:/usr/bin/java --from IMG:/app. Slow (a Debian
// fixture).
func TestSlimLangsJava(t *testing.T) {
	javac := testimage.NeedTool(t, "javac")
	dir := t.TempDir()
	src := filepath.Join(dir, "Main.java")
	if err := os.WriteFile(src, []byte(javaApp), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(javac, "--release", "17", "-d", dir, src).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, b)
	}
	img, ref := langsImage(t, hostEntries(t, "app/Main.class="+filepath.Join(dir, "Main.class")), func(c *v1.Config) {
		c.Cmd = []string{"java", "-cp", "/app", "Main"}
	})
	fat := runFat(t, img, "trusted true")
	report, has := slimRuns(t, fat, "--from", ref+":/app", "--base", "static")
	if !strings.Contains(report, "JRE /usr/lib/jvm/java-17-openjdk-amd64 of /usr/lib/jvm/java-17-openjdk-amd64/bin/java") {
		t.Errorf("report lacks the JRE:\n%s", report)
	}
	for p, want := range map[string]bool{"etc/ssl/certs/java/cacerts": true, "usr/lib/jvm/java-17-openjdk-amd64/lib/modules": true,
		"usr/lib/jvm/java-17-openjdk-amd64/lib/ct.sym": false, "usr/lib/jvm/java-17-openjdk-amd64/legal": false} {
		if has(p) != want {
			t.Errorf("/%s taken: %v, want %v", p, has(p), want)
		}
	}
	slimRuns(t, fat, "--from", ref+":/usr/bin/java", "--from", ref+":/app", "--base", "static")

	app := []string{"java", "-cp", "/app", "Main"}
	traceAndVerify(t, fat, ref, app)
	// The JRE without the class: java starts, the class is not found.
	verifyCatches(t, app, "trusted true", "Could not find or load main class Main", "--from", ref+":/usr/bin/java", "--base", "static")
}

const cgoApp = `package main

import (
	"fmt"
	"net"
	"os/user"
)

func main() {
	u, err := user.Lookup("root")
	if err != nil {
		fmt.Println("user:", err)
		return
	}
	addrs, err := net.LookupHost("localhost")
	fmt.Println("root", u.Uid, u.HomeDir, "localhost", addrs, err)
}
`

// TestSlimLangsGoCgo: a Go program built with cgo (netcgo, os/user through glibc's NSS)
// on the Debian fixture runs on the static base as it did there: both families of
// localhost (host.conf, gai.conf), root from /etc/passwd. Slow (a Debian fixture).
func TestSlimLangsGoCgo(t *testing.T) {
	testimage.NeedTool(t, "gcc")
	dir := t.TempDir()
	for name, body := range map[string]string{"main.go": cgoApp, "go.mod": "module cgoprobe\n\ngo 1.26\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-tags", "netcgo", "-trimpath", "-o", "prog", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	img, ref := langsImage(t, hostEntries(t, "app/prog="+filepath.Join(dir, "prog")), func(c *v1.Config) {
		c.Cmd = []string{"/app/prog"}
	})
	fat := runFat(t, img, "root 0 /root localhost [::1 127.0.0.1] <nil>")
	slimRuns(t, fat, "--from", ref+":/app", "--base", "static")

	// On scratch the rules take glibc's data files but not /etc/passwd (a base's file):
	// the run reads it, so --trace takes it, and without --trace os/user fails.
	app := []string{"/app/prog"}
	report, has := traceAndVerify(t, fat, ref, app)
	byTrace := false
	for _, line := range strings.Split(report, "\n") {
		byTrace = byTrace || strings.Contains(line, "etc/passwd") && strings.Contains(line, `by --trace ["/app/prog"]`)
	}
	if !has("etc/passwd") || !byTrace {
		t.Errorf("--trace did not take /etc/passwd (in the result: %t):\n%s", has("etc/passwd"), report)
	}
	verifyCatches(t, app, "root 0 /root", "unknown user root", "--from", ref+":/app", "--base", "scratch")
}
