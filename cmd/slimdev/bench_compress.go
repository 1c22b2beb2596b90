package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// compressor is one way of compressing a tar file into another file, timed.
type compressor struct {
	name   string
	family string // "gzip" or "zstd"; xz is compared with zstd, the other strong format
	slim   bool
	once   bool // a slow floor with no goal: measured once, not b.repeats times
	run    func(ctx context.Context, in, out string) (measurement, error)
}

// compressed is one compressor's result on one input.
type compressed struct {
	compressor
	size int64
	m    measurement
}

// slimCompressor runs slim's own layer compressor (tarball.NewCompressWriter, the code
// every slim layer goes through) in this process on the same tar the peers get, so the
// comparison is compressor against compressor on identical bytes.
func slimCompressor(c tarball.Compression) compressor {
	return compressor{name: fmt.Sprintf("slim %s best", c), family: string(c), slim: true,
		run: func(ctx context.Context, in, out string) (measurement, error) {
			start := time.Now()
			err := compressFile(in, out, tarball.WithCompression(c), tarball.WithLevel(tarball.LevelBest))
			return measurement{wall: time.Since(start)}, err
		}}
}

func compressFile(in, out string, opts ...tarball.Option) (err error) {
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, dst.Close()) }()
	bw := bufio.NewWriterSize(dst, 1<<20)
	zw, err := tarball.NewCompressWriter(bw, opts...)
	if err != nil {
		return fmt.Errorf("starting slim's compressor: %w", err)
	}
	if _, err := io.Copy(zw, bufio.NewReaderSize(src, 1<<20)); err != nil {
		return fmt.Errorf("compressing %s: %w", in, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compressing %s: %w", in, err)
	}
	return bw.Flush()
}

// cliCompressor is a command-line compressor reading the tar and writing to stdout.
func cliCompressor(name, family, script string) compressor {
	return compressor{name: name, family: family, run: func(ctx context.Context, in, out string) (measurement, error) {
		return shellTo(ctx, out, script, in)
	}}
}

// compressors lists slim and its peers; withFloors adds the slow strong settings (zstd
// --long, xz) that show how far from the format's limits slim's best is.
func compressors(withFloors bool) []compressor {
	cs := []compressor{
		slimCompressor(tarball.Gzip),
		cliCompressor("gzip -9", "gzip", `exec gzip -9 -n -c "$1"`),
		cliCompressor("pigz -9 -p 2", "gzip", `exec pigz -9 -n -p 2 -c "$1"`),
		slimCompressor(tarball.Zstd),
		cliCompressor("zstd -19 -T2", "zstd", `exec zstd -q -19 -T2 -c "$1"`),
	}
	if withFloors {
		long := cliCompressor("zstd -19 --long=27 -T2 (1 run)", "zstd", `exec zstd -q -19 --long=27 -T2 -c "$1"`)
		xz := cliCompressor("xz -9 -T2 (1 run)", "zstd", `exec xz -q -9 -T2 -c "$1"`)
		long.once, xz.once = true, true
		cs = append(cs, long, xz)
	}
	return cs
}

// compressAll runs every compressor on the same tar, b.repeats rounds of each in turn
// (not all runs of one tool, then the next), so that load from other users of the shared
// machine falls on every tool alike; each gets the median of its runs.
func (b *bencher) compressAll(ctx context.Context, in string, cs []compressor) ([]compressed, error) {
	walls := make([][]time.Duration, len(cs))
	res := make([]compressed, len(cs))
	for round := range b.repeats {
		for i, c := range cs {
			if c.once && round > 0 {
				continue
			}
			fmt.Fprintf(os.Stderr, "bench:   %s (run %d)\n", c.name, round+1)
			out := filepath.Join(filepath.Dir(in), "out."+strings.NewReplacer(" ", "_", "=", "", "(", "", ")", "").Replace(c.name))
			m, err := c.run(ctx, in, out)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			size, err := fileSize(out)
			if err != nil {
				return nil, err
			}
			if err := os.Remove(out); err != nil {
				return nil, err
			}
			walls[i] = append(walls[i], m.wall)
			res[i] = compressed{compressor: c, size: size}
		}
	}
	for i := range res {
		slices.Sort(walls[i])
		res[i].m.wall = walls[i][len(walls[i])/2]
	}
	return res, nil
}

func find(res []compressed, name string) compressed {
	for _, r := range res {
		if r.name == name {
			return r
		}
	}
	return compressed{}
}

