package imagefs_test

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/imageref"
	ti "github.com/slim-dev/slim/internal/testimage"
)

// benchImage builds an image of about mb MiB of file content over layers
// layers, 100 files per MiB (the 1 GiB / 100k files shape, scaled), with
// content that compresses about 3:1 like binaries and text do.
func benchImage(b *testing.B, mb, layers int) v1.Image {
	r := rand.New(rand.NewSource(1))
	var words [256][8]byte
	for i := range words {
		r.Read(words[i][:])
	}
	files := mb * 100
	perFile := mb << 20 / files
	all := make([][]ti.Entry, layers)
	for i := range files {
		body := make([]byte, 0, perFile)
		for len(body) < perFile {
			if r.Intn(4) == 0 {
				body = append(body, byte(r.Intn(256)))
				continue
			}
			body = append(body, words[r.Intn(64)][:]...)
		}
		l := i % layers
		name := fmt.Sprintf("usr/share/l%d/d%03d/f%06d", l, i%500, i)
		all[l] = append(all[l], ti.Entry{Name: name, Body: body})
	}
	return ti.Image(b, all)
}

// BenchmarkNew indexes a generated image; IMAGEFS_BENCH_MB sets its size
// (default 64). With pigz installed it also reports the time of
// `pigz -dc` over the same blobs, and the ratio (goal: ≤ 1.25).
func BenchmarkNew(b *testing.B) {
	mb := 64
	if s := os.Getenv("IMAGEFS_BENCH_MB"); s != "" {
		mb, _ = strconv.Atoi(s)
	}
	img := benchImage(b, mb, 10)
	layers, err := img.Layers()
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	var blobs []string
	dir := b.TempDir()
	for i, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			b.Fatal(err)
		}
		name := filepath.Join(dir, fmt.Sprintf("blob%d.gz", i))
		fl, err := os.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(fl, rc)
		if err != nil {
			b.Fatal(err)
		}
		fl.Close()
		rc.Close()
		total += n
		blobs = append(blobs, name)
	}
	// CPU time is reported next to wall time because on a shared machine
	// it is the steadier of the two.
	var pigz, pigzCPU time.Duration
	if _, err := exec.LookPath("pigz"); err == nil {
		start := time.Now()
		cmd := exec.Command("pigz", append([]string{"-dc"}, blobs...)...)
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		pigz = time.Since(start)
		pigzCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.SetBytes(total)
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		f, err := imagefs.New(context.Background(), img)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	cpu := (cpuTime() - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(cpu.Nanoseconds()), "cpu-ns/op")
	b.StopTimer()
	b.ReportMetric(float64(indexBytes(b, img)), "index-B")
	if pigz > 0 {
		per := b.Elapsed() / time.Duration(b.N)
		b.ReportMetric(float64(pigz.Nanoseconds()), "pigz-ns")
		b.ReportMetric(float64(pigzCPU.Nanoseconds()), "pigz-cpu-ns")
		b.ReportMetric(float64(per)/float64(pigz), "x-pigz")
	}
}

// indexBytes is the heap an indexed FS keeps: it must grow with the
// number of entries only.
func indexBytes(b *testing.B, img v1.Image) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := imagefs.New(context.Background(), img)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(f)
	return after.HeapAlloc - before.HeapAlloc
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIndexCached indexes the image `make bench` leaves in
// .cache/bench/index-256-100000 (10 gzip layers, 100,000 files, 256 MiB),
// the figure the goal is stated for, and reports the CPU time of
// `pigz -dc` over its blobs next to it: on a shared machine CPU time is the
// figure that does not depend on what else runs.
func BenchmarkIndexCached(b *testing.B) {
	dir, err := filepath.Abs("../../.cache/bench/index-256-100000")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "image")); err != nil {
		b.Skipf("no cached bench image: %v", err)
	}
	ctx := context.Background()
	ref, err := imageref.Parse("oci-layout://" + filepath.Join(dir, "image"))
	if err != nil {
		b.Fatal(err)
	}
	img, err := imageref.Image(ctx, ref)
	if err != nil {
		b.Fatal(err)
	}
	var pigzCPU time.Duration
	if _, err := exec.LookPath("pigz"); err == nil {
		blobs, _ := filepath.Glob(filepath.Join(dir, "layer*.tar.gz"))
		cmd := exec.Command("pigz", append([]string{"-dc"}, blobs...)...)
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		pigzCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	cpu0 := cpuTime()
	for b.Loop() {
		f, err := imagefs.New(ctx, img)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	cpu := (cpuTime() - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(cpu.Nanoseconds()), "cpu-ns/op")
	if pigzCPU > 0 {
		b.ReportMetric(float64(pigzCPU.Nanoseconds()), "pigz-cpu-ns")
		b.ReportMetric(float64(cpu)/float64(pigzCPU), "cpu-x-pigz")
	}
}
