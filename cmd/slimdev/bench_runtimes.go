package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/internal/testimage/apps"
)

// runtimeRow is one workload of the runtime table.
type runtimeRow struct {
	name                     string
	fat, static, traced, dls int64 // uncompressed layer bytes; dls 0: no distroless-style image
	staticRuns, tracedRuns   string
	dlsRuns                  string
	dlsMissing               []string // packages of distroless's base the fat image lacks
	overhead                 string   // traced run / plain run
	plainMin, tracedMin      time.Duration
	err                      error
}

// benchRuntimes slims the runtime workloads (internal/testimage/apps: the apps the
// runtime tests run) three ways and runs every result with runc as Docker would,
// comparing its exit status and output with the fat image's: slim with the static
// rules alone (--from IMG:/app --base static), slim with --trace on scratch, and a
// distroless-style image of Debian packages where one is natural. Then the tracer's
// cost: the app run under slim's tracer vs run plainly, in the same container.
func benchRuntimes(ctx context.Context, b *bencher) (string, error) {
	root, err := testimage.RepoRoot()
	if err != nil {
		return "", err
	}
	fixtures := filepath.Join(root, ".cache", "fixtures")
	dir := filepath.Join(b.work, "runtimes")
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	state := filepath.Join(dir, "buildkit")
	client, err := build.Connect(ctx, build.WithStateDir(state), build.WithDaemonBinary(mustAbs(filepath.Join("bin", "buildkitd"))))
	if err != nil {
		return "", err
	}
	addr := client.Addr()
	client.Close()
	defer build.StopDaemon(state, 30*time.Second)

	names := apps.Names()
	if b.quick {
		names = []string{"go-cgo", "shell"}
	}
	var rows []runtimeRow
	for _, name := range names {
		fmt.Fprintf(os.Stderr, "runtimes: %s\n", name)
		row := b.runtimeRow(ctx, addr, fixtures, filepath.Join(dir, name), name)
		if row.err != nil {
			fmt.Fprintf(os.Stderr, "runtimes: %s: %v\n", name, row.err)
		}
		rows = append(rows, row)
		// The fat image's tree and the results are a gigabyte per workload.
		os.RemoveAll(filepath.Join(dir, name))
	}

	var md strings.Builder
	md.WriteString("## Runtimes that still run (Python, Node, Java, Go with cgo, curl + C++, a shell script)\n\n")
	md.WriteString("The runtime tests' apps (`internal/testimage/apps`) on Debian bookworm images made from Debian packages and npm. " +
		"Sizes are uncompressed layer bytes (the image unpacked). *static rules*: `slim --from IMG:/app --base static`, nothing else named; " +
		"*--trace*: `slim --from IMG:/app --trace '<app command>' --base scratch`; *distroless-style*: the Debian packages a distroless image " +
		"of the app holds (distroless's base: base-files, netbase, tzdata, ca-certificates, libc6, libssl3; plus the runtime's packages with " +
		"their dependencies, docs and man pages left out; the generated CA bundle, passwd and alternatives links copied), where one is natural. " +
		"Every image is run with runc as Docker runs it (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` bind-mounted); *same* means the same " +
		"exit status, stdout and stderr as the fat image.\n\n")
	md.WriteString("| workload | fat | static rules | runs | --trace | runs | distroless-style | runs |\n|---|---:|---:|---|---:|---|---:|---|\n")
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(&md, "| %s | failed: %s | | | | | | |\n", r.name, oneLine(r.err.Error()))
			continue
		}
		dls, dlsRuns := "—", "—"
		if r.dls > 0 {
			dls, dlsRuns = mb(r.dls), r.dlsRuns
			if len(r.dlsMissing) > 0 {
				dls += " (without " + strings.Join(r.dlsMissing, ", ") + ": not in the fat image)"
			}
		}
		fmt.Fprintf(&md, "| %s | %s | %s (%.1f%%) | %s | %s (%.1f%%) | %s | %s | %s |\n", r.name, mb(r.fat),
			mb(r.static), pct(r.static, r.fat), r.staticRuns, mb(r.traced), pct(r.traced, r.fat), r.tracedRuns, dls, dlsRuns)
	}
	fmt.Fprintf(&md, "\n### The tracer's cost\n\nEach app run in its fat image with runc, plainly and under slim's tracer "+
		"(`slim __slim-tracer run -- <app command>`, the process `--trace` runs in BuildKit), alternately, %d times each; the ratio of the "+
		"medians, and of the fastest runs (which a busy machine disturbs least). Both include runc's own start. Goal: ≤ 2×.\n\n", b.repeats)
	md.WriteString("| workload | traced / plain (median) | traced / plain (fastest) | goal ≤ 2× |\n|---|---:|---:|---|\n")
	for _, r := range rows {
		if r.err != nil || r.overhead == "" {
			continue
		}
		minRatio := float64(r.tracedMin) / float64(r.plainMin)
		median, err := strconv.ParseFloat(r.overhead, 64)
		if err != nil {
			return "", err
		}
		// Met only when both say so.
		fmt.Fprintf(&md, "| %s | %s | %.2f | %s |\n", r.name, r.overhead, minRatio, verdict(minRatio <= 2 && median <= 2))
	}
	return md.String(), nil
}

