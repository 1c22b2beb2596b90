package main

import (
	"archive/tar"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// debianImage is the Debian-like workload: an OCI layout of host files in gzip layers with
// deliberate waste, and the tar of its merged file system (the same files without waste).
type debianImage struct {
	layout      string
	flat        string
	flatEntries int
}

// debianImage makes (once) a ~500 MB image of this machine's /usr in four gzip layers;
// the last one deletes a third of /usr/share's directories and rewrites the largest
// libraries of the first, as `apt-get upgrade && rm -rf ...` in a later RUN would.
func (b *bencher) debianImage() (debianImage, error) {
	dir := filepath.Join(b.work, b.sized("debian"))
	img := debianImage{layout: filepath.Join(dir, "image"), flat: filepath.Join(dir, "flat.tar")}
	// ~280 MB rather than the issue's ~500 MB: on two shared cores zstd -19 and xz -9 run
	// at 1.5–2.5 MB/s, and every compressor runs on the merged tar several times.
	layers, err := debianLayers(b.pick(100<<20, 20<<20), b.pick(100<<20, 15<<20), b.pick(50<<20, 8<<20))
	if err != nil {
		return img, err
	}
	err = cached(dir, func() error {
		var files []string
		created := []string{"COPY /usr/lib/x86_64-linux-gnu", "COPY /usr/share", "COPY /usr/bin", "RUN apt-get upgrade && rm -rf share dirs"}
		for i, l := range layers {
			p := filepath.Join(dir, fmt.Sprintf("layer%d.tar.gz", i))
			if err := writeGzipLayer(p, l); err != nil {
				return err
			}
			files = append(files, p)
		}
		if err := writeOCILayout(img.layout, files, created, demoConfig()); err != nil {
			return err
		}
		return writeTarFile(img.flat, mergeLayers(layers))
	})
	if err != nil {
		return img, fmt.Errorf("making the Debian-like image: %w", err)
	}
	// Counted from the cached tar, not from a fresh listing: /usr may have changed since.
	img.flatEntries, err = countEntries(img.flat)
	return img, err
}

func debianLayers(lib, share, bin int64) ([][]genEntry, error) {
	var layers [][]genEntry
	for _, t := range []struct {
		root   string
		budget int64
	}{{"/usr/lib/x86_64-linux-gnu", lib}, {"/usr/share", share}, {"/usr/bin", bin}} {
		es, _, err := hostTree(t.root, t.budget, nil)
		if err != nil {
			return nil, err
		}
		layers = append(layers, es)
	}
	return append(layers, wasteLayer(layers[0], layers[1])), nil
}

// wasteLayer whites out /usr/share/doc and every third other top-level directory of
// /usr/share, and rewrites the largest library files, about 40 MiB in all, with the same
// content: a third or more of the image becomes waste, as in images built carelessly.
func wasteLayer(libs, share []genEntry) []genEntry {
	out := []genEntry{dirEntry("usr/"), dirEntry("usr/share/")}
	var n int
	for _, e := range share {
		name := strings.TrimSuffix(e.hdr.Name, "/")
		if e.hdr.Typeflag != tar.TypeDir || path.Dir(name) != "usr/share" {
			continue
		}
		if n++; n%3 == 0 || name == "usr/share/doc" {
			h := tar.Header{Typeflag: tar.TypeReg, Name: "usr/share/.wh." + path.Base(name), Mode: 0o644}
			out = append(out, genEntry{hdr: h})
		}
	}
	big := slices.Clone(libs)
	slices.SortStableFunc(big, func(a, b genEntry) int { return int(b.hdr.Size - a.hdr.Size) })
	dirs := map[string]bool{}
	var rewritten int64
	for _, e := range big {
		if e.hdr.Typeflag != tar.TypeReg || rewritten+e.hdr.Size > 40<<20 {
			continue
		}
		rewritten += e.hdr.Size
		for _, d := range parentDirs("/" + e.hdr.Name) {
			if !dirs[d] && d != "usr" {
				dirs[d] = true
				out = append(out, dirEntry(d+"/"))
			}
		}
		out = append(out, e)
	}
	return out
}

// mergeLayers applies layers in order, whiteouts included, and returns the merged file
// system's entries sorted by name (parents sort before their children).
func mergeLayers(layers [][]genEntry) []genEntry {
	m := map[string]genEntry{}
	for _, l := range layers {
		for _, e := range l {
			dir, base := path.Split(strings.TrimSuffix(e.hdr.Name, "/"))
			if gone, ok := strings.CutPrefix(base, ".wh."); ok {
				victim := dir + gone
				for k := range m {
					if k == victim || strings.HasPrefix(k, victim+"/") {
						delete(m, k)
					}
				}
			}
		}
		for _, e := range l {
			if !strings.HasPrefix(path.Base(e.hdr.Name), ".wh.") {
				m[strings.TrimSuffix(e.hdr.Name, "/")] = e
			}
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]genEntry, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// nodeModules lists a node_modules-like tree of pkgs generated packages: a package.json,
// a README and 20–120 small CommonJS modules each, content made on demand.
func nodeModules(pkgs int) []genEntry {
	rng := rand.New(rand.NewPCG(7, uint64(pkgs)))
	entries := []genEntry{dirEntry("app/"), dirEntry("app/node_modules/")}
	for p := range pkgs {
		name := fmt.Sprintf("%s-%s-%d", words[rng.IntN(len(words))], words[rng.IntN(len(words))], p)
		root := "app/node_modules/" + name + "/"
		entries = append(entries, dirEntry(root), dirEntry(root+"lib/"))
		entries = append(entries, bytesEntry(root+"package.json", 0o644, packageJSON(rng, name)))
		entries = append(entries, textEntry(root+"README.md", rng, 500+rng.Int64N(4000)))
		for f := range 20 + rng.IntN(100) {
			entries = append(entries, jsEntry(fmt.Sprintf("%slib/%s%d.js", root, words[rng.IntN(len(words))], f), rng))
		}
	}
	return entries
}

func textEntry(name string, rng *rand.Rand, n int64) genEntry {
	return genEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: n}, body: textBody(rng, n)}
}

func packageJSON(rng *rand.Rand, name string) []byte {
	var deps []string
	for range rng.IntN(8) {
		deps = append(deps, fmt.Sprintf("    %q: \"^%d.%d.%d\"", words[rng.IntN(len(words))], rng.IntN(9), rng.IntN(30), rng.IntN(20)))
	}
	return fmt.Appendf(nil, "{\n  \"name\": %q,\n  \"version\": \"%d.%d.%d\",\n  \"main\": \"lib/index.js\",\n  \"license\": \"MIT\",\n  \"dependencies\": {\n%s\n  }\n}\n",
		name, rng.IntN(9), rng.IntN(30), rng.IntN(20), strings.Join(deps, ",\n"))
}

// jsEntry is a small module of generated functions, the shape most node_modules files have.
func jsEntry(name string, rng *rand.Rand) genEntry {
	var sb strings.Builder
	sb.WriteString("'use strict';\n\nObject.defineProperty(exports, '__esModule', { value: true });\n\n")
	for range 1 + rng.IntN(12) {
		fn := words[rng.IntN(len(words))] + fmt.Sprint(rng.IntN(100))
		fmt.Fprintf(&sb, "function %s(%s, options) {\n  if (%s == null) {\n    throw new TypeError('%s: expected a %s');\n  }\n  const %s = options && options.%s !== undefined ? options.%s : %d;\n  return %s.%s(%s);\n}\nexports.%s = %s;\n\n",
			fn, words[rng.IntN(len(words))], words[rng.IntN(len(words))], fn, words[rng.IntN(len(words))],
			words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(1000),
			words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))], fn, fn)
	}
	return bytesEntry(name, 0o644, []byte(sb.String()))
}

// writeOCILayout is writeLayout with OCI media types throughout: skopeo's oci: transport
// and zstd recompression both need an OCI manifest, and it is what current builders push.
func writeOCILayout(dir string, layerFiles, createdBy []string, cfg v1.Config) error {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for i, lf := range layerFiles {
		l, err := tarball.LayerFromFile(lf, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return fmt.Errorf("reading layer %s: %w", lf, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: createdBy[i]}})
		if err != nil {
			return err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"}))
}

// countEntries reads a tar's headers only.
func countEntries(p string) (int, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var n int
	for {
		if _, err := tr.Next(); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, fmt.Errorf("reading %s: %w", p, err)
		}
		n++
	}
}
