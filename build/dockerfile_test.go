package build

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
)

func readTestDockerfile(t *testing.T, text string) *Dockerfile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "Dockerfile")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	df, err := ReadDockerfile(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return df
}

func TestReadDockerfileErrors(t *testing.T) {
	if _, err := ReadDockerfile(filepath.Join(t.TempDir(), "Dockerfile"), nil); err == nil || !strings.Contains(err.Error(), "reading the Dockerfile") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "Dockerfile")
	os.WriteFile(p, []byte("RUN true\n"), 0o644)
	if _, err := ReadDockerfile(p, nil); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("no FROM: %v, want an error naming %s", err, p)
	}
}

func TestDockerfileTargetAndSelect(t *testing.T) {
	df := readTestDockerfile(t, graphDockerfile)
	if s, err := df.Target(""); err != nil || s.Name != "final" {
		t.Errorf("default target = %+v, %v; want the last stage", s, err)
	}
	if s, err := df.Target("1"); err != nil || s.Index != 1 {
		t.Errorf("target 1 = %+v, %v", s, err)
	}
	if _, err := df.Target("nope"); !errors.Is(err, ErrNoStage) {
		t.Errorf("target nope: %v, want ErrNoStage", err)
	}
	for _, tt := range []struct {
		names []string
		all   bool
		want  []string
	}{
		{nil, false, []string{"final"}},
		{nil, true, []string{"builder", "1", "final"}},
		{[]string{"1", "builder"}, false, []string{"1", "builder"}},
	} {
		if got, err := df.Select(tt.names, tt.all); err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Select(%v, %t) = %v, %v; want %v", tt.names, tt.all, got, err, tt.want)
		}
	}
	if _, err := df.Select([]string{"builder", "nope"}, false); !errors.Is(err, ErrNoStage) {
		t.Errorf("Select with an unknown stage: %v", err)
	}
}