func pct(a, b int64) float64 { return 100 * float64(a) / float64(b) }

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.ReplaceAll(s, "|", "\\|")
}

// runtimeRow measures one workload; an error is kept in the row.
func (b *bencher) runtimeRow(ctx context.Context, addr, fixtures, dir, name string) (row runtimeRow) {
	row.name = name
	app, err := apps.Make(name, fixtures, filepath.Join(dir, "src"))
	if err != nil {
		row.err = err
		return row
	}
	fatDir := filepath.Join(dir, "fat")
	img, err := app.Image(fixtures, fatDir)
	if err != nil {
		row.err = err
		return row
	}
	cf, err := img.ConfigFile()
	if err != nil {
		row.err = err
		return row
	}
	container := testimage.Container{Args: append(slices.Clone(cf.Config.Entrypoint), cf.Config.Cmd...), Env: cf.Config.Env, Cwd: cf.Config.WorkingDir}
	fatRoot, err := unpackLayout(ctx, fatDir, filepath.Join(dir, "fat-bundle"))
	if err != nil {
		row.err = err
		return row
	}
	fat, err := testimage.Runc(ctx, fatRoot, container)
	if err == nil {
		for _, w := range app.Want {
			if fat.Code != 0 || !strings.Contains(fat.Stdout, w) {
				err = fmt.Errorf("the fat image does not work (want %q): %s", w, fat)
				break
			}
		}
	}
	if err != nil {
		row.err = err
		return row
	}
	if row.fat, err = layoutLayerSize(fatDir); err != nil {
		row.err = err
		return row
	}
	cmd, err := json.Marshal(app.Cmd)
	if err != nil {
		row.err = err
		return row
	}
	slimmed := func(out string, args ...string) (int64, string, error) {
		args = append([]string{"--addr", addr, "--progress", "quiet", "--from", "oci-layout://" + fatDir + ":/app", "--compression", "uncompressed",
			"-t", "runtimes:" + out, "-o", "type=oci,dest=" + filepath.Join(dir, out)}, args...)
		if b, err := exec.CommandContext(ctx, b.slim, args...).CombinedOutput(); err != nil {
			return 0, "", fmt.Errorf("slim %s: %w\n%s", strings.Join(args, " "), err, b)
		}
		size, err := layoutLayerSize(filepath.Join(dir, out))
		if err != nil {
			return 0, "", err
		}
		root, err := unpackLayout(ctx, filepath.Join(dir, out), filepath.Join(dir, out+"-bundle"))
		if err != nil {
			return 0, "", err
		}
		runs, err := sameRun(ctx, root, container, fat)
		return size, runs, err
	}
	if row.static, row.staticRuns, err = slimmed("static", "--base", "static"); err != nil {
		row.err = err
		return row
	}
	if row.traced, row.tracedRuns, err = slimmed("traced", "--trace", string(cmd), "--base", "scratch"); err != nil {
		row.err = err
		return row
	}
	if app.Distroless != nil {
		dls := filepath.Join(dir, "distroless")
		if row.dlsMissing, err = distrolessStyle(fatRoot, dls, app); err != nil {
			row.err = fmt.Errorf("distroless-style image: %w", err)
			return row
		}
		if row.dls, err = treeTarSize(dls); err != nil {
			row.err = err
			return row
		}
		if row.dlsRuns, err = sameRun(ctx, dls, container, fat); err != nil {
			row.err = err
			return row
		}
	}
	row.overhead, row.plainMin, row.tracedMin, err = b.tracerCost(ctx, fatRoot, container)
	if err != nil {
		row.err = err
	}
	return row
}

// sameRun runs c in root and says whether it ran as fat did.
func sameRun(ctx context.Context, root string, c testimage.Container, fat testimage.Ran) (string, error) {
	got, err := testimage.Runc(ctx, root, c)
	if err != nil {
		return "", err
	}
	if got.Code == fat.Code && got.Stdout == fat.Stdout && got.Stderr == fat.Stderr {
		return "same", nil
	}
	fmt.Fprintf(os.Stderr, "runtimes: %s ran differently:\n%s\nfat:\n%s\n", root, got, fat)
	return fmt.Sprintf("**differs** (exit %d)", got.Code), nil
}

