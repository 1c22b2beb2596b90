package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
				if n := strings.Count(stderr, "slim: warning: layer 1 ("+d1.String()+"): "); n != 2 || !strings.Contains(stderr, name) {
					t.Errorf("stderr %q: want one warning for %s naming layer 1 (%s), 2 in all (got %d)", stderr, name, d1, n)
				}
			}
			if tc.check != nil {
				tc.check(t, dir)
			}
		})
	}
}
