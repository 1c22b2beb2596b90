// Package baseimage makes the base images that slim's demo, benchmarks and tests hand to
// BuildKit, offline, from this machine's files: a busybox image from Debian's
// busybox-static, and a golang-like image from the local Go toolchain. Nothing is pulled.
package baseimage

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/slim-dev/slim/tarball"
)

// BusyboxPath is where Debian's busybox-static installs its binary.
const BusyboxPath = "/bin/busybox"

// Busybox writes a busybox image as an OCI layout in dir, tagged "latest", and returns it.
func Busybox(dir string) (v1.Image, error) {
	entries, err := busyboxEntries()
	if err != nil {
		return nil, err
	}
	return write(dir, [][]tarball.Entry{entries}, v1.Config{
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd: []string{"sh"},
	})
}

// Golang writes a golang-like image (busybox, plus the Go toolchain this program was
// built with, from GOROOT) as an OCI layout in dir, tagged "latest". cgo is off in it,
// since the image has no C compiler, and the module proxy is off, since builds here are
// offline.
func Golang(dir string) (v1.Image, error) {
	bb, err := busyboxEntries()
	if err != nil {
		return nil, err
	}
	goroot := runtime.GOROOT()
	if goroot == "" {
		return nil, fmt.Errorf("making the golang image: GOROOT unknown")
	}
	gor, err := treeEntries(goroot, "usr/local/go", func(rel string) bool {
		// Tests and API files are not needed to build programs; leaving them out
		// makes the image a third smaller.
		return strings.HasPrefix(rel, "test/") || strings.HasPrefix(rel, "api/") || strings.HasPrefix(rel, "doc/") ||
			strings.HasSuffix(rel, "_test.go") || strings.Contains(rel, "/testdata/")
	})
	if err != nil {
		return nil, err
	}
	return write(dir, [][]tarball.Entry{bb, gor}, v1.Config{
		Env: []string{
			"PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"GOPATH=/go", "GOROOT=/usr/local/go", "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOPROXY=off",
			"GOFLAGS=-buildvcs=false", "GOCACHE=/root/.cache/go-build",
		},
		WorkingDir: "/go",
		Cmd:        []string{"sh"},
	})
}

func busyboxEntries() ([]tarball.Entry, error) {
	fi, err := os.Stat(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s (apt-get install busybox-static): %w", BusyboxPath, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", BusyboxPath)
	}
	dir := func(name string, mode int64) tarball.Entry {
		return tarball.Entry{Header: &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}}
	}
	file := func(name string, body string) tarball.Entry {
		return tarball.Entry{
			Header: &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))},
			Open:   func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
		}
	}
	out := []tarball.Entry{
		dir("bin", 0o755), dir("etc", 0o755), dir("tmp", 0o1777), dir("root", 0o700), dir("usr", 0o755),
		dir("usr/bin", 0o755), dir("usr/local", 0o755), dir("usr/local/bin", 0o755), dir("var", 0o755),
		{Header: &tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: fi.Size()},
			Open: func() (io.ReadCloser, error) { return os.Open(BusyboxPath) }},
		file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
		file("etc/group", "root:x:0:\nnobody:x:65534:\n"),
	}
	// Enough applets for the RUN steps of tests and demos.
	for _, a := range []string{"sh", "echo", "cat", "ls", "mkdir", "cp", "mv", "rm", "ln", "sleep", "test", "[",
		"touch", "chmod", "wget", "env", "true", "false", "head", "tail", "grep", "sed", "dd", "du", "find", "id", "tar",
		"wc", "printf", "yes", "sort", "uname"} {
		out = append(out, tarball.Entry{Header: &tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}})
	}
	return out, nil
}

// treeEntries streams a host directory tree into entries under prefix, skipping what
// skip says; content is opened only when the layer is written.
func treeEntries(root, prefix string, skip func(rel string) bool) ([]tarball.Entry, error) {
	var out []tarball.Entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "." && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !fi.Mode().IsRegular() && !fi.IsDir() {
			return nil
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name, h.Uid, h.Gid, h.Uname, h.Gname = prefix, 0, 0, "", ""
		if rel != "." {
			h.Name = prefix + "/" + rel
		}
		e := tarball.Entry{Header: h}
		if fi.Mode().IsRegular() {
			e.Open = func() (io.ReadCloser, error) { return os.Open(p) }
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	return out, nil
}

// write packs the layers uncompressed (quick to make and for BuildKit to unpack; these
// images never leave the machine) and writes the image as an OCI layout tagged latest.
func write(dir string, layers [][]tarball.Entry, cfg v1.Config) (v1.Image, error) {
	tmp, err := os.MkdirTemp("", "slim-baseimage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	img := empty.Image
	for _, entries := range layers {
		l, err := tarball.NewLayer(entries, tarball.WithCompression(tarball.Uncompressed), tarball.WithParents(), tarball.WithTempDir(tmp))
		if err != nil {
			return nil, fmt.Errorf("packing base image layer: %w", err)
		}
		defer l.Close()
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "slim baseimage"}}); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", runtime.GOARCH, cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
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
		return nil, fmt.Errorf("writing %s: %w", dir, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	return p.Image(d)
}
