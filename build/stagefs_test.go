package build

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/moby/buildkit/cache/util"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// dirRef is a gateway.Reference over a local directory, answering with the
// same code the daemon runs for a solved reference (cache/util), so the
// stage file system is tested without a daemon.
type dirRef struct {
	root    string
	state   llb.State    // what ToState gives (default: scratch)
	reads   atomic.Int64 // the stage file system fetches ahead concurrently
	fetched atomic.Int64 // bytes
}

func (r *dirRef) ToState() (llb.State, error) {
	if r.state.Output() == nil {
		return llb.Scratch(), nil
	}
	return r.state, nil
}
func (r *dirRef) Evaluate(ctx context.Context) error { return nil }
func (r *dirRef) ReadFile(ctx context.Context, req gateway.ReadRequest) ([]byte, error) {
	r.reads.Add(1)
	var rng *util.FileRange
	if req.Range != nil {
		rng = &util.FileRange{Offset: req.Range.Offset, Length: req.Range.Length}
	}
	b, err := util.ReadFile(ctx, r.root, util.ReadRequest{Filename: req.Filename, Range: rng}, 16<<20)
	r.fetched.Add(int64(len(b)))
	return b, err
}
func (r *dirRef) StatFile(ctx context.Context, req gateway.StatRequest) (*fstypes.Stat, error) {
	return util.StatFile(ctx, r.root, req.Path)
}
func (r *dirRef) ReadDir(ctx context.Context, req gateway.ReadDirRequest) ([]*fstypes.Stat, error) {
	return util.ReadDir(ctx, r.root, util.ReadDirRequest{Path: req.Path, IncludePattern: req.IncludePattern})
}

func mkTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "out/d/e"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(root, "out/a"), []byte("hi\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "out/d/e/f"), []byte("e\n"), 0o755))
	for link, target := range map[string]string{
		"out/link":    "a",
		"out/abslink": "/out/a",
		"out/up":      "../../../..",
		"out/dlink":   "d/e",
		"out/rel":     "dlink/../../a", // ".." from the real dir of dlink's target: out/a
		"out/loop1":   "loop2",
		"out/loop2":   "loop1",
		"out/dangle":  "nothing",
	} {
		must(os.Symlink(target, filepath.Join(root, link)))
	}
	return root
}