func mustFrom(t *testing.T, s string) extract.From {
	t.Helper()
	f, err := extract.ParseFrom(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestStagesToSolve(t *testing.T) {
	df := readTestDockerfile(t, graphDockerfile)
	final, _ := df.Target("")
	// Auto mode: the target and what it copies from, each once.
	if got, err := df.StagesToSolve(final, nil); err != nil || !reflect.DeepEqual(got, []string{"final", "builder", "1"}) {
		t.Errorf("auto mode = %v, %v", got, err)
	}
	// --from: stages named, images left to the caller, the target once.
	froms := []extract.From{mustFrom(t, "builder:/a"), mustFrom(t, "final:/c"), mustFrom(t, "registry.example/app:1:/x")}
	if got, err := df.StagesToSolve(final, froms); err != nil || !reflect.DeepEqual(got, []string{"final", "builder"}) {
		t.Errorf("with --from = %v, %v", got, err)
	}
	// A bare word that is no stage is a typo, not a Docker Hub image.
	_, err := df.StagesToSolve(final, []extract.From{mustFrom(t, "biulder:/a")})
	if !errors.Is(err, ErrNoStage) || !strings.Contains(err.Error(), "docker.io/library/biulder:latest") {
		t.Errorf("typo: %v", err)
	}
}

func TestCopyDest(t *testing.T) {
	for _, tt := range []struct {
		e      CopyEdge
		baseWD string
		src    string
		isDir  bool
		want   string
	}{
		{CopyEdge{Src: []string{"/app/server"}, Dest: "/bin/server"}, "/", "/app/server", false, "/bin/server"},
		{CopyEdge{Src: []string{"/app/server"}, Dest: "/bin/"}, "/", "/app/server", false, "/bin/server"},
		{CopyEdge{Src: []string{"/a", "/b"}, Dest: "/opt"}, "/", "/b", false, "/opt/b"},
		{CopyEdge{Src: []string{"/app"}, Dest: "/srv"}, "/", "/app", true, "/srv"},
		{CopyEdge{Src: []string{"/app/*.so"}, Dest: "/lib"}, "/", "/app/*.so", false, "/lib"},
		// Relative destinations are taken from the WORKDIR, "." meaning into it.
		{CopyEdge{Src: []string{"/src/server"}, Dest: ".", Workdir: "/app"}, "/", "/src/server", false, "/app/server"},
		{CopyEdge{Src: []string{"/src/server"}, Dest: "bin/srv", Workdir: "/app"}, "/", "/src/server", false, "/app/bin/srv"},
		{CopyEdge{Src: []string{"/src/server"}, Dest: "server"}, "/", "/src/server", false, "/server"},
		// A relative WORKDIR is taken from the base's.
		{CopyEdge{Src: []string{"/src/server"}, Dest: "./", Workdir: "sub"}, "/home/app", "/src/server", false, "/home/app/sub/server"},
		{CopyEdge{Src: []string{"/src/server"}, Dest: "."}, "/home/app", "/src/server", false, "/home/app/server"},
		// --parents keeps the source's path, below a /./ pivot.
		{CopyEdge{Src: []string{"/src/a/b.txt"}, Dest: "/dst/", Parents: true}, "/", "/src/a/b.txt", false, "/dst/src/a/b.txt"},
		{CopyEdge{Src: []string{"/src/./a/b.txt"}, Dest: "/dst/", Parents: true}, "/", "/src/./a/b.txt", false, "/dst/a/b.txt"},
		// A here-document is a file named as its marker; with a source next to it, DEST
		// is a directory.
		{CopyEdge{Inline: []string{"EOF"}, Dest: "/etc/app.conf"}, "/", "EOF", false, "/etc/app.conf"},
		{CopyEdge{Inline: []string{"run.sh"}, Dest: "bin/", Workdir: "/app"}, "/", "run.sh", false, "/app/bin/run.sh"},
		{CopyEdge{Src: []string{"local"}, Inline: []string{"EOF"}, Dest: "/opt"}, "/", "EOF", false, "/opt/EOF"},
	} {
		if got := copyDest(tt.e, tt.baseWD, tt.src, tt.isDir); got != tt.want {
			t.Errorf("copyDest(%+v, %q, %q, %t) = %q, want %q", tt.e, tt.baseWD, tt.src, tt.isDir, got, tt.want)
		}
	}
}

// TestParseDockerfileExpansion: FROM, COPY and WORKDIR words are expanded as BuildKit
// expands them, ARGs end with their stage, ENVs pass to stages built FROM it.
func TestParseDockerfileExpansion(t *testing.T) {
	df := `ARG BASE=busybox
ARG DIR=/opt
FROM ${BASE}:1 AS builder
ARG DIR
ENV OUT=/out
WORKDIR $DIR/src
WORKDIR build
COPY --chown=${USER:-nonroot}:app --chmod=0750 --exclude=*.md a b ${OUT}/

FROM builder AS next
ARG LOCAL=x
COPY --from=builder $OUT/bin ./${LOCAL}/
COPY --parents --from=builder /src/./a /dst/

FROM next
COPY --from=next ${LOCAL:-gone}/c ${DIR:-nodir}
`
	stages, err := ParseDockerfile([]byte(df), map[string]string{"BASE": "alpine"})
	if err != nil {
		t.Fatal(err)
	}
	b, n, last := stages[0], stages[1], stages[2]
	if b.BaseName != "alpine:1" {
		t.Errorf("FROM ${BASE}:1 with --build-arg BASE=alpine = %q", b.BaseName)
	}
	if b.Workdir != "/opt/src/build" {
		t.Errorf("builder's WORKDIR = %q", b.Workdir)
	}
	want := CopyEdge{Src: []string{"a", "b"}, Dest: "/out/", Workdir: "/opt/src/build", Chown: "nonroot:app", Chmod: "0750", Exclude: []string{"*.md"}, Line: 8}
	if len(b.Context) != 1 || !reflect.DeepEqual(b.Context[0], want) {
		t.Errorf("builder's COPY = %+v, want %+v", b.Context, want)
	}
	if n.Workdir != "/opt/src/build" {
		t.Errorf("a stage FROM builder starts in its WORKDIR: %q", n.Workdir)
	}
	if len(n.CopyFrom) != 2 || n.CopyFrom[0].Src[0] != "/out/bin" || n.CopyFrom[0].Dest != "./x/" || !n.CopyFrom[1].Parents {
		t.Errorf("next's COPYs = %+v", n.CopyFrom)
	}
	// ARGs end with their stage (LOCAL, DIR); ENVs do not (OUT is in next's image).
	if e := last.CopyFrom[0]; e.Src[0] != "gone/c" || e.Dest != "nodir" {
		t.Errorf("last stage's COPY = %+v", e)
	}
}

func TestEmit(t *testing.T) {
	df := readTestDockerfile(t, "FROM busybox AS builder\nRUN true\n\nFROM scratch\nCOPY --from=builder /bin/busybox /busybox\n")
	froms := []extract.From{mustFrom(t, "builder:/bin/busybox:/busybox"), mustFrom(t, "0:/etc/passwd")}
	files := []extract.File{
		{Path: "/busybox", Reason: "--from builder:/bin/busybox", Source: "builder"},
		{Path: "/lib/libc.so.6", Reason: "DT_NEEDED of /busybox", Source: "builder"},
		{Path: "/lib", Reason: "parent directory", Source: "builder"},
	}
	cfg := v1.Config{Entrypoint: []string{"/busybox", "sh"}, Env: []string{"A=b c"}, User: "nonroot", WorkingDir: "/w"}
	got := df.Emit(froms, "static", true, files, cfg)
	for _, want := range []string{
		"FROM busybox AS builder\nRUN true\n", // the original, unchanged, first
		"not in a registry",                   // static is slim's own
		"FROM scratch AS slim\n",
		"COPY --from=builder /bin/busybox /busybox\n",
		"COPY --from=builder /etc/passwd /etc/passwd\n", // stage 0 by its name
		"# DT_NEEDED of /busybox\nCOPY --from=builder /lib/libc.so.6 /lib/libc.so.6\n",
		`ENV A="b c"`, "WORKDIR /w\n", "USER nonroot\n", `ENTRYPOINT ["/busybox","sh"]`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("emitted Dockerfile lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "COPY --from=builder /lib /lib") {
		t.Errorf("a parent directory was copied on its own:\n%s", got)
	}
	if _, err := ParseStages([]byte(got)); err != nil {
		t.Errorf("the emitted Dockerfile does not parse: %v\n%s", err, got)
	}
	if onScratch := df.Emit(froms, "scratch", false, files, cfg); strings.Contains(onScratch, "not in a registry") {
		t.Errorf("scratch got the static note:\n%s", onScratch)
	}
}

// TestEmitCoveredFiles: a file inside a directory that a --from copies whole is not
// copied again.
func TestEmitCoveredFiles(t *testing.T) {
	df := readTestDockerfile(t, "FROM busybox AS builder\n")
	froms := []extract.From{mustFrom(t, "builder:/app/")}
	files := []extract.File{{Path: "/app/lib/libx.so", Reason: "DT_NEEDED of /app/run", Source: "builder"}}
	if got := df.Emit(froms, "scratch", false, files, v1.Config{}); strings.Contains(got, "libx.so") {
		t.Errorf("a file under /app/ was copied again:\n%s", got)
	}
}

// TestEmitCopyFlags: what auto mode read of --chown, --chmod, --exclude and --parents
// is written back as COPY flags that make the same files.
func TestEmitCopyFlags(t *testing.T) {
	df := readTestDockerfile(t, "FROM busybox AS builder\n")
	mode := uint32(0o750)
	froms := []extract.From{
		{Source: "builder", Spec: extract.Spec{Path: "/src/a", Dest: "/srv/a", Owner: &extract.Owner{UID: 65532, GID: 65532}, Mode: &mode, Exclude: []string{"*.md"}}},
		{Source: "builder", Spec: extract.Spec{Path: "/src/a/b/one.txt", Dest: "/parents/a/b/one.txt", Pivot: "/src"}},
	}
	got := df.Emit(froms, "scratch", false, nil, v1.Config{})
	for _, want := range []string{
		"COPY --from=builder --chown=65532:65532 --chmod=0750 --exclude=*.md /src/a /srv/a\n",
		"COPY --from=builder --parents /src/./a/b/one.txt /parents/\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("emitted Dockerfile lacks %q:\n%s", want, got)
		}
	}
}

// TestAutoFromsRemoteAdd: an ADD of a URL in the target cannot be read back from
// anywhere but the target; auto mode says so and names the --from to give.
func TestAutoFromsRemoteAdd(t *testing.T) {
	df := readTestDockerfile(t, "FROM scratch\nWORKDIR /app\nADD https://example.com/tool.tgz tools/\n")
	a := &auto{baseWD: "/", seen: map[string]bool{}}
	err := a.copyContext(df.Stages[0], df.Stages[0].Context[0], t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--from 0:/app/tools/tool.tgz") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("remote ADD: %v", err)
	}
}

// TestRunWorkdir: the working directory a stage sets and its RUNs write to is taken
// whole; none without a RUN, an inherited one, or / and system directories.
func TestRunWorkdir(t *testing.T) {
	for _, tc := range []struct {
		workdir, final string
		runs           []int
		want           string
	}{
		{"/app", "/app", []int{4}, "/app"},
		{"app", "/usr/src/app", []int{4}, "/usr/src/app"},
		{"html", "var/www/html", []int{4, 6}, "/var/www/html"},
		{"/app", "/app", nil, ""},
		{"", "/usr/local/tomcat", []int{3}, ""},
		{"/", "/", []int{3}, ""},
		{"/usr/local", "/usr/local", []int{3}, ""},
		{"/root", "/root", []int{3}, ""},
		{"/opt", "/opt", []int{3}, ""},
		{"/opt/app", "/opt/app", []int{3}, "/opt/app"},
	} {
		if got := RunWorkdir(Stage{Workdir: tc.workdir, Runs: tc.runs}, tc.final); got != tc.want {
			t.Errorf("RunWorkdir(WORKDIR %q, final %q, RUNs %v) = %q, want %q", tc.workdir, tc.final, tc.runs, got, tc.want)
		}
	}
}
