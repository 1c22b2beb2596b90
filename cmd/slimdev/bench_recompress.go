package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// repack is one tool rewriting the waste image; run returns where the result can be read
// (an oci-layout:// reference or a registry reference) for sizing and waste checks.
type repack struct {
	name string
	vs   string // the slim row doing the same change, that ratios are taken to
	slim bool
	run  func(ctx context.Context) (measurement, string, error)
}

type repacked struct {
	repack
	m      measurement
	size   int64
	wasted int64
	layers int
}

// benchRecompressWaste rewrites the Debian-like image with its deliberate waste: slim
// recompress against crane (flatten, and export+append), regctl and skopeo, each doing the
// nearest change it can. It also reports slim's peak memory.
func benchRecompressWaste(ctx context.Context, b *bencher) (string, error) {
	img, err := b.debianImage()
	if err != nil {
		return "", err
	}
	reg, stop, err := b.startRegistry(ctx)
	if err != nil {
		return "", err
	}
	defer stop()
	crane, err := b.peerBin(ctx, "crane")
	if err != nil {
		return "", err
	}
	if _, err := runCmd(ctx, crane, "push", img.layout, reg+"/waste:latest"); err != nil {
		return "", fmt.Errorf("pushing the waste image to the local registry: %w", err)
	}
	in, err := b.inspect(ctx, "oci-layout://"+img.layout+":latest")
	if err != nil {
		return "", err
	}
	tools, err := b.repackers(ctx, img.layout, reg)
	if err != nil {
		return "", err
	}
	var res []repacked
	for _, t := range tools {
		fmt.Fprintf(os.Stderr, "bench:   %s\n", t.name)
		r, err := b.measureRepack(ctx, t)
		if err != nil {
			return "", fmt.Errorf("%s: %w", t.name, err)
		}
		res = append(res, r)
	}
	return recompressReport(in, res, b.hasCommand(ctx, "recompress")), nil
}

func (b *bencher) measureRepack(ctx context.Context, t repack) (repacked, error) {
	var ref string
	m, err := b.median(func() (measurement, error) {
		m, r, err := t.run(ctx)
		ref = r
		return m, err
	})
	if err != nil {
		return repacked{}, err
	}
	out, err := b.inspect(ctx, ref)
	if err != nil {
		return repacked{}, err
	}
	return repacked{repack: t, m: m, size: out.size, wasted: out.wasted, layers: out.layers}, nil
}

