package main

import (
	"archive/tar"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"
)

var updateHelp = flag.Bool("update", false, "rewrite testdata/help/*.golden")

// dockerfileProject is a build context whose build never runs in these tests: every
// case must fail before BuildKit is asked.
func dockerfileProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch AS builder\nCOPY x /x\nFROM scratch\nCOPY --from=builder /x /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestFailFast: every flag combination that cannot work is refused before any network
// or BuildKit work. BUILDKIT_HOST points nowhere, so a check that came too late would
// fail with a different error (no BuildKit) rather than pass by luck.
func TestFailFast(t *testing.T) {
	t.Setenv("BUILDKIT_HOST", "unix:///nonexistent/buildkitd.sock")
	ctxDir := dockerfileProject(t)
	img := "oci-layout://" + filepath.Join(t.TempDir(), "missing")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"load without -t", []string{ctxDir, "--load"}, "loading into the Docker daemon needs a name; give -t"},
		{"push without -t", []string{ctxDir, "--push"}, "--push needs a name"},
		{"gzip level 11", []string{ctxDir, "--compression-level", "11", "-o", filepath.Join(t.TempDir(), "out")}, "gzip level 11"},
		{"zstd level 23", []string{ctxDir, "--compression", "zstd", "--compression-level", "23"}, "want best, default or 1-22"},
		{"uncompressed level", []string{ctxDir, "--compression", "uncompressed", "--compression-level", "3"}, "uncompressed layers take no level"},
		{"zstd in a docker archive", []string{ctxDir, "--compression", "zstd", "-t", "app:1", "-o", "type=docker,dest=" + filepath.Join(t.TempDir(), "a.tar")}, "zstd layers cannot go into a docker archive"},
		{"load a bad tag", []string{ctxDir, "--load", "-t", "UPPER:case"}, "parsing name"},
		{"bad progress", []string{ctxDir, "--progress", "fancy"}, `--progress "fancy"`},
		{"bad BUILDKIT_PROGRESS", []string{"recompress", img, "--progress", "tty2"}, "want auto, tty, plain"},
		{"recompress gzip level 11", []string{"recompress", img, "--compression-level", "11", "-o", filepath.Join(t.TempDir(), "out")}, "gzip level 11"},
		{"recompress zstd docker", []string{"recompress", img, "--compression", "zstd", "-t", "a:b", "-o", "type=docker,dest=" + filepath.Join(t.TempDir(), "a.tar")}, "zstd layers cannot go"},
		{"recompress load without -t", []string{"recompress", img, "--load"}, "needs a name"},
		{"rebase load without -t", []string{"rebase", img, "--base", "scratch", "--load"}, "needs a name"},
		{"rebase push without -t", []string{"rebase", img, "--base", "scratch", "-o", "type=registry"}, "pushing needs a name"},
		{"build without -o", []string{"build", ctxDir}, "give -o"},
		{"build bad output", []string{"build", ctxDir, "-o", "type=docker,dest=x"}, "type=oci"},
		{"extract bad output", []string{"extract", img, "/x", "-o", "type=registry,name=a/b"}, "want local|tar"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			code, _, stderr := slimCLI(t, tt.args...)
			took := time.Since(start)
			if code == 0 {
				t.Fatalf("slim %v succeeded", tt.args)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not say %q", stderr, tt.want)
			}
			if strings.Contains(stderr, "BuildKit") || strings.Contains(stderr, "nonexistent/buildkitd.sock") {
				t.Errorf("refused only after reaching for BuildKit: %s", stderr)
			}
			if took > 500*time.Millisecond {
				t.Errorf("refused after %s, want well under a second", took)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	info := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/slim-dev/slim", Version: "v1.2.3"},
		Deps: []*debug.Module{
			{Path: "github.com/moby/buildkit", Version: "v0.34.2"},
			{Path: "github.com/klauspost/compress", Version: "v1.0.0", Replace: &debug.Module{Path: "github.com/klauspost/compress", Version: "v1.20.4"}},
		},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-04T19:00:00Z"}, {Key: "vcs.modified", Value: "true"}},
	}
	v := readVersions(info, true)
	var b strings.Builder
	v.write(&b)
	want := `slim:               v1.2.3
revision:           0123456789abcdef0123 (modified)
built from:         2026-12-04T19:00:00Z
go:                 go1.26.8
buildkit:           v0.34.2
klauspost/compress: v1.20.4
`
	if b.String() != want {
		t.Errorf("version output:\n%s\nwant:\n%s", b.String(), want)
	}
	if got := v.shortRevision(); got != "0123456789ab-dirty" {
		t.Errorf("short revision %q", got)
	}
	if got := readVersions(nil, false); got.Slim != "unknown" || got.BuildKit != "unknown" {
		t.Errorf("no build info: %+v", got)
	}

	// The real command, from this test binary's own build info.
	code, out, stderr := slimCLI(t, "version")
	if code != 0 {
		t.Fatalf("slim version: %d %s", code, stderr)
	}
	real, _ := debug.ReadBuildInfo()
	for _, want := range []string{"slim:", "go:                 " + real.GoVersion, "buildkit:           v0.", "klauspost/compress: v1."} {
		if !strings.Contains(out, want) {
			t.Errorf("slim version does not say %q:\n%s", want, out)
		}
	}
	code, out, _ = slimCLI(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "slim ") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("slim --version: %d %q", code, out)
	}
}

