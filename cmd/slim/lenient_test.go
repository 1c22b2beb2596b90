package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
)

// Issue 13: an image with a "../" entry and a hard link escaping through an absolute
// target is refused by every command that reads it, the entry named; with --lenient it
// is read, the entries dropped with a warning each (entry and layer named).
func TestLenient(t *testing.T) {
	img := testimage.Image(t, [][]testimage.Entry{
		{testimage.Dir("app"), testimage.File("app/ok", "fine")},
		{testimage.File("../escape", "x"), testimage.Hardlink("app/link", "/../../etc/passwd")},
	})
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := ls[1].Digest()
	ref := "oci-layout://" + testimage.WriteLayout(t, img)
	for _, tc := range []struct {
		name string
		args func(dir string) []string
		// check looks at what a lenient run wrote to dir.
		check func(t *testing.T, dir string)
	}{
		{"extract", func(dir string) []string { return []string{"extract", ref, "/app/", "-o", dir} }, func(t *testing.T, dir string) {
			if b, err := os.ReadFile(filepath.Join(dir, "app/ok")); err != nil || string(b) != "fine" {
				t.Errorf("app/ok: %q, %v", b, err)
			}
			for _, p := range []string{"app/link", "escape", "../escape"} {
				if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		}},
		{"inspect", func(string) []string { return []string{"inspect", ref} }, nil},
		{"recompress", func(dir string) []string { return []string{"recompress", ref, "-o", dir} }, func(t *testing.T, dir string) {
			code, stdout, stderr := slimCLI(t, "inspect", "--json", "oci-layout://"+dir)
			if code != 0 {
				t.Fatalf("the recompressed image is refused: %s", stderr)
			}
			if strings.Contains(stdout, "escape") || strings.Contains(stdout, "link") {
				t.Errorf("the recompressed image still has the entries:\n%s", stdout)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := slimCLI(t, tc.args(filepath.Join(t.TempDir(), "out"))...)
			if code != 1 || !strings.Contains(stderr, `"../escape"`) || !strings.Contains(stderr, "climbs out of the root") {
				t.Fatalf("without --lenient: exit %d, stderr %q; want 1, naming \"../escape\"", code, stderr)
			}
			dir := filepath.Join(t.TempDir(), "out")
			code, _, stderr = slimCLI(t, append([]string{"--lenient"}, tc.args(dir)...)...)
			if code != 0 {
				t.Fatalf("with --lenient: exit %d: %s", code, stderr)
			}
			for _, name := range []string{`"../escape"`, `"/../../etc/passwd"`} {
				if n := strings.Count(stderr, "warning: layer 1 ("+d1.String()+"): "); n != 2 || !strings.Contains(stderr, name) {
					t.Errorf("stderr %q: want one warning for %s naming layer 1 (%s), 2 in all (got %d)", stderr, name, d1, n)
				}
			}
			if tc.check != nil {
				tc.check(t, dir)
			}
		})
	}
}

// Issue 13: the main job reads its sources with the same rule. A layer with an entry
// climbing out of the root is refused (entry and layer named) and nothing is written;
// with --lenient the entries are dropped with a warning each and the result runs as
// the source does.
func TestLenientJob(t *testing.T) {
	needRoot(t)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		testimage.Missing(t, "busybox-static: %v", err)
	}
	img := testimage.Image(t, [][]testimage.Entry{
		{testimage.File("bin/busybox", string(bb), 0o755), testimage.Symlink("bin/sh", "busybox"), testimage.Symlink("bin/cat", "busybox"),
			testimage.File("app/run.sh", "#!/bin/sh\necho \"ran $(cat /app/data)\"\n", 0o755), testimage.File("app/data", "fine")},
		{testimage.File("app/../../escape", "x"), testimage.Hardlink("app/link", "/../../etc/passwd")},
	}, testimage.WithConfig(func(c *v1.Config) {
		c.Entrypoint = []string{"/app/run.sh"}
		c.Env = []string{"PATH=/bin"}
	}))
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := ls[1].Digest()
	ref := "oci-layout://" + testimage.WriteLayout(t, img)
	args := []string{"--from", ref + ":/app", "--base", "scratch", "-t", "lenient:slim"}

	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := slimCLI(t, append(args, "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")...)
	if code != 1 || !strings.Contains(stderr, `"app/../../escape"`) || !strings.Contains(stderr, "climbs out of the root") || !strings.Contains(stderr, d1.String()) {
		t.Fatalf("without --lenient: exit %d, stderr %q; want 1, naming \"app/../../escape\" and layer %s", code, stderr, d1)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused source left output behind: %v", err)
	}

	code, _, stderr = slimCLI(t, append([]string{"--lenient"}, append(args, "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")...)...)
	if code != 0 {
		t.Fatalf("with --lenient: exit %d: %s", code, stderr)
	}
	for _, name := range []string{`"app/../../escape"`, `"/../../etc/passwd"`} {
		if !strings.Contains(stderr, name) || strings.Count(stderr, "warning: layer 1 ("+d1.String()+"): ") != 2 {
			t.Errorf("stderr %q: want one warning for %s naming layer 1 (%s), 2 in all", stderr, name, d1)
		}
	}
	root := unpack(t, out, "slim")
	if _, err := os.Lstat(filepath.Join(root, "app/link")); err == nil {
		t.Error("the dropped hard link /app/link is in the result")
	}
	if got := testimage.Chroot(t, root, "", []string{"PATH=/bin"}, "/app/run.sh"); got != "ran fine\n" {
		t.Errorf("the result printed %q, want %q", got, "ran fine\n")
	}
}
