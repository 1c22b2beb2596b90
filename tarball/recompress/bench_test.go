package recompress

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/tarball"
)

// wasteImage builds a ~200 MB (uncompressed) image from this machine's /usr/lib with
// waste across layers, the way images grow in practice: a base of files, a layer that
// overwrites a third of them, a layer that adds a cache, and one that deletes the cache
// and some base files.
func wasteImage(b *testing.B, dir string) v1.Image {
	b.Helper()
	var files []string
	var sizes []int64
	var total int64
	filepath.WalkDir("/usr/lib", func(p string, d fs.DirEntry, err error) error {
		if err != nil || total > 150_000_000 {
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() >= 4<<20 {
			return nil
		}
		if f, err := os.Open(p); err == nil {
			f.Close()
			files = append(files, p)
			sizes = append(sizes, info.Size())
			total += info.Size()
		}
		return nil
	})
	if total < 50_000_000 {
		b.Skipf("only %d bytes of readable files under /usr/lib", total)
	}
	entry := func(name, src string, size int64) tarball.Entry {
		return tarball.Entry{
			Header: &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644},
			Open:   func() (io.ReadCloser, error) { return os.Open(src) },
		}
	}
	var base, over, cache, del []tarball.Entry
	for i, p := range files {
		base = append(base, entry(p, p, sizes[i]))
		if i%3 == 0 && i+1 < len(files) {
			over = append(over, entry(p, files[i+1], sizes[i+1])) // new content, same name
		}
		if i%7 == 0 {
			cache = append(cache, entry(fmt.Sprintf("/var/cache/build/%d", i), p, sizes[i]))
		}
		if i%11 == 5 {
			dir, name := filepath.Split(p)
			del = append(del, tarball.Entry{Header: &tar.Header{Typeflag: tar.TypeReg, Name: dir + ".wh." + name}})
		}
	}
	del = append(del, tarball.Entry{Header: &tar.Header{Typeflag: tar.TypeReg, Name: "var/cache/.wh.build"}})
	layers, err := tarball.NewLayers(context.Background(), [][]tarball.Entry{base, over, cache, del}, tarball.WithParents(), tarball.WithTempDir(dir))
	if err != nil {
		b.Fatal(err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for i, l := range layers {
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: fmt.Sprintf("layer %d", i)}}); err != nil {
			b.Fatal(err)
		}
	}
	return img
}

// BenchmarkRecompressWaste recompresses the waste image and reports sizes and times:
//
//	go test -run '^$' -bench RecompressWaste -benchtime 1x ./tarball/
func BenchmarkRecompressWaste(b *testing.B) {
	dir := b.TempDir()
	img := wasteImage(b, dir)
	start := time.Now()
	f, err := imagefs.New(context.Background(), img)
	indexed := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	var size, usize, wasted int64
	for _, l := range f.Layers() {
		size += l.Size
		usize += l.UncompressedSize
		wasted += l.Wasted
	}
	f.Close()
	b.Logf("input: %d layers, %.1f MB compressed (gzip default), %.1f MB uncompressed, %.1f MB wasted; indexed in %.2fs",
		len(f.Layers()), float64(size)/1e6, float64(usize)/1e6, float64(wasted)/1e6, indexed.Seconds())
	settings := []struct {
		name string
		opts []Option
	}{
		{"gzip-default", nil},
		{"gzip-best", []Option{WithPacking(tarball.WithLevel(tarball.LevelBest))}},
		{"zstd-default", []Option{WithPacking(tarball.WithCompression(tarball.Zstd))}},
		{"zstd-best", []Option{WithPacking(tarball.WithCompression(tarball.Zstd), tarball.WithLevel(tarball.LevelBest))}},
		{"squash-zstd-best", []Option{WithSquash(), WithPacking(tarball.WithCompression(tarball.Zstd), tarball.WithLevel(tarball.LevelBest))}},
	}
	for _, s := range settings {
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				runtime.GC()
				start := time.Now()
				out, rep, err := Recompress(context.Background(), img, append(s.opts, WithPacking(tarball.WithTempDir(dir)))...)
				if err != nil {
					b.Fatal(err)
				}
				elapsed := time.Since(start)
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				ls, _ := out.Layers()
				b.Logf("%s: %.2fs, %d→%d layers, %.1f→%.1f MB compressed, %.1f→%.1f MB uncompressed, %.1f MB waste removed, %d entries dropped, heap sys %d MiB",
					s.name, elapsed.Seconds(), len(rep.Layers), len(ls), float64(rep.Size)/1e6, float64(rep.NewSize)/1e6,
					float64(rep.UncompressedSize)/1e6, float64(rep.NewUncompressedSize)/1e6, float64(rep.WasteRemoved)/1e6,
					rep.EntriesDropped, ms.HeapSys>>20)
				b.ReportMetric(float64(rep.NewSize)/1e6, "MB-out")
				rep.Close()
			}
		})
	}
}
