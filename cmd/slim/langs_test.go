package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/internal/testimage/apps"
	"github.com/slim-dev/slim/tarball"
)

// The runtime tests below run real interpreters from Debian bookworm packages. Their
// fixture (debootstrap's minbase with python3, nodejs and a JRE: one image, so the cold
// cost is paid once) takes a few minutes to make the first time and is kept under
// .cache/fixtures; each test then adds only its app. They are slow: -short skips them.

// langsImage is the shared fixture (testimage.LanguageRuntimes) with app on top and
// cfg applied, as an oci-layout reference.
func langsImage(t *testing.T, app []tarball.Entry, cfg func(*v1.Config)) (v1.Image, string) {
	t.Helper()
	return debianImage(t, testimage.LanguageRuntimes(), app, cfg)
}

// debianImage is the Debian fixture d with app on top and cfg applied, as an
// oci-layout reference.
func debianImage(t *testing.T, d testimage.Debian, app []tarball.Entry, cfg func(*v1.Config)) (v1.Image, string) {
	t.Helper()
	skipShort(t)
	base := testimage.DebianLayout(t, d)
	l, err := tarball.NewLayer(app, tarball.WithCompression(tarball.Uncompressed), tarball.WithParents(), tarball.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	img, dir := testimage.ExtendLayout(t, base, []v1.Layer{l}, cfg)
	return img, "oci-layout://" + dir
}

// skipShort skips the runtime tests under -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs real runtimes from a Debian fixture (make test and CI run it)")
	}
}