func TestStageFS(t *testing.T) {
	root := mkTree(t)
	sfs := newStageFS(t.Context(), Stage{Name: "x"}, "linux/amd64", &dirRef{root: root}, nil)

	read := func(name string) string {
		t.Helper()
		b, err := fs.ReadFile(sfs, name)
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		return string(b)
	}
	for name, want := range map[string]string{
		"out/a":               "hi\n",
		"out/link":            "hi\n",
		"out/abslink":         "hi\n",
		"out/up/etc/passwd":   "root:x:0:0::/:/bin/sh\n",
		"out/up/out/up/out/a": "hi\n",
		"out/dlink/f":         "e\n",
		"out/rel":             "hi\n",
	} {
		if got := read(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if target, err := sfs.ReadLink("out/link"); err != nil || target != "a" {
		t.Errorf("ReadLink(out/link) = %q, %v", target, err)
	}
	if target, err := sfs.ReadLink("out/up"); err != nil || target != "../../../.." {
		t.Errorf("ReadLink(out/up) = %q, %v", target, err)
	}
	if _, err := sfs.ReadLink("out/a"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink(regular) = %v, want ErrInvalid", err)
	}
	fi, err := sfs.Lstat("out/link")
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 || fi.Name() != "link" {
		t.Errorf("Lstat(out/link) = %v, %v", fi, err)
	}
	fi, err = sfs.Stat("out/link")
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != 3 {
		t.Errorf("Stat(out/link) = %v, %v", fi, err)
	}
	if _, ok := fi.Sys().(*fstypes.Stat); !ok {
		t.Errorf("Sys() = %T", fi.Sys())
	}
	if _, err := sfs.Open("out/loop1"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("Open(loop) = %v, want ELOOP", err)
	}
	if _, err := sfs.Open("out/dangle"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(dangling) = %v, want ErrNotExist", err)
	}
	if _, err := sfs.Lstat("out/dangle"); err != nil {
		t.Errorf("Lstat(dangling) = %v", err)
	}
	if _, err := sfs.Open("out/a/x"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("Open(file/x) = %v, want ENOTDIR", err)
	}
	if _, err := sfs.Open("/out/a"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open(/out/a) = %v, want ErrInvalid", err)
	}
	ents, err := sfs.ReadDir("out/dlink")
	if err != nil || len(ents) != 1 || ents[0].Name() != "f" {
		t.Errorf("ReadDir(out/dlink) = %v, %v", ents, err)
	}
	// fstest.TestFS checks that Open, ReadDir, Stat, Seek and ReadFile agree;
	// it wants every symlink to resolve, so it runs on a subtree without the
	// loops and the dangling link.
	sub, err := fs.Sub(sfs, "out/d")
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(sub, "e/f"); err != nil {
		t.Error(err)
	}
}

func TestStageFSChunks(t *testing.T) {
	root := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), (10<<20)/16+3)
	if err := os.WriteFile(filepath.Join(root, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := &dirRef{root: root}
	sfs := newStageFS(t.Context(), Stage{}, "", ref, nil)
	f, err := sfs.Open("big")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got bytes.Buffer
	if _, err := io.Copy(&got, f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), big) {
		t.Fatalf("read %d bytes, differ from the %d written", got.Len(), len(big))
	}
	// Every byte crosses once, in few round trips.
	if got := ref.fetched.Load(); got != int64(len(big)) {
		t.Errorf("%d bytes fetched for a %d-byte file", got, len(big))
	}
	if got, most := ref.reads.Load(), int64(4+len(big)/fetchWindow+1); got > most {
		t.Errorf("%d reads, want at most %d", got, most)
	}
	p := make([]byte, 10)
	n, err := f.(io.ReaderAt).ReadAt(p, int64(len(big)-4))
	if n != 4 || err != io.EOF || string(p[:n]) != "cdef" {
		t.Errorf("ReadAt tail = %d %v %q", n, err, p[:n])
	}

	// A magic-number sniff costs one small round trip, not a chunk.
	sniff := &dirRef{root: root}
	f, err = newStageFS(t.Context(), Stage{}, "", sniff, nil).Open("big")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.ReadFull(f, p[:4]); err != nil || string(p[:4]) != "0123" {
		t.Fatalf("sniff = %q, %v", p[:4], err)
	}
	if got := sniff.fetched.Load(); got > firstWindow {
		t.Errorf("a 4-byte sniff fetched %d bytes", got)
	}
	// Reading on from a seek elsewhere gives the right bytes.
	if _, err := f.(io.Seeker).Seek(int64(len(big)-20), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(rest, big[len(big)-20:]) {
		t.Errorf("read after seek = %q, %v", rest, err)
	}
}

// Small reads are served from pages kept per stage: an ELF parse reads its header,
// program headers and section headers, often through another open than the sniff
// that read the magic number, and each fetch is a gateway round trip.
func TestStageFSPages(t *testing.T) {
	root := t.TempDir()
	big := make([]byte, 3*pageSize+100)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(root, "prog"), big, 0o755); err != nil {
		t.Fatal(err)
	}
	ref := &dirRef{root: root}
	sfs := newStageFS(t.Context(), Stage{}, "", ref, nil)
	open := func() fs.File {
		t.Helper()
		f, err := sfs.Open("prog")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	magic := make([]byte, 4)
	if _, err := io.ReadFull(open(), magic); err != nil || !bytes.Equal(magic, big[:4]) {
		t.Fatalf("sniff = %x, %v", magic, err)
	}
	ra := open().(io.ReaderAt)
	readAt := func(off, n int) {
		t.Helper()
		p := make([]byte, n)
		got, err := ra.ReadAt(p, int64(off))
		if end := min(off+n, len(big)); got != end-off || !bytes.Equal(p[:got], big[off:end]) {
			t.Fatalf("ReadAt(%d, %d) = %d bytes, %v: wrong content", off, n, got, err)
		}
		if off+n > len(big) && err != io.EOF {
			t.Errorf("ReadAt(%d, %d) past the end: err %v, want io.EOF", off, n, err)
		}
	}
	readAt(0, 64)    // the header: the sniff's page
	readAt(64, 56*3) // program headers
	if got := ref.reads.Load(); got != 1 {
		t.Errorf("%d fetches for reads inside the first page, want the sniff's 1", got)
	}
	readAt(len(big)-90, 90)   // section headers at the end
	readAt(len(big)-200, 150) // and around them
	readAt(pageSize-10, 20)   // across two pages, the first cached
	if got := ref.reads.Load(); got != 4 {
		t.Errorf("%d fetches, want 4: the sniff's page, the last, the one before it, the second", got)
	}
	readAt(len(big)-50, 100) // past the end
	// Pages are shared with sequential reads: the packer's read of the whole file
	// after the parse gets the right bytes.
	all, err := io.ReadAll(open())
	if err != nil || !bytes.Equal(all, big) {
		t.Errorf("whole read after the parse: %d bytes, %v", len(all), err)
	}
}
