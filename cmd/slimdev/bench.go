package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// workload is one section of BENCHMARKS.md: it prepares its inputs, measures slim and its
// peers side by side, and returns markdown.
type workload struct {
	name string
	run  func(ctx context.Context, b *bencher) (string, error)
}

type bencher struct {
	work    string // cache of generated inputs, reused across runs
	slim    string // the slim binary under test
	repeats int
	quick   bool
}

func bench(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	out := fl.String("o", "BENCHMARKS.md", "where to write the results")
	repeats := fl.Int("repeats", 3, "runs of each measurement; the median is reported")
	quick := fl.Bool("quick", false, "smaller inputs, for checking the harness itself")
	only := fl.String("only", "", "run only the workloads whose name contains one of these (comma-separated), e.g. memory,rootfs")
	if err := fl.Parse(args); err != nil {
		return err
	}
	b := &bencher{work: mustAbs(filepath.Join(".cache", "bench")), slim: mustAbs(filepath.Join("bin", "slim")), repeats: *repeats, quick: *quick}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return err
	}
	// With -only, the sections of the workloads not run are kept from the file as it is,
	// each with the date and runs its own marker records, so a subset run refreshes its
	// rows without dropping the others.
	kept := map[string]string{}
	if *only != "" {
		if old, err := os.ReadFile(*out); err == nil {
			kept = sections(string(old))
		}
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Benchmarks\n\nWritten by `make bench` (cmd/slimdev). Each section is one run of its workload, "+
		"on the date and machine its first line names; every figure is the median of that run's repeats, and times are "+
		"given as ratios, since absolute times are noise on a shared machine.\n")
	// A failing workload is reported in its section and the others still run: one
	// broken peer must not throw away half an hour of measurements.
	var failed []string
	for _, w := range workloads() {
		if *only != "" && !slices.ContainsFunc(strings.Split(*only, ","), func(s string) bool { return strings.Contains(w.name, s) }) {
			if s, ok := kept[w.name]; ok {
				md.WriteString(s)
			}
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s\n", w.name)
		s, err := w.run(ctx, b)
		if err != nil {
			failed = append(failed, w.name)
			s = fmt.Sprintf("## %s\n\n**Failed**: %v\n", w.name, err)
		}
		fmt.Fprintf(&md, "\n%s%s %s: %d cores, %s, %s, median of %d runs -->\n%s", sectionMarker, w.name,
			time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH, b.repeats, s)
	}
	if err := os.WriteFile(*out, []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(md.String())
	if len(failed) > 0 {
		return fmt.Errorf("workloads failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// sectionMarker opens each workload's section: the workload's name, then when and where
// it ran, in an HTML comment that markdown viewers do not show.
const sectionMarker = "<!-- workload: "

// sections splits a BENCHMARKS.md into its workloads' sections (marker line included,
// with the blank line before it), by workload name.
func sections(md string) map[string]string {
	out := map[string]string{}
	parts := strings.Split(md, "\n"+sectionMarker)
	for _, p := range parts[1:] {
		name, _, _ := strings.Cut(p, " ")
		out[name] = "\n" + sectionMarker + p
	}
	return out
}

func workloads() []workload {
	return []workload{
		{name: "index", run: benchIndex},
		{name: "extract-go", run: benchExtractGo},
		{name: "extract-c", run: benchExtractC},
		{name: "compress-debian", run: benchCompressDebian},
		{name: "recompress-waste", run: benchRecompressWaste},
		{name: "many-small-files", run: benchManySmallFiles},
		{name: "compress-rootfs", run: benchCompressRootfs},
		{name: "memory", run: benchMemory},
		{name: "build", run: benchBuild},
		{name: "runtimes", run: benchRuntimes},
	}
}

// measurement is one timed command: its wall time and the peak resident memory of the
// largest process it ran.
type measurement struct {
	wall   time.Duration
	maxRSS int64 // bytes
}

// runCmd runs argv and measures it; stdout is discarded unless the caller wants it.
func runCmd(ctx context.Context, argv ...string) (measurement, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	m := measurement{wall: time.Since(start)}
	if err != nil {
		return m, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.maxRSS = ru.Maxrss * 1024
	}
	return m, nil
}

// median runs f b.repeats times and returns the median wall time and the largest peak memory.
func (b *bencher) median(f func() (measurement, error)) (measurement, error) {
	var walls []time.Duration
	var rss int64
	for range b.repeats {
		m, err := f()
		if err != nil {
			return m, err
		}
		walls = append(walls, m.wall)
		rss = max(rss, m.maxRSS)
	}
	slices.Sort(walls)
	return measurement{wall: walls[len(walls)/2], maxRSS: rss}, nil
}

func ratio(a, b time.Duration) string { return fmt.Sprintf("%.2f", float64(a)/float64(b)) }

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}