// tracerCost times c in root plainly and under slim's tracer (slim copied into root),
// alternately, b.repeats times each.
func (b *bencher) tracerCost(ctx context.Context, root string, c testimage.Container) (string, time.Duration, time.Duration, error) {
	if err := copyFileMode(b.slim, filepath.Join(root, ".slim-tracer"), 0o755); err != nil {
		return "", 0, 0, err
	}
	defer os.Remove(filepath.Join(root, ".slim-tracer"))
	traced := c
	traced.Args = append([]string{"/.slim-tracer", "__slim-tracer", "run", "--"}, c.Args...)
	run := func(c testimage.Container) func() (measurement, error) {
		return func() (measurement, error) {
			start := time.Now()
			r, err := testimage.Runc(ctx, root, c)
			if err == nil && r.Code != 0 {
				err = fmt.Errorf("%s: %s", strings.Join(c.Args, " "), r)
			}
			return measurement{wall: time.Since(start)}, err
		}
	}
	var plains, traceds []measurement
	for range b.repeats {
		p, err := run(c)()
		if err != nil {
			return "", 0, 0, err
		}
		t, err := run(traced)()
		if err != nil {
			return "", 0, 0, err
		}
		plains, traceds = append(plains, p), append(traceds, t)
	}
	fastest := func(ms []measurement) time.Duration {
		return slices.MinFunc(ms, func(a, b measurement) int { return int(a.wall - b.wall) }).wall
	}
	return ratio(medianOf(traceds).wall, medianOf(plains).wall), fastest(plains), fastest(traceds), nil
}

// unpackLayout unpacks the tagged image of an OCI layout with umoci (a third-party
// reader) and returns its root file system.
func unpackLayout(ctx context.Context, dir, bundle string) (string, error) {
	tag, err := layoutTag(dir)
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(bundle); err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, "umoci", "unpack", "--image", dir+":"+tag, bundle).CombinedOutput(); err != nil {
		return "", fmt.Errorf("umoci unpack %s: %w: %s", dir, err, out)
	}
	return filepath.Join(bundle, "rootfs"), nil
}

// distrolessBase is what distroless's base image holds, as Debian packages.
func distrolessBase() []string {
	return []string{"base-files", "netbase", "tzdata", "ca-certificates", "libc6", "libssl3"}
}

