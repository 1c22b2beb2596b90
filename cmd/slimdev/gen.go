package main

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// genEntry is one entry of a generated layer; body is produced on demand so that a 1 GiB
// layer never sits in memory.
type genEntry struct {
	hdr  tar.Header
	body func(w io.Writer) error
}

// writeGzipLayer streams entries into a gzip'd tar file at the default level, as docker does.
func writeGzipLayer(path string, entries []genEntry) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := gzip.NewWriter(bw)
	tw := tar.NewWriter(zw)
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
	for _, c := range []io.Closer{tw, zw} {
		if err := c.Close(); err != nil {
			f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeLayout writes an image made of the given gzip'd layer files, each with its history
// line, to an OCI layout tagged "latest".
func writeLayout(dir string, layerFiles, createdBy []string, cfg v1.Config) (v1.Image, error) {
	img := empty.Image
	for i, lf := range layerFiles {
		l, err := tarball.LayerFromFile(lf)
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: createdBy[i]}})
		if err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return nil, err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})); err != nil {
		return nil, err
	}
	return img, nil
}

// textBody writes n bytes of word-like text: it compresses about as well as source code and
// configuration do, so decompression benchmarks see realistic ratios.
func textBody(rng *rand.Rand, n int64) func(io.Writer) error {
	seed1, seed2 := rng.Uint64(), rng.Uint64()
	return func(w io.Writer) error {
		r := rand.New(rand.NewPCG(seed1, seed2))
		buf := make([]byte, 0, 64<<10)
		for left := n; left > 0; {
			buf = buf[:0]
			for len(buf) < cap(buf)-16 && int64(len(buf)) < left {
				buf = append(buf, words[r.IntN(len(words))]...)
				switch r.IntN(12) {
				case 0:
					buf = append(buf, '\n')
				case 1:
					buf = append(buf, byte('0'+r.IntN(10)), byte('0'+r.IntN(10)), ' ')
				default:
					buf = append(buf, ' ')
				}
			}
			if int64(len(buf)) > left {
				buf = buf[:left]
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
			left -= int64(len(buf))
		}
		return nil
	}
}

var words = []string{"the", "image", "layer", "config", "func", "return", "err", "nil", "struct", "int64",
	"package", "import", "context", "manifest", "digest", "sha256", "build", "stage", "copy", "from",
	"usr", "lib", "bin", "etc", "var", "opt", "static", "shared", "object", "symbol", "debug", "info",
	"version", "release", "python3", "node_modules", "index.js", "require", "module", "exports", "const",
	"let", "async", "await", "Promise", "string", "number", "boolean", "undefined", "function", "class"}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
