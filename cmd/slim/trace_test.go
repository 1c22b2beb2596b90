package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// traceScript is an entrypoint script whose commands the static rules cannot see
// all of: it runs date and sed, reads a data file by a name another file holds (which
// only a run reads) and lists a directory.
const traceScript = `#!/bin/sh
date -u -d @86400 +%F
sed 's/fat/slim/' "/app/$(cat /app/which)"
ls /app/dir
cat /app/dir/*
`

// TestTraceImage: a fat image of this machine's files whose entrypoint script runs
// programs by name; --trace takes what the script touched (date, sed and their
// libraries, the data, the directory), and the result on scratch prints exactly
// what the fat image prints.
func TestTraceImage(t *testing.T) {
	needBuildkit(t)
	testimage.NeedRoot(t, "chroot runs both images")
	if runtime.GOARCH != "amd64" {
		t.Skip("the fixture lists amd64 paths; CI runs on amd64, where this test runs")
	}
	t.Setenv("SLIM_TRACER", testimage.Tracer(t))
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	libdir := "/usr/lib/x86_64-linux-gnu"
	paths := []string{"/bin", "/lib", "/lib64", "/usr/lib64", "/usr/bin/sh", "/usr/bin/dash", "/usr/bin/date", "/usr/bin/sed", "/usr/bin/ls", "/usr/bin/cat", "/usr/bin/grep", "/usr/bin/tar",
		libdir + "/ld-linux-x86-64.so.2", "/etc/os-release", "/usr/share/doc",
		"app/run.sh=" + write("run.sh", traceScript, 0o755), "app/data.txt=" + write("data", "a fat image\n", 0o644), "app/which=" + write("which", "data.txt\n", 0o644),
		"app/dir/one=" + write("one", "1\n", 0o644), "app/dir/two=" + write("two", "2\n", 0o644)}
	for _, lib := range []string{"libc.so.6", "libacl.so.1*", "libpcre2-8.so.0*", "libselinux.so.1", "libm.so.6"} {
		m, _ := filepath.Glob(filepath.Join(libdir, lib))
		paths = append(paths, m...)
	}
	fat, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, paths...)}, func(c *v1.Config) { c.Cmd = []string{"/app/run.sh"} })
	fatRoot := t.TempDir()
	testimage.Unpack(t, fat, fatRoot)
	want := runIn(t, fatRoot, "", nil, "/app/run.sh")
	if !strings.Contains(want, "1970-01-02") || !strings.Contains(want, "a slim image") {
		t.Fatalf("the fat image prints %q", want)
	}

	out := filepath.Join(t.TempDir(), "out")
	report := filepath.Join(t.TempDir(), "report.json")
	code, _, stderr := slimCLI(t, "--addr", bk.addr, "--from", ref+":/app/run.sh", "--trace", `["/app/run.sh"]`, "--base", "scratch",
		"-t", "result:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false", "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := runIn(t, unpack(t, out, "slim"), "", nil, "/app/run.sh"); got != want {
		t.Errorf("the result prints %q, the fat image %q", got, want)
	}
	rep := readReport(t, report)
	reasons := map[string]string{}
	for _, f := range rep.Files {
		reasons[f.Path] = f.Reason
	}
	const by = ` by --trace ["/app/run.sh"]`
	for p, why := range map[string]string{"/usr/bin/date": "executed" + by, "/usr/bin/sed": "executed" + by, "/app/data.txt": "opened" + by, "/app/dir": "listed" + by} {
		if reasons[p] != why {
			t.Errorf("%s: reason %q, want %q", p, reasons[p], why)
		}
	}
	if reasons[libdir+"/libacl.so.1"] == "" && reasons["/lib/x86_64-linux-gnu/libacl.so.1"] == "" {
		t.Errorf("sed's libacl was not taken: %v", reasons)
	}
	for _, p := range []string{"/usr/bin/grep", "/usr/bin/tar", "/usr/share/doc", "/etc/os-release"} {
		if _, ok := reasons[p]; ok {
			t.Errorf("%s taken, and the script never touched it", p)
		}
	}
	if len(rep.Traces) != 1 || rep.Traces[0].ExitCode != 0 || rep.Traces[0].Taken == 0 {
		t.Errorf("report traces %+v, want one run that took files", rep.Traces)
	}

	// Without --trace, the files the script reads are not known (its commands are:
	// the closure reads the script), so the data and the directory's files are
	// missing (ls's argument brings the directory, as its entry alone).
	code, _, stderr = slimCLI(t, "--addr", bk.addr, "--from", ref+":/app/run.sh", "--base", "scratch", "--report", report, "--force")
	if code != 0 {
		t.Fatalf("without --trace: exit %d: %s", code, stderr)
	}
	for _, f := range readReport(t, report).Files {
		if f.Path == "/app/data.txt" || strings.HasPrefix(f.Path, "/app/dir/") {
			t.Errorf("without --trace, %s was taken (%s): the test shows nothing", f.Path, f.Reason)
		}
	}
}

// TestTraceDockerfile: --trace on a stage of a Dockerfile (auto mode) takes the files
// its entrypoint script reads (one by a glob, which only a run expands), and --verify
// in the same run agrees.
func TestTraceDockerfile(t *testing.T) {
	needBuildkit(t)
	t.Setenv("SLIM_TRACER", testimage.Tracer(t))
	dir := project(t, map[string]string{"Dockerfile": `FROM busybox
RUN mkdir -p /app/d && printf '#!/bin/sh\ncat /etc/gree*\nls /app/d\n' > /app/run && chmod +x /app/run && echo hello > /etc/greeting && touch /app/d/x
CMD ["/app/run"]
`})
	report := filepath.Join(t.TempDir(), "report.json")
	slimOK(t, append(buildArgs("--trace", "/app/run", "--verify", "/app/run", "--report", report), dir)...)
	rep := readReport(t, report)
	found := false
	for _, f := range rep.Files {
		found = found || f.Path == "/etc/greeting" && f.Reason == `opened by --trace ["/app/run"]`
	}
	if !found || len(rep.Traces) != 1 || len(rep.Verifications) != 1 || !rep.Verifications[0].Equal {
		t.Errorf("report: /etc/greeting taken by --trace %t, traces %+v, verifications %+v", found, rep.Traces, rep.Verifications)
	}
}
