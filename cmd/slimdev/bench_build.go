package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/internal/baseimage"
)

// benchBuild measures slim's whole job on a Dockerfile against `buildctl build` of the
// equivalent hand-written multi-stage Dockerfile that exports its final image, on the
// same daemon, cold (the build steps re-run for both) and warm (everything cached).
func benchBuild(ctx context.Context, b *bencher) (string, error) {
	dir := filepath.Join(b.work, "build")
	golang := filepath.Join(dir, "golang")
	if _, err := os.Stat(filepath.Join(golang, "index.json")); err != nil {
		if _, err := baseimage.Golang(golang); err != nil {
			return "", err
		}
	}
	digest, err := layoutDigest(golang)
	if err != nil {
		return "", err
	}
	project := filepath.Join(dir, "project")
	junkMB := 300
	if b.quick {
		junkMB = 10
	}
	if err := writeBuildProject(project, junkMB); err != nil {
		return "", err
	}
	client, err := build.Connect(ctx, build.WithStateDir(filepath.Join(dir, "buildkit")), build.WithDaemonBinary(mustAbs(filepath.Join("bin", "buildkitd"))))
	if err != nil {
		return "", err
	}
	addr := client.Addr()
	client.Close()
	defer build.StopDaemon(filepath.Join(dir, "buildkit"), 30*time.Second)

	out := filepath.Join(dir, "out")
	slimRun := func(nonce string) (measurement, error) {
		os.RemoveAll(filepath.Join(out, "slim"))
		return runCmd(ctx, b.slim, "--addr", addr, "--progress", "quiet", "--build-context", "golang=oci-layout://"+golang,
			"--build-arg", "NONCE="+nonce, "--from", "builder:/app/server", "--base", "scratch",
			"-o", "type=oci,dest="+filepath.Join(out, "slim"), "--report", filepath.Join(out, "slim.json"), project)
	}
	buildctl := mustAbs(filepath.Join("bin", "buildctl"))
	buildctlRun := func(nonce string) (measurement, error) {
		return runCmd(ctx, buildctl, "--addr", addr, "build", "--progress", "quiet", "--frontend", "dockerfile.v0",
			"--local", "context="+project, "--local", "dockerfile="+project, "--opt", "filename=Dockerfile.handwritten",
			"--oci-layout", "golang="+golang, "--opt", "context:golang=oci-layout://golang@"+digest,
			"--opt", "build-arg:NONCE="+nonce, "--output", "type=oci,dest="+filepath.Join(out, "buildctl.tar"))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	// Cold: a fresh NONCE makes both re-run the builder's steps (the Go build and the
	// junk), with the base image already imported: the same cache state for both.
	cold := func(run func(string) (measurement, error)) func() (measurement, error) {
		return func() (measurement, error) { return run(fmt.Sprint(time.Now().UnixNano())) }
	}
	warm := func(run func(string) (measurement, error)) func() (measurement, error) {
		return func() (measurement, error) { return run("warm") }
	}
	if _, err := slimRun("warm"); err != nil { // imports the base, fills the warm cache
		return "", err
	}
	if _, err := buildctlRun("warm"); err != nil {
		return "", err
	}
	// slim and buildctl take turns, so that a load that comes and goes on a shared
	// machine falls on both alike rather than on whichever ran second.
	slimCold, ctlCold, err := interleavedMedians(min(b.repeats, 2), cold(slimRun), cold(buildctlRun)) // each cold run compiles Go from scratch
	if err != nil {
		return "", err
	}
	slimWarm, ctlWarm, err := interleavedMedians(b.repeats, warm(slimRun), warm(buildctlRun))
	if err != nil {
		return "", err
	}
	slimSize, err := reportSize(filepath.Join(out, "slim.json"))
	if err != nil {
		return "", err
	}
	ctlSize, err := ociTarLayerSize(filepath.Join(out, "buildctl.tar"))
	if err != nil {
		return "", err
	}
	builderSize, builderUncompressed, err := builderStageSize(ctx, b, addr, golang, project)
	if err != nil {
		return "", err
	}

	demo, err := benchDemoSizes(ctx, b, addr, golang)
	if err != nil {
		return "", err
	}

	var md strings.Builder
	md.WriteString("## The whole job through BuildKit (`slim` on a Dockerfile)\n\n")
	md.WriteString(demo)
	fmt.Fprintf(&md, "The demo server's Dockerfile (`testdata/demo`) with %d MB of build junk in its builder stage, so that the builder stage is %s uncompressed (goal ≥ 500 MB: %s). "+
		"slim: `slim --from builder:/app/server --base scratch`; the peer: `buildctl build` of the hand-written equivalent "+
		"(`FROM scratch` + `COPY --from=builder`), exporting its image as an OCI tar. Same daemon; cold runs re-run the builder's steps for both (a new build arg), "+
		"warm runs are all cache hits. Goals: slim ≤ 1.15 × buildctl, cold and warm; slim's image no larger.\n\n", junkMB, mb(builderUncompressed), verdict(builderUncompressed >= 500e6))
	md.WriteString("| run | slim / buildctl (wall) | goal |\n|---|---|---|\n")
	rc := float64(slimCold.wall) / float64(ctlCold.wall)
	rw := float64(slimWarm.wall) / float64(ctlWarm.wall)
	fmt.Fprintf(&md, "| cold | %.2f | %s |\n| warm | %.2f | %s |\n\n", rc, verdict(rc <= 1.15), rw, verdict(rw <= 1.15))
	md.WriteString("| image | compressed size | vs slim |\n|---|---|---|\n")
	fmt.Fprintf(&md, "| builder stage (exported only to measure it) | %s | %.1f× |\n", mb(builderSize), float64(builderSize)/float64(slimSize))
	fmt.Fprintf(&md, "| buildctl, hand-written Dockerfile | %s | %.3f× |\n", mb(ctlSize), float64(ctlSize)/float64(slimSize))
	fmt.Fprintf(&md, "| slim | %s | 1 |\n\nslim's image no larger than buildctl's: %s.\n", mb(slimSize), verdict(slimSize <= ctlSize))
	return md.String(), nil
}

// interleavedMedians runs a and b in turns, n times each, and returns each one's median.
func interleavedMedians(n int, a, b func() (measurement, error)) (measurement, measurement, error) {
	var as, bs []measurement
	for range n {
		for _, r := range []struct {
			f   func() (measurement, error)
			out *[]measurement
		}{{a, &as}, {b, &bs}} {
			m, err := r.f()
			if err != nil {
				return measurement{}, measurement{}, err
			}
			*r.out = append(*r.out, m)
		}
	}
	return medianOf(as), medianOf(bs), nil
}

func medianOf(ms []measurement) measurement {
	walls := make([]time.Duration, len(ms))
	var rss int64
	for i, m := range ms {
		walls[i] = m.wall
		rss = max(rss, m.maxRSS)
	}
	slices.Sort(walls)
	return measurement{wall: walls[len(walls)/2], maxRSS: rss}
}

func writeBuildProject(dir string, junkMB int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join("testdata", "demo", "main.go"))
	if err != nil {
		return err
	}
	builder := fmt.Sprintf(`FROM golang AS builder
WORKDIR /src
COPY go.mod main.go ./
ARG NONCE
RUN echo "$NONCE" > /nonce && go build -trimpath -ldflags="-s -w" -o /app/server .
RUN dd if=/dev/urandom of=/junk bs=1M count=%d 2>/dev/null
`, junkMB)
	files := map[string]string{
		"main.go":                string(src),
		"go.mod":                 "module demo\n\ngo 1.26\n",
		"Dockerfile":             builder + "\nFROM golang\nCOPY --from=builder /app/server /app/server\nENTRYPOINT [\"/app/server\"]\n",
		"Dockerfile.handwritten": builder + "\nFROM scratch\nCOPY --from=builder /app/server /app/server\nENTRYPOINT [\"/app/server\"]\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func layoutDigest(dir string) (string, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return "", err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return "", err
	}
	if len(im.Manifests) == 0 {
		return "", fmt.Errorf("%s holds no image", dir)
	}
	return im.Manifests[0].Digest.String(), nil
}

