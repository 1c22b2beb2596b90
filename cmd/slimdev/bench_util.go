package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// peer is a third-party tool that the benchmarks compare slim with. Go peers are built from
// their own module at a pinned version into the bench cache, so go.mod never carries them.
type peer struct {
	name, module string
}

func goPeers() []peer {
	return []peer{
		{name: "crane", module: "github.com/google/go-containerregistry/cmd/crane@v0.22.1"},
		{name: "regctl", module: "github.com/regclient/regclient/cmd/regctl@v0.11.7"},
	}
}

// peerBin returns the path of a Go peer, installing it on first use.
func (b *bencher) peerBin(ctx context.Context, name string) (string, error) {
	bin := filepath.Join(b.work, "bin")
	exe := filepath.Join(bin, name)
	if _, err := os.Stat(exe); err == nil {
		return exe, nil
	}
	peers := goPeers()
	i := slices.IndexFunc(peers, func(p peer) bool { return p.name == name })
	if i < 0 {
		return "", fmt.Errorf("unknown peer %q", name)
	}
	fmt.Fprintf(os.Stderr, "bench: installing %s\n", peers[i].module)
	cmd := exec.CommandContext(ctx, "go", "install", peers[i].module)
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("installing %s: %w: %s", peers[i].module, err, out)
	}
	return exe, nil
}

// hasCommand says whether slim was built with a subcommand, so that a workload can say
// "not measured" instead of failing while a peer engineer is still adding it.
func (b *bencher) hasCommand(ctx context.Context, name string) bool {
	out, err := exec.CommandContext(ctx, b.slim, name, "--help").CombinedOutput()
	return err == nil && strings.Contains(string(out), "slim "+name)
}

// shellTo runs a shell pipeline with its stdout sent to the file out; it is how the
// command-line compressors are timed on exactly the bytes they are given.
func shellTo(ctx context.Context, out, script string, args ...string) (measurement, error) {
	argv := append([]string{"sh", "-c", script + ` >"$0"`, out}, args...)
	return runCmd(ctx, argv...)
}

func fileSize(p string) (int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// layoutLayerSize sums the layer blobs of every image in an OCI layout: what a pull of the
// result downloads, the figure slim's size goals are about.
func layoutLayerSize(dir string) (int64, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return 0, fmt.Errorf("opening layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return 0, fmt.Errorf("reading index of %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return 0, fmt.Errorf("reading index of %s: %w", dir, err)
	}
	var total int64
	for _, d := range im.Manifests {
		img, err := p.Image(d.Digest)
		if err != nil {
			return 0, fmt.Errorf("reading image %s: %w", d.Digest, err)
		}
		m, err := img.Manifest()
		if err != nil {
			return 0, fmt.Errorf("reading manifest %s: %w", d.Digest, err)
		}
		for _, l := range m.Layers {
			total += l.Size
		}
	}
	return total, nil
}

// layoutTag returns the first ref.name of a layout's index, so tools that need NAME:TAG
// (umoci, skopeo) can address what slim wrote.
func layoutTag(dir string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return "", err
	}
	var idx struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return "", fmt.Errorf("reading %s/index.json: %w", dir, err)
	}
	for _, m := range idx.Manifests {
		if t := m.Annotations["org.opencontainers.image.ref.name"]; t != "" {
			return t, nil
		}
	}
	return "", fmt.Errorf("%s has no tagged image", dir)
}

// hostTree lists a host directory as layer entries named without the leading slash, in
// lexical order, parents first. Regular files count against budget (bytes); once it is
// spent, further files are left out unless must says they are needed.
func hostTree(root string, budget int64, must func(string) bool) ([]genEntry, int64, error) {
	var entries []genEntry
	var used int64
	for _, d := range parentDirs(root) {
		entries = append(entries, genEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}})
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		e, ok, err := hostEntry(p, d)
		if err != nil || !ok {
			return err
		}
		if e.hdr.Typeflag == tar.TypeReg {
			if used+e.hdr.Size > budget && (must == nil || !must(p)) {
				return nil
			}
			used += e.hdr.Size
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing %s: %w", root, err)
	}
	return entries, used, nil
}