func TestTypos(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("inspec", 0o755); err != nil { // a real context that looks like a command
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"verison"}, `unknown command "verison" for "slim" (and no such build context); did you mean "version"?`},
		{[]string{"inpsect", "X"}, `unknown command "inpsect" for "slim" (and no such build context); did you mean "inspect"?`},
		{[]string{"recompres", "X"}, `did you mean "recompress"?`},
		{[]string{"--form", "a:/b"}, "unknown flag: --form; did you mean --from?"},
		{[]string{"recompress", "--compresion", "zstd", "X"}, "did you mean --compression?"},
		{[]string{"inspect", "--platfrom", "linux/arm64", "X"}, "did you mean --platform?"},
		{[]string{"inspec"}, "reading the Dockerfile"}, // the directory exists: a context, not a typo
	} {
		code, _, stderr := slimCLI(t, tt.args...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("slim %v: %d %q, want %q", tt.args, code, stderr, tt.want)
		}
	}
	if code, _, stderr := slimCLI(t, "--zzzz"); !strings.Contains(stderr, "unknown flag: --zzzz (see slim --help)") || code == 0 {
		t.Errorf("a flag near none: %q", stderr)
	}
}

// TestNoBuildkitSaysWhatWasTried runs the CLI with nothing to build with: no
// buildkitd on PATH, no private daemon in the cache, then BUILDKIT_HOST pointing
// nowhere. The error lists each place tried and the user's next steps.
func TestNoBuildkitSaysWhatWasTried(t *testing.T) {
	ctxDir := dockerfileProject(t)
	t.Setenv("PATH", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("BUILDKIT_HOST", "")
	t.Setenv("DOCKER_HOST", "")
	next := []string{"docker buildx create --use", "install buildkitd", "--addr"}
	code, _, stderr := slimCLI(t, ctxDir, "--progress", "quiet")
	if code == 0 {
		t.Fatal("built with no BuildKit")
	}
	for _, want := range append([]string{"no BuildKit reachable; tried:", "(1) --addr and BUILDKIT_HOST: neither is set", "(2) the Docker daemon",
		"buildkitd is not on PATH"}, next...) {
		if !strings.Contains(stderr, want) {
			t.Errorf("error does not say %q: %s", want, stderr)
		}
	}
	for _, bad := range []string{"make tools", "go tool buildkitd"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("error suggests %q: %s", bad, stderr)
		}
	}

	t.Setenv("BUILDKIT_HOST", "unix:///nonexistent/buildkitd.sock")
	code, _, stderr = slimCLI(t, ctxDir, "--progress", "quiet")
	if code == 0 {
		t.Fatal("built with no BuildKit")
	}
	for _, want := range append([]string{"(1) BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock:"}, next...) {
		if !strings.Contains(stderr, want) {
			t.Errorf("error does not say %q: %s", want, stderr)
		}
	}
}