// compressTable prints sizes, and sizes and times as ratios to slim's compressor of the
// same family (gzip to slim gzip, zstd and xz to slim zstd).
func compressTable(in int64, res []compressed) string {
	var md strings.Builder
	md.WriteString("| compressor | size | size / input | size / slim | wall / slim |\n|---|---|---|---|---|\n")
	for _, r := range res {
		s := find(res, "slim "+r.family+" best")
		fmt.Fprintf(&md, "| %s | %s | %.3f | %.3f | %s |\n", r.name, sizeMiB(r.size), sizeRatio(r.size, in),
			sizeRatio(r.size, s.size), ratio(r.m.wall, s.m.wall))
	}
	return md.String()
}

// compressGoals checks the compressor goals (issues 4 and 16) and says, for each, met or not.
func compressGoals(res []compressed) string {
	sg, sz := find(res, "slim gzip best"), find(res, "slim zstd best")
	g9, pigz, z19 := find(res, "gzip -9"), find(res, "pigz -9 -p 2"), find(res, "zstd -19 -T2")
	var md strings.Builder
	gs, gw := sizeRatio(sg.size, g9.size), float64(sg.m.wall)/float64(pigz.m.wall)
	zs, zw := sizeRatio(sz.size, z19.size), float64(z19.m.wall)/float64(sz.m.wall)
	fmt.Fprintf(&md, "- slim gzip best size / `gzip -9` = %.4f (goal ≤ 1.00: %s)\n", gs, verdict(gs <= 1.0))
	fmt.Fprintf(&md, "- slim gzip best wall / `pigz -9 -p 2` = %.2f (goal ≤ 1.1: %s)\n", gw, verdict(gw <= 1.1))
	fmt.Fprintf(&md, "- slim zstd best size / `zstd -19` = %.4f (goal ≤ 1.00: %s)\n", zs, verdict(zs <= 1.0))
	fmt.Fprintf(&md, "- `zstd -19` wall / slim zstd best = %.2f, i.e. slim is %.2f× faster (goal ≥ 3×: %s)\n", zw, zw, verdict(zw >= 3))
	for _, floor := range []string{"zstd -19 --long=27 -T2 (1 run)", "xz -9 -T2 (1 run)"} {
		if f := find(res, floor); f.size > 0 {
			fmt.Fprintf(&md, "- slim zstd best size / `%s` = %.4f (a floor, no goal)\n", floor, sizeRatio(sz.size, f.size))
		}
	}
	return md.String()
}

// benchCompressDebian compares compressors on the merged file system of the Debian-like
// image: one tar without waste, so every tool compresses exactly the same bytes.
func benchCompressDebian(ctx context.Context, b *bencher) (string, error) {
	img, err := b.debianImage()
	if err != nil {
		return "", err
	}
	in, err := fileSize(img.flat)
	if err != nil {
		return "", err
	}
	res, err := b.compressAll(ctx, img.flat, compressors(true))
	if err != nil {
		return "", err
	}
	var md strings.Builder
	md.WriteString("## Compressing a Debian-like file system (slim's compressor vs gzip, pigz, zstd, xz)\n\n")
	fmt.Fprintf(&md, "Input: one uncompressed tar (%s, %d entries) of the merged file system of the Debian-like image made from "+
		"this machine's /usr (see the recompress workload), i.e. after its waste is removed, so that every tool, slim included, "+
		"gets exactly the same bytes. slim's row is its layer compressor (`tarball.NewCompressWriter` at level `best`, the code "+
		"every layer slim writes goes through) run on that tar; the peers read the same tar from the page cache and write to a file.\n\n",
		sizeMiB(in), img.flatEntries)
	md.WriteString(compressTable(in, res))
	md.WriteString("\n" + compressGoals(res))
	e2e, err := b.recompressFlat(ctx, img, res)
	if err != nil {
		return "", err
	}
	md.WriteString(e2e)
	return md.String(), nil
}

