package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/jsonschema"
	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/rebase/job"
	"github.com/slim-dev/slim/tarball"
)

// readReport reads a --report file.
func readReport(t *testing.T, path string) job.Report {
	t.Helper()
	var rep job.Report
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every report a test writes is checked against the published schema.
	if err := jsonschema.Validate(job.ReportSchema(), b); err != nil {
		t.Errorf("%s does not match rebase/job/report.schema.json:\n%v", path, err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// busyboxScriptImage is a fat busybox image with a script that prints a data file
// by a name another file holds (which only a run reads), and extra files slim leaves
// behind.
func busyboxScriptImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "run")
	if err := os.WriteFile(script, []byte("#!/bin/busybox sh\n/bin/busybox cat \"/app/$(/bin/busybox cat /app/which)\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	which := filepath.Join(dir, "which")
	if err := os.WriteFile(which, []byte("msg\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := filepath.Join(dir, "msg")
	if err := os.WriteFile(msg, []byte("message from the data file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, "bin/busybox=/bin/busybox", "app/run="+script, "app/msg="+msg, "app/which="+which, "usr/share/os-release=/etc/os-release")},
		func(c *v1.Config) { c.Cmd = []string{"/app/run"} })
	return ref
}

// TestVerifyImage: commands run in the fat image and in the result through BuildKit
// agree (a zero and a non-zero exit, stdout and stderr), the result is written, and
// the report records each verification.
func TestVerifyImage(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needBuildkit(t)
	ref := busyboxScriptImage(t)
	out := filepath.Join(t.TempDir(), "out")
	report := filepath.Join(t.TempDir(), "report.json")
	code, _, stderr := slimCLI(t, "--addr", bk.addr, "--from", ref+":/bin/busybox", "--cmd", "/bin/busybox true",
		"--verify", `["/bin/busybox","echo","hi"]`, "--verify", `["/bin/busybox","sh","-c","echo out; echo err >&2; exit 3"]`,
		"--verify-stderr", "-o", "type=oci,dest="+out, "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "index.json")); err != nil {
		t.Errorf("a verified result was not written: %v", err)
	}
	rep := readReport(t, report)
	if len(rep.Verifications) != 2 {
		t.Fatalf("report verifications %+v, want two", rep.Verifications)
	}
	for i, want := range []int{0, 3} {
		v := rep.Verifications[i]
		if !v.Equal || !v.Stderr || v.SourceExitCode != want || v.ResultExitCode != want || v.Platform == "" {
			t.Errorf("verification %d: %+v, want equal with exit %d", i, v, want)
		}
	}
}

// TestVerifyRefusesBrokenResult: the result lacks the data file its script prints, the
// fidelity check cannot know it, and --verify catches it: exit 4, both outputs shown,
// nothing written. --force writes it with a warning.
func TestVerifyRefusesBrokenResult(t *testing.T) {
	needBuildkit(t)
	ref := busyboxScriptImage(t)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"--addr", bk.addr, "--from", ref + ":/app/run", "--from", ref + ":/bin/busybox", "--verify", `["/app/run"]`, "-o", "type=oci,dest=" + out}
	code, _, stderr := slimCLI(t, args...)
	if code != 4 {
		t.Fatalf("exit %d, want 4: %s", code, stderr)
	}
	for _, want := range []string{"source: [\"/app/run\"], exit 0", "result: [\"/app/run\"], exit 1", "message from the data file", "/app/msg", "│", "nothing was written"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a result that --verify refused left output behind: %v", err)
	}

	t.Setenv("COLUMNS", "60") // too narrow for two columns: one output after the other
	code, _, stderr = slimCLI(t, append(args, "--force")...)
	if code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "warning: --verify") || strings.Contains(stderr, "│") || !strings.Contains(stderr, ", exit 1") {
		t.Errorf("--force: want a warning and the outputs one after the other:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "index.json")); err != nil {
		t.Errorf("--force wrote nothing: %v", err)
	}
}

// TestVerifyProgramThatCannotStart: a dynamic C program taken without its libraries
// (--deps none --force) cannot start; --verify shows why beside what the fat image
// printed, and --force writes it with a warning.
func TestVerifyProgramThatCannotStart(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needBuildkit(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the fixture lists amd64 paths; CI runs on amd64, where this test runs")
	}
	prog := testimage.GCCBuild(t, cProgram, "-lm")
	libdir := "/usr/lib/x86_64-linux-gnu"
	_, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, "/lib", "/lib64", "/usr/lib64", libdir+"/libc.so.6", libdir+"/libm.so.6", libdir+"/ld-linux-x86-64.so.2", "app/prog="+prog)},
		func(c *v1.Config) { c.Entrypoint = []string{"/app/prog"} })
	out := filepath.Join(t.TempDir(), "out")
	report := filepath.Join(t.TempDir(), "report.json")
	// With the image's ENTRYPOINT, an empty-looking CMD is its arguments: argc is 2.
	code, _, stderr := slimCLI(t, "--addr", bk.addr, "--from", ref+":/app/prog", "--deps", "none", "--force",
		"--verify", "x", "-o", "type=oci,dest="+out, "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"hello from C: cos(2)", "source: [\"/app/prog\",\"x\"], exit 0", "no such file or directory", "warning: --verify"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	rep := readReport(t, report)
	if len(rep.Verifications) != 1 || rep.Verifications[0].Equal || rep.Verifications[0].ResultExitCode == 0 {
		t.Errorf("report verifications %+v, want one that differs", rep.Verifications)
	}
}

// TestVerifyDockerfile: --verify on a multi-stage build runs in the target stage and in
// the result, with the target's ENTRYPOINT before the command, and the report says so.
func TestVerifyDockerfile(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needBuildkit(t)
	dir := project(t, map[string]string{"Dockerfile": `FROM busybox AS builder
RUN mkdir /out && printf '#!/bin/sh\necho "greetings, $*"\n' > /out/greet && chmod +x /out/greet

FROM busybox
COPY --from=builder /out/greet /usr/local/bin/greet
ENTRYPOINT ["/usr/local/bin/greet"]
`})
	out := filepath.Join(t.TempDir(), "out")
	report := filepath.Join(t.TempDir(), "report.json")
	slimOK(t, append(buildArgs("--verify", "world", "-o", "type=oci,dest="+out, "--report", report), dir)...)
	rep := readReport(t, report)
	if len(rep.Verifications) != 1 {
		t.Fatalf("report verifications %+v, want one", rep.Verifications)
	}
	if v := rep.Verifications[0]; !v.Equal || v.SourceExitCode != 0 || strings.Join(v.Command, " ") != "world" {
		t.Errorf("verification %+v, want equal, exit 0", v)
	}
	if _, err := os.Stat(filepath.Join(out, "index.json")); err != nil {
		t.Errorf("a verified build wrote nothing: %v", err)
	}
}
