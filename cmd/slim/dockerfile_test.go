package main

import (
	"archive/tar"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// cBuilder is a builder image for a dynamic C program: the program at /src/server (and
// /app/server) and
// exactly the host libraries ldd says it loads, as real files under their names. It
// is what a Debian builder stage holds of it, and is handed to BuildKit as the named
// context "cbuilder". want is what the program prints there.
func cBuilder(t *testing.T) (ref, want string) {
	t.Helper()
	prog := testimage.GCCBuild(t, cProgram, "-lm")
	out, err := exec.Command("ldd", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("ldd %s: %v\n%s", prog, err, out)
	}
	paths := []string{"src/server=" + prog, "app/server=" + prog}
	for _, m := range regexp.MustCompile(`(/\S+) \(0x`).FindAllStringSubmatch(string(out), -1) {
		real, err := filepath.EvalSymlinks(m[1])
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m[1]+"="+real)
	}
	_, ref = hostImage(t, [][]tarball.Entry{hostEntries(t, paths...)}, func(c *v1.Config) {})
	return ref, runHost(t, prog)
}

// TestAutoModeDynamicProgramOntoScratch: the Dockerfile that docker build turns into an
// image that cannot start (a dynamic program copied onto scratch) becomes one that runs,
// in auto mode and with --from: the program's closure is resolved in the stage it is
// copied from, and the entrypoint it names is not taken again from the target.
func TestAutoModeDynamicProgramOntoScratch(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needBuildkit(t)
	needRoot(t)
	ref, want := cBuilder(t)
	dir := project(t, map[string]string{"Dockerfile": `FROM cbuilder AS builder

FROM scratch
COPY --from=builder /src/server /app/server
ENTRYPOINT ["/app/server"]
`})
	for name, extra := range map[string][]string{
		"auto":  nil,
		"named": {"--from", "builder:/src/server:/app/server"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--build-context", "cbuilder=" + ref, "--base", "scratch"}, extra...)
			got, rootfs := slimBuildRun(t, dir, args, "/app/server")
			if got != want {
				t.Errorf("the result printed %q, the program in its builder %q", got, want)
			}
			libs, _ := filepath.Glob(filepath.Join(rootfs, "*/*/libc.so.6"))
			if len(libs) != 1 {
				t.Errorf("libc.so.6 in the result: %v, want one", libs)
			}
		})
	}
}

// TestAutoModeRelativeCopy: WORKDIR /app + COPY --from=builder /src/server . puts the
// program at /app/server, once, as Docker does.
func TestAutoModeRelativeCopy(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needBuildkit(t)
	needRoot(t)
	ref, want := cBuilder(t)
	dir := project(t, map[string]string{"Dockerfile": `FROM cbuilder AS builder

FROM scratch
WORKDIR /app
COPY --from=builder /src/server .
ENTRYPOINT ["./server"]
`})
	report := filepath.Join(t.TempDir(), "report.json")
	got, rootfs := slimBuildRun(t, dir, []string{"--build-context", "cbuilder=" + ref, "--report", report}, "/app/server")
	if got != want {
		t.Errorf("the result printed %q, the program in its builder %q", got, want)
	}
	if rep := readReport(t, report); !slices.ContainsFunc(rep.Files, func(f extract.File) bool { return strings.HasSuffix(f.Path, "/server") }) {
		t.Errorf("report files %+v lack the server", rep.Files)
	}
	var servers []string
	filepath.Walk(rootfs, func(p string, fi os.FileInfo, err error) error {
		if err == nil && filepath.Base(p) == "server" {
			servers = append(servers, strings.TrimPrefix(p, rootfs))
		}
		return nil
	})
	if len(servers) != 1 || servers[0] != "/app/server" {
		t.Errorf("server files in the result: %v, want exactly /app/server", servers)
	}
}

// copySemantics is a Dockerfile whose final stage uses what COPY can do; its tree as
// slim takes it must be the tree BuildKit builds.
const copySemantics = `ARG BASE=busybox
ARG STAGE_DIR=/src
FROM ${BASE} AS builder
ARG STAGE_DIR
RUN mkdir -p $STAGE_DIR/a/b $STAGE_DIR/docs /home/nonroot && echo one > $STAGE_DIR/a/b/one.txt && echo two > $STAGE_DIR/a/two.txt \
 && echo readme > $STAGE_DIR/docs/README.md && echo keep > $STAGE_DIR/docs/keep.txt && chmod 0700 $STAGE_DIR/a/b \
 && printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh\n' > /etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /etc/group

FROM scratch
ARG STAGE_DIR
ENV DEST=/srv
COPY --from=builder /etc/passwd /etc/group /etc/
COPY --from=builder --chown=nonroot:nonroot --chmod=0750 ${STAGE_DIR}/a ${DEST}/a
COPY --from=builder --parents /src/./a/b/one.txt /parents/
COPY --from=builder --exclude=*.md /src/docs /docs
COPY --from=builder /src/a/two.txt /src/docs/keep.txt /many/
COPY --from=busybox /bin/busybox /bin/busybox
WORKDIR /w
COPY ctx.txt ./
COPY ctxdir/ sub/
COPY <<EOF /etc/app.conf
port=8080
EOF
COPY --chmod=0755 <<run.sh <<other.txt bin/
#!/bin/sh
echo run
run.sh
other
other.txt
ENTRYPOINT ["/bin/busybox", "cat", "/w/ctx.txt"]
`