// repackers lists the tools; slim recompress only when this build of slim has it.
func (b *bencher) repackers(ctx context.Context, layoutDir, reg string) ([]repack, error) {
	crane, err := b.peerBin(ctx, "crane")
	if err != nil {
		return nil, err
	}
	regctl, err := b.peerBin(ctx, "regctl")
	if err != nil {
		return nil, err
	}
	work := filepath.Dir(layoutDir)
	src := reg + "/waste:latest"
	var ts []repack
	if b.hasCommand(ctx, "recompress") {
		// The last two match the peers' own levels (crane append: gzip 1; regctl and skopeo:
		// zstd 3), so that speed is compared at equal work.
		for _, args := range [][]string{{"--compression", "gzip"}, {"--compression", "zstd"}, {"--squash", "--compression", "gzip"},
			{"--squash", "--compression", "gzip", "--compression-level", "1"}, {"--compression", "zstd", "--compression-level", "3"}} {
			out := filepath.Join(work, "recompressed-"+strings.Join(args, ""))
			ts = append(ts, repack{name: "slim recompress " + strings.Join(args, " "), slim: true,
				run: func(ctx context.Context) (measurement, string, error) {
					if err := os.RemoveAll(out); err != nil {
						return measurement{}, "", err
					}
					argv := append([]string{b.slim, "recompress", "oci-layout://" + layoutDir + ":latest", "-t", "bench:latest",
						"-o", "type=oci,dest=" + out, "--compression-level", "best"}, args...)
					m, err := runRSS(ctx, argv...)
					return m, "oci-layout://" + out + ":latest", err
				}})
		}
	}
	const (
		squash  = "slim recompress --squash --compression gzip"
		squash1 = squash + " --compression-level 1"
		zstd3   = "slim recompress --compression zstd --compression-level 3"
	)
	ts = append(ts,
		repack{name: "crane flatten", vs: squash, run: func(ctx context.Context) (measurement, string, error) {
			dst := reg + "/waste:flat"
			m, err := runRSS(ctx, crane, "flatten", src, "-t", dst)
			return m, dst, err
		}},
		repack{name: "crane export + append", vs: squash1, run: func(ctx context.Context) (measurement, string, error) {
			dst, tarPath := reg+"/waste:appended", filepath.Join(work, "crane-export.tar")
			defer os.Remove(tarPath)
			m, err := runRSS(ctx, "sh", "-c", `"$0" export "$1" "$2" && exec "$0" append --oci-empty-base -f "$2" -t "$3"`, crane, src, tarPath, dst)
			return m, dst, err
		}},
		repack{name: "regctl image mod --layer-compress zstd", vs: zstd3, run: func(ctx context.Context) (measurement, string, error) {
			dir := filepath.Join(work, "regctl")
			if err := copyTree(ctx, layoutDir, dir); err != nil {
				return measurement{}, "", err
			}
			m, err := runRSS(ctx, regctl, "image", "mod", "ocidir://"+dir+":latest", "--create", "zstd", "--layer-compress", "zstd")
			return m, "oci-layout://" + dir + ":zstd", err
		}},
		repack{name: "skopeo copy --dest-compress-format zstd", vs: zstd3, run: func(ctx context.Context) (measurement, string, error) {
			dir := filepath.Join(work, "skopeo")
			if err := os.RemoveAll(dir); err != nil {
				return measurement{}, "", err
			}
			m, err := runRSS(ctx, "skopeo", "copy", "-q", "--dest-compress-format", "zstd", "oci:"+layoutDir+":latest", "oci:"+dir+":latest")
			return m, "oci-layout://" + dir + ":latest", err
		}},
	)
	return ts, nil
}

func copyTree(ctx context.Context, from, to string) error {
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "cp", "-a", from, to).CombinedOutput(); err != nil {
		return fmt.Errorf("copying %s: %w: %s", from, err, out)
	}
	return nil
}

// inspected is what slim inspect says of an image: layer bytes and bytes wasted.
type inspected struct {
	size, wasted int64
	largest      int64 // the largest layer, uncompressed
	layers       int
}