// langsApp makes the runtime workload name (internal/testimage/apps, which make bench
// measures too) over its Debian fixture, runs the fat image, which must print what the
// app wants, and returns the app, that run and the image's oci-layout reference.
func langsApp(t *testing.T, name string) (apps.App, testimage.Ran, string) {
	t.Helper()
	skipShort(t)
	app, err := apps.Make(name, testimage.FixtureDir(t), t.TempDir())
	if apps.IsMissing(err) {
		testimage.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	testimage.DebianLayout(t, app.Debian) // stops the test where no fixture can be made
	dir := t.TempDir()
	img, err := app.Image(testimage.FixtureDir(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	fat := runFat(t, img, app.Want...)
	return app, fat, "oci-layout://" + dir
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
	if skipped := testimage.UnpackOverlay(t, img, root); len(skipped) > 0 {
		t.Fatalf("unpacking skipped %d entries (first %s)", len(skipped), skipped[0].Name)
	}
	return testimage.RunC(t, root, testimage.Container{
		Args: append(append([]string(nil), cf.Config.Entrypoint...), cf.Config.Cmd...),
		Env:  cf.Config.Env,
		Cwd:  cf.Config.WorkingDir,
		User: cf.Config.User,
	}), root
}

// runFat runs the fat image, which must succeed and print each of want.
func runFat(t *testing.T, img v1.Image, want ...string) testimage.Ran {
	t.Helper()
	fat := runImage(t, img)
	for _, w := range want {
		if fat.Code != 0 || !strings.Contains(fat.Stdout, w) {
			t.Fatalf("fat image (want %q in its output): %s", w, fat)
		}
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
	// The same static tracer for every test: set for the process, not with t.Setenv,
	// which parallel tests cannot use.
	if err := os.Setenv("SLIM_TRACER", testimage.Tracer(t)); err != nil {
		t.Fatal(err)
	}
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
// not run as the source does; --verify with the app's command must refuse it: exit 4,
// the source's output (with wantSource) and the result's (with wantResult) shown,
// nothing written.
func verifyCatches(t *testing.T, app apps.App, wantSource, wantResult string, args ...string) {
	t.Helper()
	needBuildkit(t)
	cmd, err := json.Marshal(app.Cmd)
	if err != nil {
		t.Fatal(err)
	}
	// --verify runs its command after the image's ENTRYPOINT, as docker run does.
	ran := app.Cmd
	if app.Entrypoint {
		ran = append(slices.Clip(app.Cmd), app.Cmd...)
	}
	shown, err := json.Marshal(ran)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := slimCLI(t, append(args, "--addr", bk.addr, "--verify", string(cmd), "--compression", "uncompressed",
		"-t", "langs:broken", "-o", "type=oci,dest="+out)...)
	if code != 4 {
		t.Fatalf("slim %s: exit %d, want 4 (--verify refuses)\n%s", strings.Join(args, " "), code, stderr)
	}
	for _, want := range []string{"source: " + string(shown) + ", exit 0", "result: " + string(shown) + ", exit", wantSource, wantResult, "nothing was written"} {
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

// TestSlimLangsPython: `python3 /app/main.py` (PyYAML with its C extension, six) taken
// with --from IMG:/app alone onto the static base prints the same YAML round trip as
// the fat image: the stdlib (less its tests) and the dist-packages the app imports come
// with the interpreter. Slow (a Debian fixture).
func TestSlimLangsPython(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	app, fat, ref := langsApp(t, "python")
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

	traceAndVerify(t, fat, ref, app.Cmd)
	// The script the config names comes with its imports (yaml, with libyaml) even
	// when no --from names the app.
	if _, has := slimRuns(t, fat, "--from", ref+":/etc/debian_version", "--base", "static"); !has("app/main.py") {
		t.Errorf("/app/main.py, named by the config, was not taken")
	}
	// The app's --from left out and the result's config running something else (image
	// mode takes python3 from the config, with its stdlib; the script only comes when
	// the config names it): the entrypoint starts, so the fidelity check passes; the
	// app cannot open its script. (--from IMG:/usr/bin/python3 is refused as
	// conflicting files with the python3 that the stdlib's #! lines take.)
	verifyCatches(t, app, "round trip: True", "can't open file '/app/main.py'", "--from", ref+":/etc/debian_version", "--cmd", "python3 -V", "--base", "static")
}

// TestSlimLangsNode: `node /app/app.js` with express, lodash and semver from npm runs
// on the static base when only /app is named: Debian's libnode loads builtins from
// /usr/share/nodejs by name, and they come with it. Slow (a Debian fixture, npm).
func TestSlimLangsNode(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	app, fat, ref := langsApp(t, "node")
	report, has := slimRuns(t, fat, "--from", ref+":/app", "--base", "static")
	if !strings.Contains(report, "node builtin /usr/share/nodejs/cjs-module-lexer/lexer.js named in /usr/lib/x86_64-linux-gnu/libnode.so.108") {
		t.Errorf("report lacks the externalized builtins:\n%s", report)
	}
	for _, p := range []string{"usr/lib/python3.11", "usr/lib/jvm"} {
		if has(p) {
			t.Errorf("/%s taken: the app does not need it", p)
		}
	}

	traceAndVerify(t, fat, ref, app.Cmd)
	// The app left out and the result's config running node alone: node starts, so
	// the fidelity check passes; the app's script is not there. (Leaving only a
	// package out of --from no longer breaks it: what app.js requires comes by name.)
	verifyCatches(t, app, `lodash [[1,2],[3,4],[5]]`, "Cannot find module '/app/app.js'",
		"--from", ref+":/etc/debian_version", "--cmd", "node -v", "--base", "static")
}

// TestSlimLangsJava: a class compiled by the host's javac, run by Debian's JRE 17
// (`java -cp /app Main`: a digest, the default trust store, a time zone), runs on the
// static base from --from IMG:/app alone (java from the config, through PATH and
// /etc/alternatives) and from --from IMG:/usr/bin/java --from IMG:/app. Slow (a Debian
// fixture).
func TestSlimLangsJava(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	app, fat, ref := langsApp(t, "java")
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

	traceAndVerify(t, fat, ref, app.Cmd)
	// The JRE without the class: java starts, the class is not found. The result's
	// config runs java -version, so that its class path names nothing to take.
	verifyCatches(t, app, "trusted true", "Could not find or load main class Main", "--from", ref+":/usr/bin/java", "--cmd", `["java","-version"]`, "--base", "static")
}

// TestSlimLangsGoCgo: a Go program built with cgo (netcgo, os/user through glibc's NSS)
// on the Debian fixture runs on the static base as it did there: both families of
// localhost (host.conf, gai.conf), root from /etc/passwd. Slow (a Debian fixture).
func TestSlimLangsGoCgo(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	app, fat, ref := langsApp(t, "go-cgo")
	slimRuns(t, fat, "--from", ref+":/app", "--base", "static")

	// On scratch the run reads /etc/passwd, so --trace takes it (before the rule that
	// brings it for root would).
	report, has := traceAndVerify(t, fat, ref, app.Cmd)
	byTrace := false
	for _, line := range strings.Split(report, "\n") {
		byTrace = byTrace || strings.Contains(line, "etc/passwd") && strings.Contains(line, `by --trace ["/app/prog"]`)
	}
	if !has("etc/passwd") || !byTrace {
		t.Errorf("--trace did not take /etc/passwd (in the result: %t):\n%s", has("etc/passwd"), report)
	}
	// Run as a number the source does not list, the result gets no /etc/passwd (root's
	// would come on scratch), so os/user cannot find root.
	verifyCatches(t, app, "root 0 /root", "unknown user root", "--from", ref+":/app", "--user", "4242", "--base", "scratch")
}