// TestAutoModeMatchesBuildKit: for a final stage FROM scratch, what auto mode takes is
// what BuildKit builds, entry by entry (path, type, mode, owner, content), and it runs.
func TestAutoModeMatchesBuildKit(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needBuildkit(t)
	needRoot(t)
	dir := project(t, map[string]string{
		"Dockerfile": copySemantics, "ctx.txt": "from the context\n",
		"ctxdir/x.conf": "x=1\n", "ctxdir/deep/y.conf": "y=2\n",
	})
	out := filepath.Join(t.TempDir(), "out")
	slimOK(t, append(buildArgs("--base", "scratch", "-t", "result:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false"), dir)...)
	stages := filepath.Join(t.TempDir(), "stages")
	slimOK(t, append([]string{"build"}, buildArgs("-o", stages, dir)...)...)

	got := imageTree(t, layoutImage(t, out))
	want := imageTree(t, layoutImage(t, filepath.Join(stages, "1")))
	for _, p := range slices.Sorted(maps.Keys(want)) {
		if got[p] != want[p] {
			t.Errorf("%s: slim has %q, BuildKit %q", p, got[p], want[p])
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: slim has %q, BuildKit nothing", p, got[p])
		}
	}
	if got := runIn(t, unpack(t, out, "slim"), "", nil, "/bin/busybox", "cat", "/w/ctx.txt"); got != "from the context\n" {
		t.Errorf("the result printed %q", got)
	}
}

