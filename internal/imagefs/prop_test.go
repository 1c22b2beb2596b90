package imagefs_test

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"path"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/limits"
	ti "github.com/slim-dev/slim/internal/testimage"
)

// entryDesc is what the property test compares for one path.
type entryDesc struct {
	typ  byte
	mode int64
	size int64
	link string
	sum  [32]byte
}

func (e entryDesc) String() string {
	return fmt.Sprintf("type %c mode %o size %d link %q sum %x", e.typ, e.mode, e.size, e.link, e.sum[:4])
}

// flatten is the reference: ggcr's own flattening of the image.
func flatten(t *testing.T, img v1.Image) map[string]entryDesc {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]entryDesc{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading mutate.Extract: %v", err)
		}
		e := entryDesc{typ: h.Typeflag, mode: h.Mode & 0o7777, link: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			hash := sha256.New()
			n, err := io.Copy(hash, tr)
			if err != nil {
				t.Fatal(err)
			}
			e.size = n
			copy(e.sum[:], hash.Sum(nil))
		} else if h.Typeflag != tar.TypeSymlink {
			e.link = ""
		}
		out[path.Clean(h.Name)] = e
	}
}

func merged(t *testing.T, f *imagefs.FS) map[string]entryDesc {
	t.Helper()
	out := map[string]entryDesc{}
	err := f.Walk(func(p string, h *tar.Header) error {
		e := entryDesc{typ: h.Typeflag, mode: h.Mode & 0o7777, link: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			b, err := f.ReadFile(p)
			if err != nil {
				return err
			}
			e.size, e.sum = int64(len(b)), sha256.Sum256(b)
			if e.size != h.Size {
				return fmt.Errorf("%s: header size %d, read %d", p, h.Size, e.size)
			}
		}
		out[p] = e
		return nil
	})
	if err != nil {
		t.Fatalf("walking: %v", err)
	}
	return out
}

func TestMatchesExtract(t *testing.T) {
	compressions := []ti.Compression{ti.Gzip, ti.Zstd, ti.None}
	for seed := range int64(50) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewSource(seed))
			imgs := map[string]v1.Image{
				"testimage": ti.Image(t, ti.RandomLayers(r), ti.WithCompression(compressions[seed%3])),
			}
			rimg, err := random.Image(int64(1+r.Intn(5000)), int64(1+r.Intn(4)), random.WithSource(rand.NewSource(seed)))
			if err != nil {
				t.Fatal(err)
			}
			imgs["random"] = rimg
			for name, img := range imgs {
				want := flatten(t, img)
				got := merged(t, open(t, img))
				for p, w := range want {
					if g, ok := got[p]; !ok {
						t.Errorf("%s: %s missing, want %v", name, p, w)
					} else if g != w {
						t.Errorf("%s: %s is %v, want %v", name, p, g, w)
					}
				}
				for p, g := range got {
					if _, ok := want[p]; !ok {
						t.Errorf("%s: %s (%v) should not exist", name, p, g)
					}
				}
				if t.Failed() {
					if ls, err := img.Layers(); err == nil {
						for i, l := range ls {
							t.Logf("layer %d: %v", i, tarNames(t, l))
						}
					}
					return
				}
			}
		})
	}
}

func tarNames(t *testing.T, l v1.Layer) []string {
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return out
		}
		out = append(out, h.Name)
	}
}

// FuzzIndexLayer feeds arbitrary bytes as an uncompressed layer, twice, so
// whiteouts and opaque markers of the second copy act on the first. Nothing
// may panic; whatever indexes must be walkable and readable.
func FuzzIndexLayer(f *testing.F) {
	seeds := [][]ti.Entry{
		{ti.File("a", "1"), ti.Dir("d"), ti.File("d/x", "22"), ti.Symlink("l", "../../d/x"), ti.Hardlink("h", "d/x")},
		{ti.Whiteout("a"), ti.Opaque("d"), ti.Dir("d/e"), ti.Symlink("loop", "loop"), ti.File("./p/../q", "x")},
		{{Name: "/abs/file", Body: []byte("b"), Mode: 0o4755, Xattrs: map[string]string{"user.a": "b"}}, ti.Hardlink("x", "/abs/file")},
		{ti.File("../escape", "e"), ti.Hardlink("h2", "../escape"), ti.Symlink("s", "/")},
	}
	for _, s := range seeds {
		f.Add(ti.Tar(f, s))
	}
	f.Add([]byte("not a tar"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		l := static.NewLayer(data, types.OCIUncompressedLayer)
		img := ti.ImageFromLayers(t, []v1.Layer{l, l})
		fsys, err := imagefs.New(context.Background(), img)
		if err != nil {
			if !errors.Is(err, imagefs.ErrCorruptLayer) && !errors.Is(err, imagefs.ErrUnsafeEntry) && !errors.Is(err, limits.ErrExceeded) {
				t.Fatalf("error wraps none of ErrCorruptLayer, ErrUnsafeEntry, limits.ErrExceeded: %v", err)
			}
			return
		}
		defer fsys.Close()
		err = fsys.Walk(func(p string, h *tar.Header) error {
			fsys.Stat(p)
			fsys.Lstat(p)
			fsys.ReadLink(p)
			fsys.ReadDir(p)
			fl, err := fsys.Open(p)
			if err != nil {
				return nil // dangling symlinks, loops
			}
			defer fl.Close()
			if h.Typeflag == tar.TypeReg {
				if _, err := io.Copy(io.Discard, io.LimitReader(fl, 1<<20)); err != nil {
					return fmt.Errorf("reading %s: %w", p, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