func (b *bencher) inspect(ctx context.Context, ref string) (inspected, error) {
	out, err := exec.CommandContext(ctx, b.slim, "inspect", "--insecure", "--json", ref).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return inspected{}, fmt.Errorf("slim inspect %s: %w", ref, err)
	}
	var r struct {
		Layers []struct {
			Uncompressed int64 `json:"uncompressedSize"`
		} `json:"layers"`
		Totals struct {
			Size   int64 `json:"size"`
			Wasted int64 `json:"wasted"`
		} `json:"totals"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return inspected{}, fmt.Errorf("reading slim inspect's JSON for %s: %w", ref, err)
	}
	in := inspected{size: r.Totals.Size, wasted: r.Totals.Wasted, layers: len(r.Layers)}
	for _, l := range r.Layers {
		in.largest = max(in.largest, l.Uncompressed)
	}
	return in, nil
}

// startRegistry runs crane's in-memory registry on a free loopback port for the peers that
// only work against a registry; stop ends it.
func (b *bencher) startRegistry(ctx context.Context) (string, func(), error) {
	crane, err := b.peerBin(ctx, "crane")
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, crane, "registry", "serve", "--address", addr)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting crane registry serve: %w", err)
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("crane registry did not start on %s", addr)
}

// recompressReport prints one row per tool with sizes and times as ratios to slim
// recompress of the same compression, and slim's peak memory against its goal.
func recompressReport(in inspected, res []repacked, haveSlim bool) string {
	var md strings.Builder
	md.WriteString("## Removing waste and recompressing an image (`slim recompress` vs crane, regctl, skopeo)\n\n")
	fmt.Fprintf(&md, "Input: the Debian-like image, %d gzip layers, %s of layers, compressed, holding %s (uncompressed) of file bytes that `slim inspect` calls wasted "+
		"(a later layer deletes /usr/share/doc and a third of /usr/share's other directories, and rewrites the largest libraries). "+
		"Each tool does the nearest change it can: slim recompress drops the waste and repacks every layer (or, with --squash, writes one); crane flatten squashes "+
		"into one gzip layer (registry to registry, on crane's own registry at 127.0.0.1); crane export + append writes the merged tar and "+
		"pushes it as a new one-layer image; regctl and skopeo only recompress (zstd), the waste stays. "+
		"Wasted bytes left are from `slim inspect` of each result.\n\n", in.layers, sizeMiB(in.size), sizeMiB(in.wasted))
	md.WriteString("| tool | layers | size | wasted left | compared with | size / slim | wall / slim | peak memory |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range res {
		vs, sizeVs, wallVs := "—", "—", "—"
		if s, ok := slimRow(res, r.vs); ok {
			vs, sizeVs, wallVs = "`"+s.name+"`", fmt.Sprintf("%.3f", sizeRatio(r.size, s.size)), ratio(r.m.wall, s.m.wall)
		} else if r.vs != "" {
			vs, sizeVs, wallVs = "`"+r.vs+"` (not measured)", "n/a", "n/a"
		}
		fmt.Fprintf(&md, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", r.name, r.layers, sizeMiB(r.size), sizeMiB(r.wasted), vs, sizeVs, wallVs, mib(r.m.maxRSS))
	}
	md.WriteString("\nEach peer is compared with the slim run doing the same change at the same level: crane flatten (gzip 9) with " +
		"`--squash` at best, crane append (ggcr's default, gzip 1) with `--squash --compression-level 1`, regctl and skopeo (zstd's default, 3) " +
		"with `--compression zstd --compression-level 3`; slim's `best` rows show the sizes it writes by default. " +
		"slim's rows all use `--compression-level best` unless they say otherwise. Peak memory is each tool's resident peak (GNU time).\n\n")
	if !haveSlim {
		md.WriteString("**slim recompress is not in this build of slim**: its rows, the speed goal (faster than crane and regctl) and " +
			"the memory goal (peak ≤ 256 MiB) are **not measured** here.\n")
		return md.String()
	}
	md.WriteString(recompressGoals(in, res))
	return md.String()
}

func slimRow(res []repacked, name string) (repacked, bool) {
	for _, r := range res {
		if r.slim && r.name == name {
			return r, true
		}
	}
	return repacked{}, false
}

func recompressGoals(in inspected, res []repacked) string {
	var md strings.Builder
	var peak int64
	for _, r := range res {
		if r.slim {
			peak = max(peak, r.m.maxRSS)
		}
	}
	for _, r := range res {
		s, ok := slimRow(res, r.vs)
		if !ok || !strings.HasPrefix(r.name, "crane") && !strings.HasPrefix(r.name, "regctl") {
			continue
		}
		fmt.Fprintf(&md, "- `%s` faster than %s: %s × its wall time (goal < 1: %s)\n", s.name, r.name,
			ratio(s.m.wall, r.m.wall), verdict(s.m.wall < r.m.wall))
	}
	fmt.Fprintf(&md, "- slim recompress peak memory %s (goal ≤ 256 MiB: %s) with a largest layer of %s uncompressed; "+
		"that it stays flat as layers grow is shown by the index workload's two sizes, not here\n",
		mib(peak), verdict(peak <= 256<<20), sizeMiB(in.largest))
	for _, r := range res {
		if r.slim {
			fmt.Fprintf(&md, "- `%s` left %s of the input's %s wasted (%.2f%% removed)\n", r.name, sizeMiB(r.wasted), sizeMiB(in.wasted),
				100*(1-sizeRatio(r.wasted, in.wasted)))
		}
	}
	return md.String()
}