// TestHelpGolden keeps every command's --help as a user reads it; -update rewrites
// testdata/help.
func TestHelpGolden(t *testing.T) {
	for _, cmd := range [][]string{{}, {"build"}, {"extract"}, {"rebase"}, {"recompress"}, {"inspect"}, {"cache"}, {"cache", "du"}, {"cache", "prune"}, {"version"}} {
		name := "slim"
		if len(cmd) > 0 {
			name = strings.Join(cmd, "-")
		}
		t.Run(name, func(t *testing.T) {
			code, out, stderr := slimCLI(t, append(cmd, "--help")...)
			if code != 0 {
				t.Fatalf("--help: %d %s", code, stderr)
			}
			path := filepath.Join("testdata", "help", name+".golden")
			if *updateHelp {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./cmd/slim -run TestHelpGolden -update)", err)
			}
			if out != string(want) {
				t.Errorf("slim %s --help changed; if meant, run with -update. got:\n%s", strings.Join(cmd, " "), out)
			}
		})
	}
}

// TestSubcommandOutputForms: `slim build` and `slim extract` take the buildx -o forms
// the main command takes (no directory named "type=oci,dest=.." or "-"), and
// `slim build --target STAGE` writes that stage.
func TestSubcommandOutputForms(t *testing.T) {
	needBuildkit(t)
	dir := multiStageProject(t)
	work := t.TempDir()
	t.Chdir(work)
	stdout := slimOK(t, append(buildArgs("build", "-o", "type=oci,dest=stages", "--target", "builder"), dir)...)
	if want := "oci-layout://" + filepath.Join("stages", "builder") + "\n"; stdout != want {
		t.Errorf("build printed %q, want %q", stdout, want)
	}
	layout := "oci-layout://" + filepath.Join(work, "stages", "builder")
	for _, tt := range []struct {
		out  string
		read func(t *testing.T, stdout string) []string
	}{
		{"type=local,dest=ex", func(t *testing.T, _ string) []string { return dirFiles(t, filepath.Join(work, "ex")) }},
		{"type=tar,dest=ex.tarball", func(t *testing.T, _ string) []string {
			return tarFiles(t, readFile(t, filepath.Join(work, "ex.tarball")))
		}},
		{"type=tar,dest=-", func(t *testing.T, stdout string) []string { return tarFiles(t, stdout) }},
		{"-", func(t *testing.T, stdout string) []string { return tarFiles(t, stdout) }},
		{"bare", func(t *testing.T, _ string) []string { return dirFiles(t, filepath.Join(work, "bare")) }},
	} {
		t.Run(tt.out, func(t *testing.T) {
			stdout := slimOK(t, "extract", layout, "/out/greet", "--deps", "none", "-o", tt.out)
			if got := tt.read(t, stdout); !slices.Equal(got, []string{"out/greet"}) {
				t.Errorf("-o %s wrote %v, want [out/greet]", tt.out, got)
			}
		})
	}
	ents, err := os.ReadDir(work)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"bare", "ex", "ex.tarball", "stages"}; !slices.Equal(names, want) {
		t.Errorf("wrote %v, want %v", names, want)
	}
	if st, err := os.ReadDir(filepath.Join(work, "stages")); err != nil || len(st) != 1 || st[0].Name() != "builder" {
		t.Errorf("stages holds %v (%v), want only builder", st, err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dirFiles lists the regular files under dir, relative to it.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tarFiles lists the regular files of a tar.
func tarFiles(t *testing.T, b string) []string {
	t.Helper()
	tr := tar.NewReader(strings.NewReader(b))
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		if h.Typeflag == tar.TypeReg {
			out = append(out, strings.TrimPrefix(h.Name, "./"))
		}
	}
}

// TestValueCompletion: the shell completes the values of --compression, --base and
// --progress on every command that takes them.
func TestValueCompletion(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--compression", ""}, []string{"gzip", "zstd", "uncompressed"}},
		{[]string{"recompress", "--compression", ""}, []string{"gzip", "zstd", "uncompressed"}},
		{[]string{"--base", ""}, []string{"scratch", "static", "alpine", "distroless/static"}},
		{[]string{"rebase", "IMG", "--base", ""}, []string{"scratch", "static"}},
		{[]string{"inspect", "--progress", ""}, progressModes},
	} {
		code, stdout, stderr := slimCLI(t, append([]string{"__complete"}, tt.args...)...)
		lines := strings.Split(stdout, "\n")
		for _, w := range tt.want {
			if code != 0 || !slices.Contains(lines, w) {
				t.Errorf("completing %v: %d %q %q, want %q", tt.args, code, stdout, stderr, w)
			}
		}
	}
}
