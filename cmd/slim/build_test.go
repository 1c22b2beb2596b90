package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slim-dev/slim/build"
)

// project writes a build context: a Dockerfile and other files, name → content.
func project(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildArgs are the flags every build test passes: the shared daemon, the offline
// busybox base as the named context "busybox", and quiet progress.
func buildArgs(extra ...string) []string {
	return append([]string{"--addr", bk.addr, "--build-context", "busybox=oci-layout://" + bk.busybox, "--progress", "quiet"}, extra...)
}

// slimBuildRun runs slim on a build context with -o type=oci, then unpacks the result
// with umoci and runs argv in it with chroot, returning what it printed.
func slimBuildRun(t *testing.T, ctxDir string, args []string, argv ...string) (string, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	all := append(buildArgs(args...), "-t", "result:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false", ctxDir)
	slimOK(t, all...)
	rootfs := unpack(t, out, "slim")
	return runIn(t, rootfs, "", nil, argv...), rootfs
}

const multiStage = `FROM busybox AS builder
ARG GREETING=hello
RUN mkdir -p /out && printf '#!/bin/sh\necho "%s from builder"\n' "$GREETING" > /out/greet && chmod +x /out/greet
RUN --mount=type=secret,id=tok,required=false mkdir -p /out/meta && cat /run/secrets/tok 2>/dev/null | wc -c > /out/meta/toklen
COPY . /ctx

FROM busybox AS other
ENV OTHER=yes
RUN mkdir /o && echo "other stage" > /o/file
ENTRYPOINT ["/bin/cat", "/o/file"]

FROM busybox
COPY --from=builder /out/greet /usr/local/bin/greet
COPY --from=other /o/file /etc/other
ENTRYPOINT ["/usr/local/bin/greet"]
`

func multiStageProject(t *testing.T) string {
	return project(t, map[string]string{
		"Dockerfile": multiStage, "keep.txt": "kept", "secret.env": "not for images",
		".dockerignore": "secret.env\n", "tok": "s3cr3t-t0ken-value",
	})
}

func TestBuildNamedStageWithArgsAndSecret(t *testing.T) {
	needBuildkit(t)
	needRoot(t)
	dir := multiStageProject(t)
	got, rootfs := slimBuildRun(t, dir, []string{"--from", "builder:/out/greet:/usr/local/bin/greet", "--from", "builder:/out/meta/",
		"--build-arg", "GREETING=hi", "--secret", "id=tok,src=" + filepath.Join(dir, "tok")}, "/usr/local/bin/greet")
	if got != "hi from builder\n" {
		t.Errorf("result printed %q, want the build arg's greeting", got)
	}
	// The secret was mounted (its length was recorded) but is nowhere in the result.
	if b, err := os.ReadFile(filepath.Join(rootfs, "out/meta/toklen")); err != nil || strings.TrimSpace(string(b)) != "18" {
		t.Errorf("toklen = %q, %v: the secret mount did not work", b, err)
	}
	filepath.WalkDir(rootfs, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "s3cr3t") {
				t.Errorf("the secret is in the result at %s", p)
			}
		}
		return nil
	})
}

func TestBuildStageByIndexAndImageSource(t *testing.T) {
	needBuildkit(t)
	needRoot(t)
	dir := multiStageProject(t)
	// Stage 0 is builder; /bin/busybox comes from an image, not a stage.
	got, _ := slimBuildRun(t, dir, []string{"--from", "0:/out/greet:/greet", "--from", "oci-layout://" + bk.busybox + ":/bin/busybox:/bin/busybox",
		"--entrypoint", "/greet", "--deps", "none", "--force"}, "/bin/busybox", "sh", "/greet")
	if got != "hello from builder\n" {
		t.Errorf("result printed %q", got)
	}
}