// benchManySmallFiles compares compressors on a node_modules-like tree: tens of thousands
// of small JS and JSON files, where per-file overhead and cross-file matching matter.
func benchManySmallFiles(ctx context.Context, b *bencher) (string, error) {
	dir := filepath.Join(b.work, b.sized("many-small-files"))
	pkgs := int(b.pick(400, 40))
	tarPath := filepath.Join(dir, "node_modules.tar")
	// The tree is generated lazily (bodies are written on demand), so listing it again to
	// count it costs nothing.
	entries := nodeModules(pkgs)
	if err := cached(dir, func() error { return writeTarFile(tarPath, entries) }); err != nil {
		return "", fmt.Errorf("making the node_modules tree: %w", err)
	}
	files := len(entries)
	in, err := fileSize(tarPath)
	if err != nil {
		return "", err
	}
	// zstd's own levels around slim's best, once each: where klauspost's best encoder
	// (a lazy matcher) sits, and what zstd's optimal parsers (btopt from 16, btultra from
	// 17, btultra2 at 19) buy on text, which is the gap the size goal leaves.
	cs := compressors(false)
	for _, l := range []string{"12", "16", "17"} {
		c := cliCompressor("zstd -"+l+" -T2 (1 run)", "zstd", `exec zstd -q -`+l+` -T2 -c "$1"`)
		c.once = true
		cs = append(cs, c)
	}
	res, err := b.compressAll(ctx, tarPath, cs)
	if err != nil {
		return "", err
	}
	var md strings.Builder
	md.WriteString("## Many small files (a node_modules-like tree)\n\n")
	fmt.Fprintf(&md, "Input: one tar (%s) of %d entries in %d generated packages: package.json, README.md and "+
		"small CommonJS modules of generated text. Same method as above: every tool compresses the same tar. "+
		"Issue 16 set the same goals here as on the Debian-like tree.\n\n", sizeMiB(in), files, pkgs)
	md.WriteString(compressTable(in, res))
	md.WriteString("\n" + compressGoals(res))
	md.WriteString("\n" + zstdLadder(res))
	return md.String(), nil
}

// benchCompressRootfs compares compressors on a real Debian root file system: the
// uncompressed layer of the runtime tests' fixture (bookworm minbase with python3,
// nodejs and a JRE, made by debootstrap and cached under .cache/fixtures), so that the
// goals are checked on what users ship, next to the generated trees.
func benchCompressRootfs(ctx context.Context, b *bencher) (string, error) {
	root, err := testimage.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := testimage.MakeDebianLayout(filepath.Join(root, ".cache", "fixtures"), testimage.LanguageRuntimes())
	if err != nil {
		return "", fmt.Errorf("making the Debian root file system: %w", err)
	}
	tarPath, err := layoutOnlyLayer(dir)
	if err != nil {
		return "", err
	}
	in, err := fileSize(tarPath)
	if err != nil {
		return "", err
	}
	cs := compressors(false)
	for i := range cs {
		// zstd -19 takes about 7 minutes of two cores on it, gzip -9 one: once each
		// keeps make bench within its budget; their sizes do not vary between runs.
		if cs[i].name == "zstd -19 -T2" || cs[i].name == "gzip -9" {
			cs[i].once = true
		}
	}
	res, err := b.compressAll(ctx, tarPath, cs)
	if err != nil {
		return "", err
	}
	var md strings.Builder
	md.WriteString("## Compressing a real Debian root file system\n\n")
	fmt.Fprintf(&md, "Input: the uncompressed layer (%s) of a debootstrap bookworm minbase with python3, nodejs and "+
		"openjdk-17-jre-headless installed (the runtime tests' fixture, `testimage.LanguageRuntimes`). Same method as above; "+
		"`gzip -9` and `zstd -19 -T2` run once (their wall is the one run), the others %d times.\n\n", sizeMiB(in), b.repeats)
	md.WriteString(compressTable(in, res))
	md.WriteString("\n" + compressGoals(res))
	return md.String(), nil
}

// layoutOnlyLayer returns the blob path of the one layer of the one image in an OCI layout.
func layoutOnlyLayer(dir string) (string, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return "", err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return "", err
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		return "", fmt.Errorf("layout %s: want one image (%v)", dir, err)
	}
	img, err := p.Image(im.Manifests[0].Digest)
	if err != nil {
		return "", err
	}
	m, err := img.Manifest()
	if err != nil || len(m.Layers) != 1 {
		return "", fmt.Errorf("layout %s: want one layer (%v)", dir, err)
	}
	return filepath.Join(dir, "blobs", m.Layers[0].Digest.Algorithm, m.Layers[0].Digest.Hex), nil
}