// distrolessStyle writes to dst the root file system of a distroless-style image of
// app, from the fat image's unpacked root: the files of distroless's base packages and
// of the app's (Debian's lists under /var/lib/dpkg/info) with their dependencies, less
// documentation; what package scripts generate and distroless ships (the CA bundle,
// passwd and group, alternatives links into what is kept, merged-/usr links); the app.
// It returns the packages named that the fat image does not have.
func distrolessStyle(fatRoot, dst string, app apps.App) (missing []string, err error) {
	status, err := os.Open(filepath.Join(fatRoot, "var/lib/dpkg/status"))
	if err != nil {
		return nil, err
	}
	defer status.Close()
	pkgs, missing, err := dependencyClosure(status, append(distrolessBase(), app.Distroless...))
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, p := range pkgs {
		list, err := os.ReadFile(filepath.Join(fatRoot, "var/lib/dpkg/info", p+".list"))
		if os.IsNotExist(err) {
			list, err = os.ReadFile(filepath.Join(fatRoot, "var/lib/dpkg/info", p+":amd64.list"))
		}
		if err != nil {
			return nil, fmt.Errorf("files of %s: %w", p, err)
		}
		for _, l := range strings.Split(string(list), "\n") {
			if l != "" && l != "/." && !isDoc(l) {
				paths = append(paths, l)
			}
		}
	}
	// The merged-/usr links first: Debian's lists name /lib/... and /usr/lib/... alike.
	tops, err := os.ReadDir(fatRoot)
	if err != nil {
		return nil, err
	}
	for _, e := range tops {
		if e.Type()&fs.ModeSymlink != 0 {
			paths = append(paths, "/"+e.Name())
		}
	}
	for _, dir := range []string{"/etc/ssl/certs", "/app"} {
		err := filepath.WalkDir(filepath.Join(fatRoot, dir), func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			paths = append(paths, strings.TrimPrefix(p, fatRoot))
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	paths = append(paths, "/etc/passwd", "/etc/group")
	slices.SortFunc(paths, func(a, b string) int { return strings.Count(a, "/") - strings.Count(b, "/") })
	for _, p := range paths {
		if err := copyInto(fatRoot, dst, usrMerged(fatRoot, p)); err != nil {
			return nil, err
		}
	}
	// Alternatives links whose target was kept, and the links to them (java in /usr/bin).
	for _, dir := range []string{"/etc/alternatives", "/usr/bin", "/usr/sbin"} {
		entries, err := os.ReadDir(filepath.Join(fatRoot, dir))
		if err != nil {
			continue
		}
		for _, pass := range []bool{true, false} {
			for _, e := range entries {
				p := filepath.Join(dir, e.Name())
				target, err := os.Readlink(filepath.Join(fatRoot, p))
				if err != nil || (pass != strings.HasPrefix(target, "/usr/lib")) {
					continue
				}
				if !filepath.IsAbs(target) {
					target = filepath.Join(dir, target)
				}
				if _, err := os.Stat(filepath.Join(dst, target)); err == nil {
					if err := copyInto(fatRoot, dst, p); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	return missing, nil
}

// isDoc is what distroless leaves out of packages: documentation but copyright files.
func isDoc(p string) bool {
	for _, d := range []string{"/usr/share/man/", "/usr/share/info/", "/usr/share/lintian/", "/usr/share/doc/"} {
		if strings.HasPrefix(p, d) {
			return d != "/usr/share/doc/" || !strings.HasSuffix(p, "/copyright")
		}
	}
	return false
}

// usrMerged maps a path under a merged-/usr link (/lib -> usr/lib) to its real place.
func usrMerged(root, p string) string {
	first, rest, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if !ok {
		return p
	}
	if target, err := os.Readlink(filepath.Join(root, first)); err == nil && target == "usr/"+first {
		return "/usr/" + first + "/" + rest
	}
	return p
}

// copyInto copies the entry p (directory, symlink or file) from one root to another,
// with its parents as directories.
func copyInto(from, to, p string) error {
	src, dst := filepath.Join(from, p), filepath.Join(to, p)
	fi, err := os.Lstat(src)
	if os.IsNotExist(err) {
		return nil // conffiles removed, diversions
	}
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dst); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		return os.Mkdir(dst, fi.Mode().Perm())
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	case fi.Mode().IsRegular():
		return copyFileMode(src, dst, fi.Mode().Perm())
	}
	return nil
}

func copyFileMode(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// dependencyClosure reads a dpkg status file and returns the installed packages
// reached from roots through Depends and Pre-Depends (an alternative: the first one
// installed or provided), sorted, and the roots that are not installed.
func dependencyClosure(status io.Reader, roots []string) (pkgs, missing []string, err error) {
	type pkg struct{ deps [][]string }
	installed := map[string]*pkg{}
	provides := map[string]string{}
	sc := bufio.NewScanner(status)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var fields map[string]string
	end := func() {
		name := fields["Package"]
		if name != "" && strings.HasSuffix(fields["Status"], " installed") {
			p := &pkg{}
			for _, f := range []string{"Pre-Depends", "Depends"} {
				for _, group := range splitList(fields[f]) {
					p.deps = append(p.deps, strings.Split(group, "|"))
				}
			}
			installed[name] = p
			for _, pr := range splitList(fields["Provides"]) {
				provides[bareName(pr)] = name
			}
		}
		fields = nil
	}
	var last string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			end()
		case strings.HasPrefix(line, " "):
			if fields != nil {
				fields[last] += "\n" + line
			}
		default:
			k, v, _ := strings.Cut(line, ":")
			if fields == nil {
				fields = map[string]string{}
			}
			last, fields[k] = k, strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	end()
	resolve := func(alt string) string {
		n := bareName(alt)
		if _, ok := installed[n]; ok {
			return n
		}
		return provides[n]
	}
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, alts := range installed[n].deps {
			for _, a := range alts {
				if r := resolve(a); r != "" {
					walk(r)
					break
				}
			}
		}
	}
	for _, r := range roots {
		if _, ok := installed[r]; !ok {
			missing = append(missing, r)
			continue
		}
		walk(r)
	}
	for n := range seen {
		pkgs = append(pkgs, n)
	}
	slices.Sort(pkgs)
	return pkgs, missing, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// bareName is a package relation's name without version or architecture.
func bareName(rel string) string {
	rel = strings.TrimSpace(rel)
	if i := strings.IndexAny(rel, " ("); i >= 0 {
		rel = rel[:i]
	}
	rel, _, _ = strings.Cut(rel, ":")
	return rel
}

// treeTarSize is the size of a tar of the tree at root: the uncompressed layer an
// image of it would have.
func treeTarSize(root string) (int64, error) {
	var n countWriter
	if err := testimage.RootfsTar(root, &n); err != nil {
		return 0, err
	}
	return int64(n), nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
