package main

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// benchMemory measures slim recompress's peak memory at best level on one-layer images
// of three sizes: flat memory is the promise that a layer of any size fits the same
// budget, so each size is its own row. The content is random (incompressible), the
// case where every compressor keeps its whole window filled; each size runs once,
// since a peak is a maximum, not a time to take a median of.
func benchMemory(ctx context.Context, b *bencher) (string, error) {
	if !b.hasCommand(ctx, "recompress") {
		return "## Peak memory by layer size\n\n`slim recompress` is not in this build of slim: **not measured**.\n", nil
	}
	var md strings.Builder
	md.WriteString("## Peak memory by layer size (`slim recompress` at best)\n\n")
	md.WriteString("A one-layer image (gzip -1) whose layer holds files of random bytes, recompressed at `--compression-level best`; " +
		"peak resident memory of the slim process (GNU time), one run each. Goal: ≤ 256 MiB at every size.\n\n")
	md.WriteString("| layer (uncompressed) | compression | peak memory | goal |\n|---|---|---|---|\n")
	for _, size := range []int64{b.pick(100e6, 10e6), b.pick(500e6, 20e6), b.pick(2<<30, 40e6)} {
		dir := filepath.Join(b.work, b.sized(fmt.Sprintf("memory-%d", size)))
		err := cached(dir, func() error {
			layer := filepath.Join(dir, "layer.tar.gz")
			if err := writeGzipLayer(layer, randomFiles(size)); err != nil {
				return err
			}
			return writeOCILayout(filepath.Join(dir, "image"), []string{layer}, []string{"COPY / /"}, demoConfig())
		})
		if err != nil {
			return "", fmt.Errorf("making the %d-byte layer: %w", size, err)
		}
		for _, c := range []string{"zstd", "gzip"} {
			fmt.Fprintf(os.Stderr, "bench:   %s, %s\n", sizeMiB(size), c)
			out := filepath.Join(dir, "out-"+c)
			if err := os.RemoveAll(out); err != nil {
				return "", err
			}
			m, err := runRSS(ctx, b.slim, "recompress", "oci-layout://"+filepath.Join(dir, "image")+":latest", "-t", "bench:latest",
				"-o", "type=oci,dest="+out, "--compression", c, "--compression-level", "best")
			if err != nil {
				return "", err
			}
			if err := os.RemoveAll(out); err != nil {
				return "", err
			}
			fmt.Fprintf(&md, "| %s | %s | %s | %s |\n", sizeMiB(size), c, mib(m.maxRSS), verdict(m.maxRSS <= 256<<20))
		}
	}
	return md.String(), nil
}

// randomFiles lists files of 4 MiB of seeded random bytes (the last shorter) adding up
// to total bytes, content made on demand.
func randomFiles(total int64) []genEntry {
	const fileSize = 4 << 20
	entries := []genEntry{dirEntry("data/")}
	for i := int64(0); total > 0; i++ {
		n := min(total, fileSize)
		total -= n
		entries = append(entries, genEntry{
			hdr:  tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("data/%06d.bin", i), Mode: 0o644, Size: n},
			body: func(w io.Writer) error { return randomBytes(w, uint64(i), n) },
		})
	}
	return entries
}

func randomBytes(w io.Writer, seed uint64, n int64) error {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	_, err := io.CopyN(w, r, n)
	return err
}