// recompressFlat measures the same comparison end to end: `slim recompress` of a one-layer
// image whose layer is the flat tar (gzip -1), so slim also pays for reading, checking and
// re-sorting the layer; its layer is compared with the peers' output on the flat tar.
func (b *bencher) recompressFlat(ctx context.Context, img debianImage, res []compressed) (string, error) {
	if !b.hasCommand(ctx, "recompress") {
		return "\n`slim recompress` is not in this build of slim, so the end-to-end rows (recompress of a one-layer image of this tar) are **not measured**.\n", nil
	}
	dir := filepath.Join(filepath.Dir(img.flat), "flat-image")
	err := cached(dir, func() error {
		layer := filepath.Join(dir, "layer.tar.gz")
		if _, err := shellTo(ctx, layer, `exec pigz -1 -n -c "$1"`, img.flat); err != nil {
			return err
		}
		return writeOCILayout(filepath.Join(dir, "image"), []string{layer}, []string{"COPY / /"}, demoConfig())
	})
	if err != nil {
		return "", fmt.Errorf("making the one-layer image: %w", err)
	}
	var md strings.Builder
	md.WriteString("\nEnd to end: `slim recompress` of a one-layer image whose layer is this tar (gzip -1), against the peers above on the tar itself:\n\n")
	md.WriteString("| slim recompress | layer size | size / peer | wall / peer | peak memory |\n|---|---|---|---|---|\n")
	for _, t := range []struct{ c, sizePeer, wallPeer string }{{"gzip", "gzip -9", "pigz -9 -p 2"}, {"zstd", "zstd -19 -T2", "zstd -19 -T2"}} {
		out := filepath.Join(dir, "out-"+t.c)
		m, err := b.median(func() (measurement, error) {
			if err := os.RemoveAll(out); err != nil {
				return measurement{}, err
			}
			return runRSS(ctx, b.slim, "recompress", "oci-layout://"+filepath.Join(dir, "image")+":latest", "-t", "bench:latest",
				"-o", "type=oci,dest="+out, "--compression", t.c, "--compression-level", "best")
		})
		if err != nil {
			return "", err
		}
		size, err := layoutLayerSize(out)
		if err != nil {
			return "", err
		}
		sp, wp := find(res, t.sizePeer), find(res, t.wallPeer)
		fmt.Fprintf(&md, "| `--compression %s --compression-level best` | %s | %.4f (`%s`) | %s (`%s`) | %s |\n", t.c,
			sizeMiB(size), sizeRatio(size, sp.size), t.sizePeer, ratio(m.wall, wp.m.wall), t.wallPeer, mib(m.maxRSS))
	}
	return md.String(), nil
}

// zstdLadder says where slim's zstd best falls among zstd's own levels in res: the
// nearest level at least as small, and the size each level is of slim's.
func zstdLadder(res []compressed) string {
	var slim int64
	type level struct {
		name string
		size int64
	}
	var levels []level
	for _, r := range res {
		switch {
		case r.name == "slim zstd best":
			slim = r.size
		case strings.HasPrefix(r.name, "zstd -") && !strings.Contains(r.name, "--long"):
			levels = append(levels, level{strings.Fields(r.name)[1], r.size})
		}
	}
	if slim == 0 || len(levels) == 0 {
		return ""
	}
	// By level: -12 before -19.
	slices.SortFunc(levels, func(a, b level) int {
		an, _ := strconv.Atoi(strings.TrimPrefix(a.name, "-"))
		bn, _ := strconv.Atoi(strings.TrimPrefix(b.name, "-"))
		return an - bn
	})
	var parts []string
	var nearest *level // the largest output no larger than slim's
	for i, l := range levels {
		parts = append(parts, fmt.Sprintf("zstd %s %.3f", l.name, float64(l.size)/float64(slim)))
		if l.size <= slim && (nearest == nil || l.size > nearest.size) {
			nearest = &levels[i]
		}
	}
	where := "smaller than every level measured"
	if nearest != nil {
		where = fmt.Sprintf("%.1f%% larger than zstd %s's output, the nearest level measured at or below its size",
			100*(float64(slim)/float64(nearest.size)-1), nearest.name)
	}
	return fmt.Sprintf("zstd's own levels, size / slim zstd best: %s. slim's zstd best (klauspost/compress's best, a lazy matcher "+
		"with a long window) is %s; zstd's levels from 16 parse optimally (btopt, btultra, btultra2 at 19), which is the gap "+
		"the size goal leaves on text, and which klauspost/compress has no encoder for.\n", strings.Join(parts, ", "), where)
}
