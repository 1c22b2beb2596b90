package main

import (
	"archive/tar"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// benchIndex measures how fast slim indexes an image (slim inspect) against the floor of
// decompressing the same gzip blobs with pigz, one process per layer on every core, and its
// peak memory on two inputs with the same 100,000 files but 4× the bytes.
func benchIndex(ctx context.Context, b *bencher) (string, error) {
	const files, layers = 100_000, 10
	sizes := []int64{256 << 20, 1 << 30}
	if b.quick {
		sizes = []int64{16 << 20, 64 << 20}
	}
	var md strings.Builder
	md.WriteString("## Indexing an image (`slim inspect`)\n\n")
	fmt.Fprintf(&md, "A generated image: %d gzip layers, %d files in all, word-like text content. "+
		"The floor is `pigz -dc` of every layer blob, one process per layer, %d at a time (the machine's cores). "+
		"Goal: slim ≤ 1.25 × the floor, and the same peak memory (±20%%) whatever the image size.\n\n", layers, files, workers())
	md.WriteString("| uncompressed | compressed | slim / pigz -dc (wall) | slim peak memory | goal |\n|---|---|---|---|---|\n")
	var rss []int64
	for _, size := range sizes {
		dir := filepath.Join(b.work, fmt.Sprintf("index-%d-%d", size>>20, files))
		blobs, compressed, err := indexImage(dir, size, files, layers)
		if err != nil {
			return "", err
		}
		floor, err := b.median(func() (measurement, error) { return pigzAll(ctx, blobs) })
		if err != nil {
			return "", err
		}
		slim, err := b.median(func() (measurement, error) {
			return runRSS(ctx, b.slim, "inspect", "--json", "oci-layout://"+filepath.Join(dir, "image")+":latest")
		})
		if err != nil {
			return "", err
		}
		r := float64(slim.wall) / float64(floor.wall)
		rss = append(rss, slim.maxRSS)
		fmt.Fprintf(&md, "| %s | %s | %.2f | %s | %s |\n", mib(size), mib(compressed), r, mib(slim.maxRSS), verdict(r <= 1.25))
	}
	growth := float64(rss[len(rss)-1]) / float64(rss[0])
	fmt.Fprintf(&md, "\nPeak memory at the largest size is %.2f × that at the smallest (goal 0.80–1.20: %s).\n", growth, verdict(growth >= 0.8 && growth <= 1.2))
	return md.String(), nil
}

func workers() int { return max(1, runtime.NumCPU()) }

// pigzAll decompresses every blob with its own pigz process, as many at once as there are cores.
func pigzAll(ctx context.Context, blobs []string) (measurement, error) {
	start := time.Now()
	sem := make(chan struct{}, workers())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, blob := range blobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := runCmd(ctx, "sh", "-c", `exec pigz -dc "$1" >/dev/null`, "sh", blob); err != nil {
				mu.Lock()
				firstErr = cmpErr(firstErr, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return measurement{wall: time.Since(start)}, firstErr
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// indexImage generates (once, then reuses) an image of size bytes of file content in
// files files over layers gzip layers, and returns its layer blobs and compressed size.
func indexImage(dir string, size int64, files, layers int) ([]string, int64, error) {
	var blobs []string
	for i := range layers {
		blobs = append(blobs, filepath.Join(dir, fmt.Sprintf("layer%02d.tar.gz", i)))
	}
	done := filepath.Join(dir, "done")
	if _, err := os.Stat(done); err != nil {
		fmt.Fprintf(os.Stderr, "bench: generating %s\n", dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, 0, err
		}
		rng := rand.New(rand.NewPCG(uint64(size), uint64(files)))
		perLayer := files / layers
		mean := size / int64(files)
		var created []string
		for i := range layers {
			var entries []genEntry
			for j := range perLayer {
				d := fmt.Sprintf("srv/l%02d/d%03d/", i, j/100)
				if j%100 == 0 {
					entries = append(entries, genEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}})
				}
				// Sizes spread from 0 to 2× the mean so that small and large files both occur.
				n := rng.Int64N(2*mean + 1)
				h := tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%sf%05d.txt", d, j), Mode: 0o644, Size: n}
				entries = append(entries, genEntry{hdr: h, body: textBody(rng, n)})
			}
			if err := writeGzipLayer(blobs[i], entries); err != nil {
				return nil, 0, err
			}
			created = append(created, fmt.Sprintf("COPY srv/l%02d /srv/l%02d", i, i))
		}
		if _, err := writeLayout(filepath.Join(dir, "image"), blobs, created, demoConfig()); err != nil {
			return nil, 0, err
		}
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			return nil, 0, err
		}
	}
	var total int64
	for _, blob := range blobs {
		fi, err := os.Stat(blob)
		if err != nil {
			return nil, 0, err
		}
		total += fi.Size()
	}
	return blobs, total, nil
}
