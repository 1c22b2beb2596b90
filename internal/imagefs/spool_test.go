package imagefs_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/imagefs"
	ti "github.com/slim-dev/slim/internal/testimage"
)

// TestSpool reads every file of a two-layer image backwards, the order that
// makes a blob reader start again at every file: with WithSpool the blobs are
// opened only by the indexing pass, the content is the same as without, and
// nothing stays in the spool directory.
func TestSpool(t *testing.T) {
	var lower, upper []ti.Entry
	var names []string
	for i := range 40 {
		name := fmt.Sprintf("d/f%02d", i)
		names = append(names, name)
		lower = append(lower, ti.File(name, fmt.Sprintf("lower %d %0*d", i, 3000+i, i)))
		if i%3 == 0 {
			upper = append(upper, ti.File(name, fmt.Sprintf("upper %d", i)))
		}
	}
	upper = append(upper, ti.Whiteout("d/f01"))
	names = slices.DeleteFunc(names, func(n string) bool { return n == "d/f01" })
	slices.Reverse(names)
	for _, c := range []ti.Compression{ti.Gzip, ti.Zstd, ti.None} {
		t.Run(c.String(), func(t *testing.T) {
			opens := new(atomic.Int32)
			img := ti.ImageFromLayers(t, []v1.Layer{
				countingLayer{ti.Layer(t, lower, ti.WithCompression(c)), opens},
				countingLayer{ti.Layer(t, upper, ti.WithCompression(c)), opens},
			})
			want := map[string]string{}
			plain := open(t, img)
			for _, n := range names {
				b, err := plain.ReadFile(n)
				if err != nil {
					t.Fatal(err)
				}
				want[n] = string(b)
			}

			dir := t.TempDir()
			opens.Store(0)
			f := open(t, img, imagefs.WithSpool(dir))
			if got := opens.Load(); got != 2 {
				t.Fatalf("indexing opened the blobs %d times, want 2", got)
			}
			for _, n := range names {
				b, err := f.ReadFile(n)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != want[n] {
					t.Errorf("%s: spooled read %q, want %q", n, b, want[n])
				}
			}
			if got := opens.Load(); got != 2 {
				t.Errorf("reading %d files backwards opened the blobs %d times in all, want 2 (only the indexing pass)", len(names), got)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("spool directory holds %d names, want none (spools are unlinked)", len(left))
			}
			// After Close the FS still reads, from the blobs again.
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			b, err := f.ReadFile(names[0])
			if err != nil || string(b) != want[names[0]] {
				t.Errorf("after Close: read %q, %v; want %q", b, err, want[names[0]])
			}
			if got := opens.Load(); got != 3 {
				t.Errorf("after Close, a read opened the blobs %d times in all, want 3", got)
			}
		})
	}
}

// TestSpoolStopsOnAFullDisk spools onto a 256 MiB tmpfs, where the 1 GiB reserve is
// out of reach from the start: the spool stops at its first look at the free space,
// and the files are read from the blob instead, intact.
func TestSpoolStopsOnAFullDisk(t *testing.T) {
	if runtime.GOOS != "linux" {
		ti.Missing(t, "mounting a tmpfs needs linux")
	}
	ti.NeedRoot(t, "mounting a tmpfs")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256m", "slim-spool-test", dir).CombinedOutput(); err != nil {
		ti.Missing(t, "mounting a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })

	// Two files around the first check (64 MiB into the stream): the one after it
	// must come from the blob.
	big := strings.Repeat("slim spool test line\n", (70<<20)/21)
	opens := new(atomic.Int32)
	img := ti.ImageFromLayers(t, []v1.Layer{countingLayer{ti.Layer(t, []ti.Entry{ti.File("a/big", big), ti.File("z/last", "last file")}), opens}})
	f := open(t, img, imagefs.WithSpool(dir))
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("spool directory holds %d names", len(left))
	}
	b, err := f.ReadFile("z/last")
	if err != nil || string(b) != "last file" {
		t.Fatalf("read %q, %v", b, err)
	}
	if got := opens.Load(); got != 2 {
		t.Errorf("blob opened %d times, want 2: the index pass and the read (the spool should have stopped)", got)
	}
}
