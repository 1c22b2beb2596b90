package testimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// unpackedBases holds, for the test process, the first layers that UnpackOverlay has
// unpacked, by digest: a directory each, removed when the process ends (see
// CleanupUnpacked). The runtime tests run a dozen fat images over the same
// half-gigabyte Debian fixture; unpacking it once instead of a dozen times is most of
// their time. Shared by every test of the process, so it is package state.
var unpackedBases sync.Map // v1.Hash → *unpackedBase

type unpackedBase struct {
	once sync.Once
	dir  string
	err  error
}

// minOverlayBase is the size of a first layer worth unpacking once and sharing.
const minOverlayBase = 64 << 20

// UnpackOverlay is Unpack for a fat image over a large first layer: the first layer is
// unpacked once per test process and shared read-only as an overlay's lower
// directory; the layers above are unpacked into dir (the overlay, whose writes go to a
// directory of the test), which is unmounted when the test ends. It falls back to
// Unpack for a small first layer, a single layer, layers above with whiteouts, or
// where overlays cannot be mounted.
func UnpackOverlay(t testing.TB, img v1.Image, dir string) []*tar.Header {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) < 2 || os.Geteuid() != 0 {
		return Unpack(t, img, dir)
	}
	size, err := layers[0].Size()
	if err != nil || size < minOverlayBase {
		return Unpack(t, img, dir)
	}
	top, err := mutate.AppendLayers(empty.Image, layers[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	if hasWhiteouts(t, top) {
		return Unpack(t, img, dir)
	}
	d, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	v, _ := unpackedBases.LoadOrStore(d, &unpackedBase{})
	b := v.(*unpackedBase)
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "slim-test-base-"); b.err != nil {
			return
		}
		base, err := mutate.AppendLayers(empty.Image, layers[0])
		if err != nil {
			b.err = err
			return
		}
		if skipped := Unpack(t, base, b.dir); len(skipped) > 0 {
			b.err = errors.New("the base layer has entries Unpack leaves out")
		}
	})
	if b.err != nil {
		t.Fatalf("unpacking the shared base layer: %v", b.err)
	}
	work := t.TempDir()
	upper, wdir := filepath.Join(work, "upper"), filepath.Join(work, "work")
	for _, p := range []string{upper, wdir, dir} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount("overlay", dir, "overlay", 0, "lowerdir="+b.dir+",upperdir="+upper+",workdir="+wdir); err != nil {
		t.Logf("no overlay (%v): unpacking the whole image", err)
		return Unpack(t, img, dir)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return Unpack(t, top, dir)
}

// hasWhiteouts says whether img's layers delete anything: an overlay of their files
// over the base would not.
func hasWhiteouts(t testing.TB, img v1.Image) bool {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rc.Close()
				t.Fatal(err)
			}
			if strings.HasPrefix(path.Base(h.Name), ".wh.") {
				rc.Close()
				return true
			}
		}
		rc.Close()
	}
	return false
}

// CleanupUnpacked removes the base layers UnpackOverlay shared; TestMain calls it.
func CleanupUnpacked() {
	unpackedBases.Range(func(_, v any) bool {
		if b := v.(*unpackedBase); b.dir != "" {
			os.RemoveAll(b.dir)
		}
		return true
	})
}