// imageTree is an image's merged file system, path → type, mode, owner and content.
func imageTree(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	fsys, err := imagefs.New(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	tree := map[string]string{}
	err = fsys.Walk(func(p string, h *tar.Header) error {
		desc := fmt.Sprintf("%c %04o %d:%d", h.Typeflag, h.Mode&0o7777, h.Uid, h.Gid)
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := fsys.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %d bytes %x", len(b), b[:min(len(b), 16)])
		case tar.TypeSymlink:
			desc += " -> " + h.Linkname
		}
		tree[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestReadmeExamples runs the README's first and third commands as a user types them
// (the registry is a local one), and runs what they made. The second, a bare image name
// in the Docker daemon with --load, is TestSlimBareNameFromDaemon's.
func TestReadmeExamples(t *testing.T) {
	needBuildkit(t)
	needRoot(t)
	skopeo := testimage.NeedTool(t, "skopeo")
	ref, want := cBuilder(t)
	dir := project(t, map[string]string{"Dockerfile": `FROM cbuilder AS builder

FROM scratch
COPY --from=builder /app/server /app/server
ENTRYPOINT ["/app/server"]
`})
	ctx := []string{"--build-context", "cbuilder=" + ref}

	// slim --from builder:/app/server --base scratch -t registry.example.com/app:slim --push .
	pushed := testimage.Registry(t) + "/app:slim"
	slimOK(t, append(buildArgs(ctx...), "--from", "builder:/app/server", "--base", "scratch", "-t", pushed, "--push", dir)...)
	pulled := filepath.Join(t.TempDir(), "pulled")
	if b, err := exec.Command(skopeo, "copy", "--src-tls-verify=false", "docker://"+pushed, "oci:"+pulled+":slim").CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy of the pushed image: %v\n%s", err, b)
	}
	if got := runIn(t, unpack(t, pulled, "slim"), "", nil, "/app/server"); got != want {
		t.Errorf("the pushed image printed %q, the program %q", got, want)
	}

	// slim --base scratch -o type=oci,dest=out/ .
	out := filepath.Join(t.TempDir(), "out") + "/"
	slimOK(t, append(buildArgs(ctx...), "--base", "scratch", "-o", "type=oci,dest="+out, dir)...)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testimage.Unpack(t, layoutImage(t, out), rootfs) // untagged, as buildx writes it: umoci wants a tag
	if got := runIn(t, rootfs, "", nil, "/app/server"); got != want {
		t.Errorf("the auto-mode image printed %q, the program %q", got, want)
	}
}

// TestAutoModeUserFromRun: a target that adds its user with RUN and runs as it (USER
// app) gives an image that starts as that user, on scratch and on the static base
// (whose /etc/passwd lacks it), as the stage BuildKit built does; and slim says that
// the rest of what the RUN wrote is not taken, naming --keep.
func TestAutoModeUserFromRun(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needBuildkit(t)
	needRoot(t)
	dir := project(t, map[string]string{"Dockerfile": `FROM busybox AS build
RUN mkdir -p /out && cp /bin/busybox /out/busybox

FROM busybox
RUN echo "app:x:1234:1234::/home/app:/bin/sh" >> /etc/passwd && echo "app:x:1234:" >> /etc/group && echo greeting=hi > /etc/app.conf
COPY --from=build /out/busybox /app/busybox
USER app
ENTRYPOINT ["/app/busybox", "id"]
`})
	stages := filepath.Join(t.TempDir(), "stages")
	slimOK(t, append([]string{"build"}, buildArgs("-o", stages, dir)...)...)
	fat := filepath.Join(t.TempDir(), "fat")
	testimage.Unpack(t, layoutImage(t, filepath.Join(stages, "1")), fat)
	c := testimage.Container{Args: []string{"/app/busybox", "id"}, User: "app"}
	want := testimage.RunC(t, fat, c)
	if want.Code != 0 || !strings.Contains(want.Stdout, "uid=1234(app)") {
		t.Fatalf("the stage as built: %s", want)
	}
	for _, base := range []string{"scratch", "static"} {
		t.Run(base, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := slimCLI(t, append(buildArgs("--base", base, "-t", "user:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false"), dir)...)
			if code != 0 {
				t.Fatalf("slim: exit %d\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "RUN at line 5") || !strings.Contains(stderr, "--keep PATH") {
				t.Errorf("slim did not say that the RUN's other files are not taken:\n%s", stderr)
			}
			cf, err := layoutImage(t, out).ConfigFile()
			if err != nil || cf.Config.User != "app" {
				t.Fatalf("config user %q, %v; want app", cf.Config.User, err)
			}
			rootfs := unpack(t, out, "slim")
			c.User = cf.Config.User
			if got := testimage.RunC(t, rootfs, c); got != want {
				t.Errorf("the result ran as\n%s\nthe stage as\n%s", got, want)
			}
		})
	}
}

// TestAutoModeRunOutputInWorkdir: a single-stage Dockerfile that copies its script,
// then RUNs something that writes next to it in its WORKDIR (npm ci's node_modules, a
// build's output): auto mode takes the working directory as built, so the result
// reads what the RUN wrote as the stage does. Only the script was taken before.
func TestAutoModeRunOutputInWorkdir(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needBuildkit(t)
	needRoot(t)
	dir := project(t, map[string]string{"Dockerfile": `FROM busybox
WORKDIR /app
COPY main.sh ./
RUN mkdir -p data && echo from-run > data/greeting.txt && echo 'echo "lib $1"' > lib.sh
CMD ["/bin/sh", "/app/main.sh"]
`, "main.sh": "read g < /app/data/greeting.txt\necho \"greeting: $g\"\n. ./lib.sh ok\n"})
	stages := filepath.Join(t.TempDir(), "stages")
	slimOK(t, append([]string{"build"}, buildArgs("-o", stages, dir)...)...)
	fat := filepath.Join(t.TempDir(), "fat")
	testimage.Unpack(t, layoutImage(t, filepath.Join(stages, "0")), fat)
	c := testimage.Container{Args: []string{"/bin/sh", "/app/main.sh"}, Cwd: "/app"}
	want := testimage.RunC(t, fat, c)
	if want.Code != 0 || !strings.Contains(want.Stdout, "greeting: from-run") || !strings.Contains(want.Stdout, "lib ok") {
		t.Fatalf("the stage as built: %s", want)
	}
	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := slimCLI(t, append(buildArgs("--base", "scratch", "-t", "run:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false"), dir)...)
	if code != 0 {
		t.Fatalf("slim: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "the working directory /app") {
		t.Errorf("slim did not say that it takes the working directory:\n%s", stderr)
	}
	if got := testimage.RunC(t, unpack(t, out, "slim"), c); got != want {
		t.Errorf("the result ran as\n%s\nthe stage as\n%s", got, want)
	}
}

// TestAutoModeHealthcheck: a Dockerfile's HEALTHCHECK in a target that auto mode takes
// only COPY --from files of: the result keeps the healthcheck, so its command (here
// CMD-SHELL, /bin/sh -c) comes from the target, and it runs there as in the stage.
func TestAutoModeHealthcheck(t *testing.T) {
	t.Parallel() // its own images and containers: it overlaps the others' waits
	needBuildkit(t)
	needRoot(t)
	dir := project(t, map[string]string{"Dockerfile": `FROM busybox AS build
RUN mkdir -p /out && cp /bin/busybox /out/server

FROM busybox
COPY --from=build /out/server /app/server
HEALTHCHECK --interval=5s CMD test -x /app/server && echo healthy
ENTRYPOINT ["/app/server", "echo", "up"]
`})
	stages := filepath.Join(t.TempDir(), "stages")
	slimOK(t, append([]string{"build"}, buildArgs("-o", stages, dir)...)...)
	want := runHealthcheck(t, layoutImage(t, filepath.Join(stages, "1")))
	if want.Code != 0 || want.Stdout != "healthy\n" {
		t.Fatalf("the stage's healthcheck: %s", want)
	}
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := slimCLI(t, append(buildArgs("--base", "scratch", "-t", "hc:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false"), dir)...)
	if code != 0 {
		t.Fatalf("slim: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, `healthcheck "/bin/sh" of the config`) {
		t.Errorf("the report names nothing taken for the healthcheck:\n%s", stdout)
	}
	if got := runHealthcheck(t, layoutImage(t, out)); got != want {
		t.Errorf("the result's healthcheck ran as\n%s\nthe stage's as\n%s", got, want)
	}
}
