package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/slim-dev/slim/internal/imagefs"
)

const testDockerfile = `FROM busybox AS builder
ARG MSG=none
RUN mkdir -p /out/d/e && echo hi > /out/a && ln -s a /out/link && ln -s /out/a /out/abslink && \
    echo e > /out/d/e/f && echo "$MSG" > /out/arg && \
    yes 0123456789abcdef | head -c 10485760 > /out/big

FROM busybox AS secret
RUN --mount=type=secret,id=tok mkdir -p /out && cat /run/secrets/tok > /out/tok

FROM busybox AS sleep1
ARG NONCE
RUN echo "$NONCE" > /n && sleep 3

FROM busybox AS sleep2
ARG NONCE
RUN echo "$NONCE" > /n && sleep 3

FROM busybox
COPY . /ctx

FROM busybox AS final
COPY --from=builder /out/a /a
CMD ["cat", "/a"]
`

const testSecret = "s3cr3t-t0ken-value"

// testContext writes the Dockerfile, a context with a .dockerignore and a
// secret file, and returns the request every integration test starts from.
func testContext(t *testing.T) Request {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile":    testDockerfile,
		".dockerignore": "ignored.txt\n",
		"keep.txt":      "kept\n",
		"ignored.txt":   "should not be copied\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(secret, []byte(testSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	return Request{
		ContextDir:     dir,
		NamedContexts:  map[string]string{"busybox": "oci-layout://" + daemon.busybox + ":latest"},
		BuildArgs:      map[string]string{"MSG": "from-build-arg", "NONCE": fmt.Sprint(time.Now().UnixNano())},
		Secrets:        []string{"id=tok,src=" + secret},
		Progress:       "plain",
		ProgressOutput: testWriter{t},
	}
}

// testWriter sends BuildKit's progress to the test log, shown on failure
// or with -v.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func readString(t *testing.T, fsys fs.FS, name string) string {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return string(b)
}

