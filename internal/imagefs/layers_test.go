package imagefs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/slim-dev/slim/internal/imagefs"
	ti "github.com/slim-dev/slim/internal/testimage"
)

func sized(name string, n int) ti.Entry { return ti.File(name, strings.Repeat("x", n)) }

func TestWasted(t *testing.T) {
	layers := [][]ti.Entry{
		{
			sized("big", 100), sized("keep", 10), sized("g", 7),
			ti.Dir("d"), sized("d/x", 30), ti.Dir("d/e"), sized("d/e/y", 40),
			ti.Dir("o"), sized("o/z", 50),
			sized("shared", 9), // hard-linked above, then deleted: still shown, not wasted
			sized("p", 11),     // replaced by a directory
		},
		{
			sized("big", 20),            // overwrites 100 bytes of layer 0
			ti.Whiteout("g"),            // deletes 7
			ti.Whiteout("d"),            // deletes 30+40 through the parent
			ti.Opaque("o"), ti.Dir("o"), // hides 50
			sized("t", 5),                  // deleted by layer 2
			ti.Hardlink("alias", "shared"), // keeps shared's bytes alive
			ti.Dir("p"), sized("p/q", 1),   // 11 of layer 0
		},
		{ti.Whiteout("t"), sized("big", 1), ti.Whiteout("shared")}, // 5 and 20 of layer 1
	}
	want := []int64{100 + 7 + 30 + 40 + 50 + 11, 5 + 20, 0}

	for _, c := range []ti.Compression{ti.Gzip, ti.Zstd, ti.None} {
		t.Run(c.String(), func(t *testing.T) {
			img := ti.Image(t, layers, ti.WithCompression(c))
			ti.Validate(t, img)
			f := open(t, img, imagefs.WithLargest(2))
			got := f.Layers()
			ils, _ := img.Layers()
			for i, l := range got {
				if l.Wasted != want[i] {
					t.Errorf("layer %d wasted %d, want %d", i, l.Wasted, want[i])
				}
				d, _ := ils[i].Digest()
				diff, _ := ils[i].DiffID()
				size, _ := ils[i].Size()
				mt, _ := ils[i].MediaType()
				if l.Digest != d || l.DiffID != diff || l.Size != size || l.MediaType != mt {
					t.Errorf("layer %d = %+v, want digest %s diffid %s size %d type %s", i, l, d, diff, size, mt)
				}
				if u := int64(len(ti.Tar(t, layers[i]))); l.UncompressedSize != u {
					t.Errorf("layer %d uncompressed size %d, want %d", i, l.UncompressedSize, u)
				}
				if l.Entries != len(layers[i]) {
					t.Errorf("layer %d entries %d, want %d", i, l.Entries, len(layers[i]))
				}
			}
			wantFiles := []imagefs.FileStat{{Path: "big", Size: 100}, {Path: "o/z", Size: 50}}
			if !slices.Equal(got[0].Files, wantFiles) {
				t.Errorf("largest files %v, want %v", got[0].Files, wantFiles)
			}
			if b, err := f.ReadFile("alias"); err != nil || len(b) != 9 {
				t.Errorf("alias = %q, %v", b, err)
			}
		})
	}
}

// lyingLayer serves other bytes than its digest says.
type lyingLayer struct {
	v1.Layer
	blob []byte
}

func (l lyingLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.blob)), nil
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLayerErrors(t *testing.T) {
	tarball := ti.Tar(t, []ti.Entry{sized("a", 5000), sized("b", 70000)})
	good := gzipped(t, tarball)
	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	other := gzipped(t, ti.Tar(t, []ti.Entry{sized("c", 1)}))
	goodLayer := static.NewLayer(good, types.OCILayer)

	tests := []struct {
		name  string
		layer v1.Layer
		want  []error
	}{
		{"corrupt gzip", static.NewLayer([]byte("this is not gzip at all"), types.OCILayer), []error{imagefs.ErrCorruptLayer}},
		{"corrupt gzip stream", static.NewLayer(flipped, types.OCILayer), []error{imagefs.ErrCorruptLayer}},
		{"truncated gzip", static.NewLayer(good[:len(good)/2], types.OCILayer), []error{imagefs.ErrCorruptLayer}},
		{"truncated tar", static.NewLayer(tarball[:3000], types.OCIUncompressedLayer), []error{imagefs.ErrCorruptLayer}},
		{"truncated zstd", static.NewLayer([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x04}, types.OCILayerZStd), []error{imagefs.ErrCorruptLayer}},
		{"digest mismatch", lyingLayer{goodLayer, other}, []error{imagefs.ErrDigestMismatch}},
		{"truncated blob", lyingLayer{goodLayer, good[:len(good)-10]}, []error{imagefs.ErrDigestMismatch}},
		{"flipped blob", lyingLayer{goodLayer, flipped}, []error{imagefs.ErrDigestMismatch}},
		{"trailing garbage", lyingLayer{goodLayer, append(slices.Clone(good), "junk"...)}, []error{imagefs.ErrDigestMismatch}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			okLayer := ti.Layer(t, []ti.Entry{ti.File("ok", "1")})
			img := ti.ImageFromLayers(t, []v1.Layer{okLayer, tt.layer})
			_, err := imagefs.New(context.Background(), img)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("error %q does not wrap %q", err, want)
				}
			}
			d, _ := tt.layer.Digest()
			if !strings.Contains(err.Error(), d.String()) || !strings.Contains(err.Error(), "layer 1") {
				t.Errorf("error %q does not name layer 1 (%s)", err, d)
			}
		})
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := imagefs.New(ctx, ti.Image(t, [][]ti.Entry{{ti.File("a", "1")}}))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("New with a canceled context: %v", err)
	}
}

