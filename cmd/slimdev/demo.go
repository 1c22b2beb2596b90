package main

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// demo makes a small image with deliberate waste offline (busybox from Debian's
// busybox-static, apt lists that a later layer deletes) and shows `slim inspect` on it.
func demo(ctx context.Context, args []string) error {
	work := mustAbs(filepath.Join(".cache", "demo"))
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	dir := filepath.Join(work, "fat")
	if err := makeDemoImage(work, dir); err != nil {
		return fmt.Errorf("making the demo image: %w", err)
	}
	ref := "oci-layout://" + dir + ":latest"
	fmt.Printf("$ slim inspect %s\n", ref)
	cmd := exec.CommandContext(ctx, filepath.Join("bin", "slim"), "inspect", ref)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

func makeDemoImage(work, dir string) error {
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("reading busybox (apt-get install busybox-static): %w", err)
	}
	file := func(name string, mode int64, body []byte) genEntry {
		return genEntry{
			hdr:  tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))},
			body: func(w io.Writer) error { _, err := w.Write(body); return err },
		}
	}
	dirEntry := func(name string) genEntry {
		return genEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
	}
	base := []genEntry{dirEntry("bin/"), file("bin/busybox", 0o755, busybox), dirEntry("etc/"),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n")),
		file("etc/group", 0o644, []byte("root:x:0:\n"))}
	for _, app := range []string{"sh", "ls", "cat", "echo", "wget"} {
		base = append(base, genEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + app, Linkname: "busybox", Mode: 0o777}})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var lists []genEntry
	lists = append(lists, dirEntry("var/"), dirEntry("var/lib/"), dirEntry("var/lib/apt/"), dirEntry("var/lib/apt/lists/"))
	for i := range 8 {
		h := tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("var/lib/apt/lists/deb.debian.org_dists_bookworm_%d_Packages", i), Mode: 0o644, Size: 2 << 20}
		lists = append(lists, genEntry{hdr: h, body: textBody(rng, h.Size)})
	}
	app := []genEntry{
		dirEntry("var/lib/apt/"),
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "var/lib/apt/.wh.lists", Mode: 0o644}},
		dirEntry("etc/"),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")),
		dirEntry("app/"),
		file("app/hello.sh", 0o755, []byte("#!/bin/sh\necho hello from slim\n")),
	}
	layers := [][]genEntry{base, lists, app}
	createdBy := []string{"ADD busybox rootfs /", "RUN apt-get update", "RUN rm -rf /var/lib/apt/lists && useradd app"}
	var files []string
	for i, l := range layers {
		p := filepath.Join(work, fmt.Sprintf("layer%d.tar.gz", i))
		if err := writeGzipLayer(p, l); err != nil {
			return err
		}
		files = append(files, p)
	}
	_, err = writeLayout(dir, files, createdBy, demoConfig())
	return err
}

func demoConfig() v1.Config {
	return v1.Config{
		Entrypoint: []string{"/app/hello.sh"},
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		WorkingDir: "/app",
	}
}