func TestSolveStages(t *testing.T) {
	c := needDaemon(t)
	req := testContext(t)
	req.Stages = []string{"builder", "secret", "4", "final"}
	start := time.Now()
	err := c.Solve(t.Context(), req, func(ctx context.Context, stages map[string]*StageFS) error {
		if len(stages) != 4 {
			t.Errorf("got %d stages, want 4", len(stages))
		}
		t.Run("files", func(t *testing.T) { checkBuilder(t, stages["builder"]) })
		t.Run("secret", func(t *testing.T) { checkSecret(t, stages["secret"], stages["builder"]) })
		t.Run("dockerignore", func(t *testing.T) {
			ctxStage := stages["4"]
			if ctxStage.Stage.Index != 4 || ctxStage.Stage.Name != "" {
				t.Errorf("stage 4 is %+v", ctxStage.Stage)
			}
			if got := readString(t, ctxStage, "ctx/keep.txt"); got != "kept\n" {
				t.Errorf("ctx/keep.txt = %q", got)
			}
			if _, err := ctxStage.Lstat("ctx/ignored.txt"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ctx/ignored.txt was copied despite .dockerignore (err %v)", err)
			}
		})
		t.Run("config", func(t *testing.T) {
			cf, err := stages["final"].Config()
			if err != nil {
				t.Fatal(err)
			}
			// Cmd from the stage, Env inherited from the busybox base (internal/baseimage).
			if !slices.Equal(cf.Config.Cmd, []string{"cat", "/a"}) || !slices.Contains(cf.Config.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
				t.Errorf("final config = %+v", cf.Config)
			}
			if got := readString(t, stages["final"], "a"); got != "hi\n" {
				t.Errorf("final /a = %q", got)
			}
			if p := stages["final"].Platform; p == "" || !strings.HasPrefix(p, "linux/") {
				t.Errorf("platform = %q", p)
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("four stages solved and read in %s", time.Since(start).Round(time.Millisecond))
}

func checkBuilder(t *testing.T, b *StageFS) {
	if got := readString(t, b, "out/a"); got != "hi\n" {
		t.Errorf("out/a = %q", got)
	}
	if got := readString(t, b, "out/arg"); got != "from-build-arg\n" {
		t.Errorf("build arg: out/arg = %q", got)
	}
	if got := readString(t, b, "out/link"); got != "hi\n" {
		t.Errorf("out/link = %q", got)
	}
	if got := readString(t, b, "out/abslink"); got != "hi\n" {
		t.Errorf("out/abslink = %q", got)
	}
	if target, err := b.ReadLink("out/link"); err != nil || target != "a" {
		t.Errorf("ReadLink(out/link) = %q, %v", target, err)
	}
	if target, err := b.ReadLink("bin/sh"); err != nil || target != "busybox" {
		t.Errorf("ReadLink(bin/sh) = %q, %v", target, err)
	}
	fi, err := b.Lstat("out/link")
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(out/link) = %v, %v", fi, err)
	}
	ents, err := fs.ReadDir(b, "out")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"a", "abslink", "arg", "big", "d", "link"}; !slices.Equal(names, want) {
		t.Errorf("ls out = %v, want %v", names, want)
	}

	var walked []string
	err = fs.WalkDir(b, "out", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		walked = append(walked, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"out", "out/a", "out/abslink", "out/arg", "out/big", "out/d", "out/d/e", "out/d/e/f", "out/link"}
	if !slices.Equal(walked, want) {
		t.Errorf("walk = %v, want %v", walked, want)
	}

	// The 10 MB file streams through in chunks; check content without
	// holding it whole.
	f, err := b.Open("out/big")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pattern := []byte("0123456789abcdef\n")
	var n int64
	chunk := make([]byte, 64<<10)
	for {
		k, err := f.Read(chunk)
		for i := 0; i < k; i++ {
			if chunk[i] != pattern[(n+int64(i))%int64(len(pattern))] {
				t.Fatalf("out/big differs at byte %d", n+int64(i))
			}
		}
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != 10<<20 {
		t.Errorf("read %d bytes of out/big, want %d", n, 10<<20)
	}
	p := make([]byte, len(pattern))
	if _, err := f.(io.ReaderAt).ReadAt(p, int64(len(pattern))*1000); err != nil || !bytes.Equal(p, pattern) {
		t.Errorf("ReadAt = %q, %v", p, err)
	}
}

func checkSecret(t *testing.T, s, other *StageFS) {
	if got := readString(t, s, "out/tok"); got != testSecret {
		t.Errorf("out/tok = %q", got)
	}
	if _, err := s.Lstat("run/secrets/tok"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("run/secrets/tok is in the stage (err %v)", err)
	}
	for _, stage := range []*StageFS{s, other} {
		err := fs.WalkDir(stage, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() || (stage == s && p == "out/tok") {
				return nil
			}
			b, err := fs.ReadFile(stage, p)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(testSecret)) {
				t.Errorf("stage %s: %s holds the secret", stage.Stage.Ref(), p)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
}

// TestSolveParallel solves two independent stages that each sleep 3 s in one
// session: they must run side by side.
func TestSolveParallel(t *testing.T) {
	c := needDaemon(t)
	req := testContext(t)
	req.Stages = []string{"sleep1", "sleep2"}
	start := time.Now()
	var elapsed time.Duration
	err := c.Solve(t.Context(), req, func(ctx context.Context, stages map[string]*StageFS) error {
		elapsed = time.Since(start)
		for _, name := range req.Stages {
			if got := readString(t, stages[name], "n"); got != req.BuildArgs["NONCE"]+"\n" {
				t.Errorf("%s: n = %q", name, got)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("two 3 s stages solved in %s", elapsed.Round(time.Millisecond))
	if elapsed >= 5*time.Second {
		t.Errorf("two independent 3 s stages took %s, want < 5s (not parallel?)", elapsed)
	}
}

func TestSolveErrors(t *testing.T) {
	c := needDaemon(t)
	req := testContext(t)
	req.Stages = []string{"nope"}
	err := c.Solve(t.Context(), req, func(context.Context, map[string]*StageFS) error {
		t.Error("callback called for a missing stage")
		return nil
	})
	if !errors.Is(err, ErrNoStage) || !strings.Contains(err.Error(), "1 secret") || !strings.Contains(err.Error(), "5 final") {
		t.Errorf("missing stage: %v", err)
	}

	// The callback's own error comes back as it was.
	sentinel := errors.New("callback failed")
	req.Stages = []string{"final"}
	err = c.Solve(t.Context(), req, func(context.Context, map[string]*StageFS) error { return sentinel })
	if !errors.Is(err, sentinel) {
		t.Errorf("callback error = %v", err)
	}

	// A failing RUN is reported with BuildKit's message.
	bad := testContext(t)
	if err := os.WriteFile(filepath.Join(bad.ContextDir, "Dockerfile"), []byte("FROM busybox\nRUN exit 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = c.Solve(t.Context(), bad, func(context.Context, map[string]*StageFS) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "exit code: 3") {
		t.Errorf("failing RUN: %v", err)
	}
}

func TestExport(t *testing.T) {
	c := needDaemon(t)
	req := testContext(t)
	req.Progress = "quiet"
	dir := filepath.Join(t.TempDir(), "layout")
	if err := c.Export(t.Context(), req, "final", dir); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("%d manifests in the exported layout", len(im.Manifests))
	}
	// Named, so tools that address a layout by tag find the stage.
	if got := im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != "latest" {
		t.Errorf("exported stage's ref name = %q, want latest (annotations %v)", got, im.Manifests[0].Annotations)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	// Read back through slim's own image file system, which checks every blob's digest
	// as it indexes (ggcr's validate.Image assumes gzip for the busybox base's
	// uncompressed layer).
	fsys, err := imagefs.New(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if b, err := fsys.ReadFile("a"); err != nil || string(b) != "hi\n" {
		t.Errorf("exported final stage /a = %q, %v; want hi", b, err)
	}
	tarPath := filepath.Join(t.TempDir(), "final.tar")
	if err := c.Export(t.Context(), req, "5", tarPath); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(tarPath); err != nil || fi.Size() == 0 {
		t.Errorf("exported tar: %v, %v", fi, err)
	}
	if _, err := os.Stat(tarPath + ".tmp-slim"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

// TestSolveCacheAndLocalContext exports the cache of two stages to a local
// directory, imports it in a second run, and takes a file from a local
// directory given as a named context.
func TestSolveCacheAndLocalContext(t *testing.T) {
	c := needDaemon(t)
	extra := t.TempDir()
	if err := os.WriteFile(filepath.Join(extra, "x.txt"), []byte("extra\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "cache")
	req := testContext(t)
	df := "FROM busybox AS a\nRUN echo a > /a\nFROM busybox AS b\nCOPY --from=extra x.txt /x\n"
	if err := os.WriteFile(filepath.Join(req.ContextDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	req.NamedContexts["extra"] = extra
	req.Stages = []string{"a", "b"}
	req.CacheTo = []string{"type=local,dest=" + cache + ",mode=max"}
	err := c.Solve(t.Context(), req, func(ctx context.Context, stages map[string]*StageFS) error {
		if got := readString(t, stages["b"], "x"); got != "extra\n" {
			t.Errorf("b:/x = %q", got)
		}
		if got := readString(t, stages["a"], "a"); got != "a\n" {
			t.Errorf("a:/a = %q", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache, "index.json")); err != nil {
		t.Fatalf("cache not exported: %v", err)
	}
	req.CacheTo = nil
	req.CacheFrom = []string{"type=local,src=" + cache}
	err = c.Solve(t.Context(), req, func(ctx context.Context, stages map[string]*StageFS) error { return nil })
	if err != nil {
		t.Fatalf("importing the cache: %v", err)
	}
	req.CacheFrom = []string{"type=nosuch,,"}
	if err := c.Solve(t.Context(), req, nil); err == nil || !strings.Contains(err.Error(), "cache-from") {
		t.Errorf("bad --cache-from: %v", err)
	}
}

func TestOCILayoutContext(t *testing.T) {
	needDaemon(t) // the busybox layout is made with the daemon
	_, d1, _, err := ociLayoutContext(daemon.busybox)
	if err != nil {
		t.Fatal(err)
	}
	_, d2, _, err := ociLayoutContext(daemon.busybox + ":latest")
	if err != nil || d2 != d1 {
		t.Errorf("tag latest: %s, %v; want %s", d2, err, d1)
	}
	id, d3, _, err := ociLayoutContext(daemon.busybox + "@" + d1)
	if err != nil || d3 != d1 || !strings.HasPrefix(id, "oci") {
		t.Errorf("by digest: %s %s, %v", id, d3, err)
	}
	if _, _, _, err := ociLayoutContext(daemon.busybox + ":nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing tag: %v", err)
	}
	if _, _, _, err := ociLayoutContext(t.TempDir()); err == nil {
		t.Error("no error for a directory without index.json")
	}
}

func TestRequestErrors(t *testing.T) {
	c := &Client{addr: "unused"}
	req := testContext(t)
	for name, mutate := range map[string]func(*Request){
		"progress":   func(r *Request) { r.Progress = "fancy" },
		"platform":   func(r *Request) { r.Platforms = []string{"linux/"} },
		"context":    func(r *Request) { r.NamedContexts = map[string]string{"x": "/nonexistent"} },
		"secret":     func(r *Request) { r.Secrets = []string{"src"} },
		"dockerfile": func(r *Request) { r.ContextDir = t.TempDir() }, // no Dockerfile there
		"stage":      func(r *Request) { r.Stages = []string{"nope"} },
	} {
		r := req
		r.NamedContexts = maps.Clone(req.NamedContexts)
		mutate(&r)
		if err := c.Solve(t.Context(), r, nil); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestSolvePlatforms builds for two platforms without running foreign
// binaries (the busybox stage runs on the build platform; the final stage
// only copies), and gets one callback per platform.
func TestSolvePlatforms(t *testing.T) {
	c := needDaemon(t)
	req := testContext(t)
	df := "FROM --platform=$BUILDPLATFORM busybox AS b\nRUN echo x > /x\nFROM scratch AS out\nCOPY --from=b /x /x\n"
	if err := os.WriteFile(filepath.Join(req.ContextDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	req.Platforms = []string{"linux/amd64", "linux/arm64"}
	req.Stages = []string{"out"}
	var got []string
	err := c.Solve(t.Context(), req, func(ctx context.Context, stages map[string]*StageFS) error {
		s := stages["out"]
		got = append(got, s.Platform)
		if x := readString(t, s, "x"); x != "x\n" {
			t.Errorf("%s: /x = %q", s.Platform, x)
		}
		cf, err := s.Config()
		if err != nil {
			return err
		}
		if cf.OS+"/"+cf.Architecture != s.Platform {
			t.Errorf("config platform %s/%s for %s", cf.OS, cf.Architecture, s.Platform)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, req.Platforms) {
		t.Errorf("callbacks for %v, want %v", got, req.Platforms)
	}
}