func reportSize(path string) (int64, error) {
	var r struct{ Images []struct{ Size int64 } }
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Images) == 0 {
		return 0, fmt.Errorf("reading %s: %v", path, err)
	}
	return r.Images[0].Size, nil
}

// ociTarLayerSize sums the layer sizes of the image in an OCI layout tar, read by slim
// inspect (which reads layout directories): the tar is unpacked first.
func ociTarLayerSize(path string) (int64, error) {
	dir := strings.TrimSuffix(path, ".tar") + ".d"
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	if _, err := runCmd(context.Background(), "tar", "-xf", path, "-C", dir); err != nil {
		return 0, err
	}
	return inspectSize(dir)
}

func inspectSize(dir string) (int64, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return 0, err
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) == 0 {
		return 0, fmt.Errorf("reading %s: %v", dir, err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return 0, err
	}
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

// builderStageSize exports the builder stage once with slim build, to show what the
// slim image replaces (slim itself never exports it), and measures it with slim inspect.
func builderStageSize(ctx context.Context, b *bencher, addr, golang, project string) (size, uncompressed int64, err error) {
	dest := filepath.Join(b.work, "build", "stages")
	if _, err := runCmd(ctx, b.slim, "build", "--addr", addr, "--progress", "quiet", "--build-context", "golang=oci-layout://"+golang,
		"--build-arg", "NONCE=warm", "--stage", "builder", "-o", dest, project); err != nil {
		return 0, 0, err
	}
	cmd := exec.CommandContext(ctx, b.slim, "inspect", "--json", "oci-layout://"+filepath.Join(dest, "builder"))
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("slim inspect of the builder stage: %w", err)
	}
	var r struct {
		Totals struct{ Size, UncompressedSize int64 }
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, 0, err
	}
	return r.Totals.Size, r.Totals.UncompressedSize, nil
}