// parentDirs gives the ancestors of an absolute path, outermost first, without slashes
// at either end: "/usr/share" → ["usr"].
func parentDirs(p string) []string {
	var out []string
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		out = append([]string{strings.TrimPrefix(d, "/")}, out...)
	}
	return out
}

// hostEntry turns one host file into a layer entry; sockets, devices and the like are
// skipped since no benchmark needs them.
func hostEntry(p string, d fs.DirEntry) (genEntry, bool, error) {
	fi, err := d.Info()
	if err != nil {
		return genEntry{}, false, err
	}
	name := strings.TrimPrefix(p, "/")
	h := tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime().Truncate(time.Second)}
	switch {
	case fi.Mode().IsDir():
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
		return genEntry{hdr: h}, true, nil
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return genEntry{}, false, err
		}
		h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, target, 0o777
		return genEntry{hdr: h}, true, nil
	case fi.Mode().IsRegular():
		h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		return genEntry{hdr: h, body: copyFile(p, fi.Size())}, true, nil
	}
	return genEntry{}, false, nil
}

// copyFile writes exactly n bytes of a host file, read only when the layer is written.
func copyFile(p string, n int64) func(io.Writer) error {
	return func(w io.Writer) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.CopyN(w, f, n); err != nil {
			return fmt.Errorf("copying %s: %w", p, err)
		}
		return nil
	}
}

// bytesEntry is a regular file entry with its content in memory (small files only).
func bytesEntry(name string, mode int64, body []byte) genEntry {
	return genEntry{
		hdr:  tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))},
		body: func(w io.Writer) error { _, err := w.Write(body); return err },
	}
}

func dirEntry(name string) genEntry {
	return genEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

// writeTarFile writes entries as a plain tar: the uncompressed input every compressor in a
// comparison is given.
func writeTarFile(p string, entries []genEntry) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", h.Name, err)
		}
		if e.body != nil {
			if err := e.body(tw); err != nil {
				f.Close()
				return fmt.Errorf("writing %s: %w", h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cached runs make unless dir holds a "done" marker from an earlier run, so generated
// inputs are made once and reused; a half-made input is thrown away.
func cached(dir string, make func() error) error {
	done := filepath.Join(dir, "done")
	if _, err := os.Stat(done); err == nil {
		return nil
	}
	fmt.Fprintf(os.Stderr, "bench: generating %s\n", dir)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := make(); err != nil {
		return errors.Join(err, os.RemoveAll(dir))
	}
	return os.WriteFile(done, nil, 0o644)
}

func sizeRatio(a, b int64) float64 { return float64(a) / float64(b) }

func sizeMiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// sized names a cache directory so that -quick inputs never replace the full ones.
func (b *bencher) sized(name string) string {
	if b.quick {
		return name + "-quick"
	}
	return name
}

// pick chooses an input size: full for the real run, quick for checking the harness.
func (b *bencher) pick(full, quick int64) int64 {
	if b.quick {
		return quick
	}
	return full
}

// runRSS is runCmd for measurements whose peak memory matters. The rusage of a process
// this harness starts carries the harness's own peak (Go starts children with a vfork that
// shares its memory, and exec records that as the child's high-water mark), so the peak is
// read by GNU time, whose own fork is small, from its child.
func runRSS(ctx context.Context, argv ...string) (measurement, error) {
	f, err := os.CreateTemp("", "slimdev-rss-")
	if err != nil {
		return measurement{}, err
	}
	f.Close()
	defer os.Remove(f.Name())
	m, err := runCmd(ctx, append([]string{"/usr/bin/time", "-f", "%M", "-o", f.Name()}, argv...)...)
	if err != nil {
		return m, err
	}
	raw, err := os.ReadFile(f.Name())
	if err != nil {
		return m, err
	}
	fields := strings.Fields(string(raw))
	if len(fields) == 0 {
		return m, fmt.Errorf("no peak memory from /usr/bin/time for %s", argv[0])
	}
	kib, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err != nil {
		return m, fmt.Errorf("reading peak memory of %s: %w", argv[0], err)
	}
	m.maxRSS = kib << 10
	return m, nil
}