func TestCompressionsIndexTheSame(t *testing.T) {
	layers := [][]ti.Entry{
		{ti.Dir("d"), sized("d/a", 3000), sized("d/b", 10), ti.Symlink("l", "d/a")},
		{ti.Whiteout("d/b"), ti.Opaque("d"), ti.Dir("d"), sized("d/c", 100000), ti.Hardlink("h", "d/c")},
	}
	var first []string
	var firstLayers []imagefs.LayerIndex
	for _, opts := range [][]ti.Option{
		{ti.WithCompression(ti.Gzip)},
		{ti.WithCompression(ti.Zstd)},
		{ti.WithCompression(ti.None)},
		{ti.WithDocker()},
		{ti.WithDocker(), ti.WithCompression(ti.None)},
	} {
		img := ti.Image(t, layers, opts...)
		f := open(t, img)
		got := render(t, f)
		ls := f.Layers()
		if first == nil {
			first, firstLayers = got, ls
			continue
		}
		if !slices.Equal(got, first) {
			t.Errorf("%v: merged view differs:\n%q\n%q", opts, got, first)
		}
		for i := range ls {
			a, b := ls[i], firstLayers[i]
			if a.DiffID != b.DiffID || a.UncompressedSize != b.UncompressedSize || a.Entries != b.Entries || a.Wasted != b.Wasted || !slices.Equal(a.Files, b.Files) {
				t.Errorf("layer %d differs:\n%+v\n%+v", i, a, b)
			}
		}
	}
}

// countingLayer counts how often its blob is opened.
type countingLayer struct {
	v1.Layer
	opens *atomic.Int32
}

func (l countingLayer) Compressed() (io.ReadCloser, error) {
	l.opens.Add(1)
	return l.Layer.Compressed()
}

func TestLazyReadsInTarOrderAreOnePass(t *testing.T) {
	var entries []ti.Entry
	var names []string
	for i := range 50 {
		name := string(rune('a'+i%26)) + strings.Repeat("z", i/26)
		entries = append(entries, sized(name, 1000+i))
		names = append(names, name)
	}
	// A file longer than a cursor's tail, last in the layer, pushes the small ones
	// out of it.
	entries = append(entries, sized("~big", imagefs.CursorTail+1))
	opens := new(atomic.Int32)
	img := ti.ImageFromLayers(t, []v1.Layer{countingLayer{ti.Layer(t, entries), opens}})
	f := open(t, img)
	if n := opens.Load(); n != 1 {
		t.Fatalf("indexing opened the blob %d times, want 1", n)
	}
	for _, name := range names {
		if b, err := f.ReadFile(name); err != nil || len(b) < 1000 {
			t.Fatalf("ReadFile(%s) = %d bytes, %v", name, len(b), err)
		}
	}
	if n := opens.Load(); n != 2 {
		t.Errorf("reading in tar order opened the blob %d times, want 2", n)
	}
	// Going back a little is served from what the cursor passed.
	if b, err := f.ReadFile(names[40]); err != nil || len(b) != 1040 {
		t.Fatalf("ReadFile(%s) = %d bytes, %v", names[40], len(b), err)
	}
	if n := opens.Load(); n != 2 {
		t.Errorf("reading a little backwards opened the blob %d times in all, want 2", n)
	}
	// Going back further than a cursor keeps needs a new pass each time.
	if b, err := f.ReadFile("~big"); err != nil || len(b) != imagefs.CursorTail+1 {
		t.Fatalf("ReadFile(~big) = %d bytes, %v", len(b), err)
	}
	if _, err := f.ReadFile(names[0]); err != nil {
		t.Fatal(err)
	}
	if n := opens.Load(); n != 3 {
		t.Errorf("reading backwards opened the blob %d times in all, want 3", n)
	}
	// Opening and stat-ing reads nothing.
	fl, err := f.Open(names[10])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fl.Stat(); err != nil {
		t.Fatal(err)
	}
	fl.Close()
	if n := opens.Load(); n != 3 {
		t.Errorf("open without read opened the blob: %d", n)
	}
}

func TestConcurrentReads(t *testing.T) {
	var layers [][]ti.Entry
	for l := range 3 {
		var entries []ti.Entry
		for i := range 20 {
			entries = append(entries, sized(string(rune('a'+l))+"/"+string(rune('a'+i)), 100*i+l))
		}
		layers = append(layers, entries)
	}
	f := open(t, ti.Image(t, layers))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			err := f.Walk(func(p string, h *tar.Header) error {
				if h.Typeflag != tar.TypeReg {
					return nil
				}
				b, err := f.ReadFile(p)
				if err == nil && int64(len(b)) != h.Size {
					t.Errorf("goroutine %d: %s: %d bytes, want %d", g, p, len(b), h.Size)
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