// benchDemoSizes runs the demo as `make demo` does (testdata/demo, no junk) and gives
// its size table: the builder stage against slim's image, the table README.md shows.
func benchDemoSizes(ctx context.Context, b *bencher, addr, golang string) (string, error) {
	out := filepath.Join(b.work, "build", "demo")
	os.RemoveAll(out)
	if _, err := runCmd(ctx, b.slim, "--addr", addr, "--progress", "quiet", "--build-context", "golang=oci-layout://"+golang,
		"--from", "builder:/app/server", "--base", "scratch", "-o", "type=oci,dest="+filepath.Join(out, "result"),
		"--report", filepath.Join(out, "report.json"), filepath.Join("testdata", "demo")); err != nil {
		return "", err
	}
	if _, err := runCmd(ctx, b.slim, "build", "--addr", addr, "--progress", "quiet", "--build-context", "golang=oci-layout://"+golang,
		"--stage", "builder", "-o", filepath.Join(out, "stages"), filepath.Join("testdata", "demo")); err != nil {
		return "", err
	}
	stage, err := exec.CommandContext(ctx, b.slim, "inspect", "--json", "oci-layout://"+filepath.Join(out, "stages", "builder")).Output()
	if err != nil {
		return "", fmt.Errorf("slim inspect of the demo's builder stage: %w", err)
	}
	var st struct {
		Totals struct{ Size, UncompressedSize int64 }
	}
	if err := json.Unmarshal(stage, &st); err != nil {
		return "", err
	}
	rb, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		return "", err
	}
	var rep struct {
		Images []struct{ Size, Uncompressed int64 }
	}
	if err := json.Unmarshal(rb, &rep); err != nil || len(rep.Images) != 1 {
		return "", fmt.Errorf("reading the demo's report: %v", err)
	}
	r := rep.Images[0]
	var md strings.Builder
	md.WriteString("The demo as `make demo` runs it (`testdata/demo`: a Go HTTP server built in a `golang` builder stage), `slim --from builder:/app/server --base scratch`:\n\n")
	md.WriteString("| image | compressed | uncompressed |\n|---|---|---|\n")
	fmt.Fprintf(&md, "| builder stage | %s | %s |\n", mb(st.Totals.Size), mb(st.Totals.UncompressedSize))
	fmt.Fprintf(&md, "| slim result (scratch) | %s | %s |\n", mb(r.Size), mb(r.Uncompressed))
	fmt.Fprintf(&md, "| builder / slim | %.0f× | %.0f× |\n\n", float64(st.Totals.Size)/float64(r.Size), float64(st.Totals.UncompressedSize)/float64(r.Uncompressed))
	return md.String(), nil
}