func TestBuildTargetConfig(t *testing.T) {
	needBuildkit(t)
	needRoot(t)
	dir := multiStageProject(t)
	out := filepath.Join(t.TempDir(), "out")
	slimOK(t, append(buildArgs("--from", "other:/o/file", "--from", "other:/bin/cat", "--target", "other", "-t", "o:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false"), dir)...)
	rootfs := unpack(t, out, "slim")
	if got := runIn(t, rootfs, "", nil, "/bin/cat", "/o/file"); got != "other stage\n" {
		t.Errorf("result printed %q", got)
	}
	cfg, err := os.ReadFile(filepath.Join(filepath.Dir(rootfs), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "OTHER=yes") {
		t.Errorf("the result did not inherit --target other's env: %s", cfg)
	}
}

func TestBuildIndependentStagesInParallel(t *testing.T) {
	needBuildkit(t)
	dir := project(t, map[string]string{"Dockerfile": `FROM busybox AS a
ARG NONCE
RUN sleep 3 && echo a $NONCE > /a
FROM busybox AS b
ARG NONCE
RUN sleep 3 && echo b $NONCE > /b
FROM busybox
`})
	// BuildKit's own record of the two RUN steps says when each ran: they must
	// overlap, and both be done within 5 s of the first start. Timing the whole
	// command instead would also time the machine's load.
	code, _, stderr := slimCLI(t, append(buildArgs("--progress", "rawjson", "--build-arg", "NONCE="+time.Now().String(),
		"--from", "a:/a", "--from", "b:/b", "--from", "a:/bin/busybox", "--entrypoint", "/bin/busybox",
		"-o", "type=oci,dest="+filepath.Join(t.TempDir(), "out")), dir)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	type span struct{ start, end time.Time }
	steps := map[string]*span{}
	var packed time.Time // slim's own step, shown in BuildKit's display
	dec := json.NewDecoder(strings.NewReader(stderr))
	for dec.More() {
		var st struct {
			Vertexes []struct {
				Name      string
				Started   *time.Time
				Completed *time.Time
				Cached    bool
			}
		}
		if err := dec.Decode(&st); err != nil {
			break // slim's own lines follow BuildKit's
		}
		for _, v := range st.Vertexes {
			if strings.HasPrefix(v.Name, "[slim] packing ") && v.Completed != nil {
				packed = *v.Completed
			}
			for _, stage := range []string{"a", "b"} {
				if !strings.Contains(v.Name, "RUN sleep 3 && echo "+stage) {
					continue
				}
				if v.Cached {
					t.Fatalf("step %q was cached: the nonce did not make it run", v.Name)
				}
				sp := steps[stage]
				if sp == nil {
					sp = &span{}
					steps[stage] = sp
				}
				if v.Started != nil {
					sp.start = *v.Started
				}
				if v.Completed != nil {
					sp.end = *v.Completed
				}
			}
		}
	}
	a, b := steps["a"], steps["b"]
	if a == nil || b == nil || a.start.IsZero() || a.end.IsZero() || b.start.IsZero() || b.end.IsZero() {
		t.Fatalf("BuildKit's progress did not show both sleeps start and end: %+v %+v\n%s", a, b, stderr)
	}
	if !(a.start.Before(b.end) && b.start.Before(a.end)) {
		t.Errorf("the stages ran one after the other: a %s–%s, b %s–%s", a.start, a.end, b.start, b.end)
	}
	first, last := a.start, a.end
	if b.start.Before(first) {
		first = b.start
	}
	if b.end.After(last) {
		last = b.end
	}
	if d := last.Sub(first); d > 5*time.Second {
		t.Errorf("two 3 s stages took %s from the first start to the last end, want under 5 s", d)
	}
	if packed.Before(last) {
		t.Errorf("no [slim] packing step completed after the stages in BuildKit's progress (completed %s)", packed)
	}
}

func TestBuildDockerignore(t *testing.T) {
	needBuildkit(t)
	needRoot(t)
	dir := multiStageProject(t)
	_, rootfs := slimBuildRun(t, dir, []string{"--from", "builder:/ctx/", "--from", "builder:/bin/busybox", "--entrypoint", "/bin/busybox"}, "/bin/busybox", "true")
	if _, err := os.Stat(filepath.Join(rootfs, "ctx/keep.txt")); err != nil {
		t.Errorf("keep.txt missing from the context copy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "ctx/secret.env")); !os.IsNotExist(err) {
		t.Errorf(".dockerignore'd secret.env is in the result: %v", err)
	}
}

// TestBuildAutoMode: no --from on a plain multi-stage Dockerfile takes what the last
// stage copies from the others, plus its entrypoint's closure (here: a script's /bin/sh).
func TestBuildAutoMode(t *testing.T) {
	needBuildkit(t)
	needRoot(t)
	dir := multiStageProject(t)
	got, rootfs := slimBuildRun(t, dir, nil, "/usr/local/bin/greet")
	if got != "hello from builder\n" {
		t.Errorf("result printed %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(rootfs, "etc/other")); err != nil || string(b) != "other stage\n" {
		t.Errorf("COPY --from=other /o/file /etc/other not taken: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "bin/ls")); !os.IsNotExist(err) {
		t.Errorf("auto mode took more than it needed (bin/ls): %v", err)
	}
}

// TestBuildSingleStageMigrated: a single-stage Dockerfile becomes its entrypoint and
// closure, and --emit-dockerfile writes the multi-stage equivalent.
func TestBuildSingleStageMigrated(t *testing.T) {
	needBuildkit(t)
	needRoot(t)
	dir := project(t, map[string]string{"Dockerfile": `FROM busybox
RUN mkdir -p /app /var/cache/junk && printf '#!/bin/sh\necho single stage works\n' > /app/run.sh && chmod +x /app/run.sh && dd if=/dev/zero of=/var/cache/junk/big bs=1M count=8
ENTRYPOINT ["/app/run.sh"]
`})
	emitted := filepath.Join(t.TempDir(), "Dockerfile.slim")
	got, rootfs := slimBuildRun(t, dir, []string{"--emit-dockerfile", emitted}, "/app/run.sh")
	if got != "single stage works\n" {
		t.Errorf("result printed %q", got)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "var/cache/junk/big")); !os.IsNotExist(err) {
		t.Errorf("the 8 MB junk came along: %v", err)
	}
	df, err := os.ReadFile(emitted)
	if err != nil {
		t.Fatal(err)
	}
	stages, err := build.ParseStages(df)
	if err != nil {
		t.Fatalf("the emitted Dockerfile does not parse: %v\n%s", err, df)
	}
	if len(stages) != 2 || !strings.Contains(string(df), "COPY --from=0 /app/run.sh /app/run.sh") || !strings.Contains(string(df), `ENTRYPOINT ["/app/run.sh"]`) {
		t.Errorf("emitted Dockerfile lacks the slim stage:\n%s", df)
	}

	// The emitted Dockerfile builds as it is, and its last stage is the slim image: it
	// runs, and it has no junk either.
	stagesDir := filepath.Join(t.TempDir(), "stages")
	slimOK(t, append([]string{"build"}, buildArgs("-f", emitted, "--stage", "slim", "-o", stagesDir, dir)...)...)
	built := unpack(t, filepath.Join(stagesDir, "slim"), "latest")
	if got := runIn(t, built, "", nil, "/app/run.sh"); got != "single stage works\n" {
		t.Errorf("the image built from the emitted Dockerfile printed %q", got)
	}
	if _, err := os.Stat(filepath.Join(built, "var/cache/junk/big")); !os.IsNotExist(err) {
		t.Errorf("the image built from the emitted Dockerfile has the junk: %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	needBuildkit(t)
	dir := multiStageProject(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing stage", []string{"--from", "nosuch:/x"}, `finding stage "nosuch": no such stage (stages:`},
		{"missing path", []string{"--from", "builder:/no/such/file"}, "no/such/file"},
		{"missing target", []string{"--from", "builder:/out/greet", "--target", "nope"}, "nope"},
		{"missing dockerfile", []string{"--from", "builder:/x", "-f", filepath.Join(dir, "nope.Dockerfile")}, "nope.Dockerfile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := slimCLI(t, append(buildArgs(tc.args...), "-o", "type=oci,dest="+out, dir)...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if last := lines[len(lines)-1]; code != 1 || !strings.Contains(last, tc.want) {
				t.Errorf("exit %d, last line %q: want 1 and a message mentioning %q", code, last, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output written despite the error")
			}
		})
	}
}

// A warm build whose stage files are unchanged takes its layer from slim's cache by
// the files' content IDs (BuildKit's stat and the stage definition) without reading
// them; a file changed to the same size is a new ID and a new layer with the new
// content.
func TestBuildWarmCacheSeesChanges(t *testing.T) {
	needBuildkit(t)
	needRoot(t)
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache) // the layer cache lives under the user's cache directory
	dir := project(t, map[string]string{
		"Dockerfile": "FROM busybox AS b\nCOPY msg /app/msg\nRUN printf 'made by RUN\\n' > /app/made\n",
		"msg":        "one\n",
	})
	setMtime := func(ns int64) {
		t.Helper()
		if err := os.Chtimes(filepath.Join(dir, "msg"), time.Unix(0, ns), time.Unix(0, ns)); err != nil {
			t.Fatal(err)
		}
	}
	idEntries := func() int {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(cache, "slim", "layers", "keys", "id-*"))
		return len(m)
	}
	// /opt/bin/busybox comes from the base image's layer with a whole-second mtime: no ID, so
	// the key mixes IDs with that file's digest.
	args := []string{"--from", "b:/app/", "--from", "b:/bin/busybox:/opt/bin/busybox", "--deps", "none", "--base", "oci-layout://" + bk.busybox + ":latest"}
	cat := []string{"/opt/bin/busybox", "cat", "/app/msg", "/app/made"}

	setMtime(1_700_000_000_111_111_111)
	if got, _ := slimBuildRun(t, dir, args, cat...); got != "one\nmade by RUN\n" {
		t.Fatalf("first build printed %q", got)
	}
	if n := idEntries(); n != 1 {
		t.Fatalf("%d layers cached by content ID after the first build, want 1: the stage's files got no IDs", n)
	}
	if got, _ := slimBuildRun(t, dir, args, cat...); got != "one\nmade by RUN\n" {
		t.Fatalf("warm build printed %q", got)
	}
	if n := idEntries(); n != 1 {
		t.Errorf("%d layers cached after an unchanged warm build, want still 1 (a cache hit)", n)
	}
	// An edit of the same size, as an editor saves it: a new mtime.
	if err := os.WriteFile(filepath.Join(dir, "msg"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	setMtime(1_700_000_000_222_222_222)
	if got, _ := slimBuildRun(t, dir, args, cat...); got != "two\nmade by RUN\n" {
		t.Errorf("after the edit the result printed %q, want the new content", got)
	}
	if n := idEntries(); n != 2 {
		t.Errorf("%d layers cached after the edit, want 2", n)
	}
}
