package imagefs_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/slim-dev/slim/internal/imagefs"
	ti "github.com/slim-dev/slim/internal/testimage"
)

// open indexes img and closes the FS when the test ends.
func open(t testing.TB, img v1.Image, opts ...imagefs.Option) *imagefs.FS {
	t.Helper()
	f, err := imagefs.New(context.Background(), img, opts...)
	if err != nil {
		t.Fatalf("indexing image: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("closing fs: %v", err)
		}
	})
	return f
}

// render lists the merged view as one string per entry: "d/" for a
// directory, "f=content" for a file, "l->target" for a symlink, "h=>f=content"
// for a hard link to f.
func render(t testing.TB, f *imagefs.FS) []string {
	t.Helper()
	var out []string
	err := f.Walk(func(p string, h *tar.Header) error {
		switch h.Typeflag {
		case tar.TypeDir:
			out = append(out, p+"/")
		case tar.TypeSymlink:
			out = append(out, p+"->"+h.Linkname)
		case tar.TypeReg, tar.TypeLink:
			b, err := f.ReadFile(p)
			if err != nil {
				return err
			}
			if int64(len(b)) != h.Size {
				return fmt.Errorf("%s: read %d bytes, header says %d", p, len(b), h.Size)
			}
			if h.Typeflag == tar.TypeLink {
				p += "=>" + h.Linkname
			}
			out = append(out, p+"="+string(b))
		default:
			out = append(out, fmt.Sprintf("%s?%c", p, h.Typeflag))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking: %v", err)
	}
	return out
}

func TestMergedView(t *testing.T) {
	type L = []ti.Entry
	lowerD := L{ti.Dir("d"), ti.File("d/a", "1"), ti.Dir("d/sub"), ti.File("d/sub/b", "2"), ti.File("x", "3")}
	tests := []struct {
		name       string
		layers     []L
		want       []string
		noValidate bool // validate.Image refuses duplicate names in a layer
	}{
		{"whiteout file",
			[]L{{ti.File("f", "1"), ti.File("g", "2")}, {ti.Whiteout("f")}},
			[]string{"g=2"}, false},
		{"whiteout dir deletes its tree",
			[]L{lowerD, {ti.Whiteout("d")}},
			[]string{"x=3"}, false},
		{"whiteout of missing path",
			[]L{{ti.File("x", "3")}, {ti.Whiteout("nope"), ti.Whiteout("no/such/thing")}},
			[]string{"x=3"}, false},
		{"opaque marker first",
			[]L{lowerD, {ti.Opaque("d"), ti.Dir("d"), ti.File("d/c", "4")}},
			[]string{"d/", "d/c=4", "x=3"}, false},
		{"opaque marker last",
			[]L{lowerD, {ti.Dir("d"), ti.File("d/c", "4"), ti.Dir("d/sub"), ti.Opaque("d")}},
			[]string{"d/", "d/c=4", "d/sub/", "x=3"}, false},
		{"opaque marker middle",
			[]L{lowerD, {ti.Dir("d"), ti.File("d/c", "4"), ti.Opaque("d"), ti.File("d/e", "5")}},
			[]string{"d/", "d/c=4", "d/e=5", "x=3"}, false},
		{"opaque root",
			[]L{lowerD, {ti.Opaque("."), ti.File("y", "6")}},
			[]string{"y=6"}, false},
		{"opaque dir over a middle layer",
			[]L{lowerD, {ti.File("d/m", "7")}, {ti.Dir("d"), ti.Opaque("d")}, {ti.File("d/n", "8")}},
			[]string{"d/", "d/n=8", "x=3"}, false},
		{"dir whited out then re-created in a later layer starts empty",
			[]L{lowerD, {ti.Whiteout("d")}, {ti.Dir("d"), ti.File("d/new", "9")}},
			[]string{"d/", "d/new=9", "x=3"}, false},
		{"dir whited out and re-created in the same layer, whiteout first",
			[]L{lowerD, {ti.Whiteout("d"), ti.Dir("d"), ti.File("d/new", "9")}},
			[]string{"d/", "d/new=9", "x=3"}, false},
		{"dir whited out and re-created in the same layer, whiteout last",
			[]L{lowerD, {ti.Dir("d"), ti.File("d/new", "9"), ti.Whiteout("d")}},
			[]string{"d/", "d/new=9", "x=3"}, false},
		{"file whited out and re-created in the same layer",
			[]L{{ti.File("f", "old")}, {ti.File("f", "new"), ti.Whiteout("f")}},
			[]string{"f=new"}, false},
		{"file replaced by dir",
			[]L{{ti.File("p", "1")}, {ti.Dir("p"), ti.File("p/x", "2")}},
			[]string{"p/", "p/x=2"}, false},
		{"file replaced by implicit dir",
			[]L{{ti.File("p", "1")}, {ti.File("p/x", "2")}},
			[]string{"p/", "p/x=2"}, false},
		{"dir replaced by file",
			[]L{{ti.Dir("p"), ti.File("p/x", "1"), ti.Dir("p/y")}, {ti.File("p", "2")}},
			[]string{"p=2"}, false},
		{"dir replaced by symlink",
			[]L{{ti.Dir("p"), ti.File("p/x", "1")}, {ti.Symlink("p", "q")}},
			[]string{"p->q"}, false},
		{"dir entry over dir keeps contents",
			[]L{{ti.Dir("p"), ti.File("p/x", "1")}, {{Name: "p", Type: tar.TypeDir, Mode: 0o700}}},
			[]string{"p/", "p/x=1"}, false},
		{"hardlink same layer",
			[]L{{ti.File("f", "abc"), ti.Hardlink("h", "f")}},
			[]string{"f=abc", "h=>f=abc"}, false},
		{"hardlink to a hardlink names the first name",
			[]L{{ti.File("f", "abc"), ti.Hardlink("h", "f")}, {ti.Hardlink("g", "./h")}},
			[]string{"f=abc", "g=>f=abc", "h=>f=abc"}, false},
		{"hardlink target through a symlinked parent is the resolved path",
			[]L{{ti.Dir("usr"), ti.Dir("usr/lib"), ti.File("usr/lib/x", "abc"), ti.Symlink("lib", "usr/lib")}, {ti.Hardlink("y", "lib/x")}},
			[]string{"lib->usr/lib", "usr/", "usr/lib/", "usr/lib/x=abc", "y=>usr/lib/x=abc"}, false},
		{"two links left when the target goes: the first becomes the file",
			[]L{{ti.File("f", "abc"), ti.Hardlink("b", "f"), ti.Hardlink("a", "f")}, {ti.Whiteout("f")}},
			[]string{"a=abc", "b=>a=abc"}, false},
		{"links left when the target goes: the lowest layer's becomes the file",
			[]L{{ti.File("f", "abc"), ti.Hardlink("z", "f")}, {ti.Hardlink("a", "z")}, {ti.File("f", "new")}},
			[]string{"a=>z=abc", "f=new", "z=abc"}, false},
		{"hardlink whose target is overwritten in the same layer keeps the old content",
			[]L{{ti.File("f", "abc"), ti.Hardlink("h", "f"), ti.File("f", "new")}},
			[]string{"f=new", "h=abc"}, true},
		{"hardlink to a symlink is a copy of the symlink",
			[]L{{ti.File("f", "abc"), ti.Symlink("s", "f"), ti.Hardlink("h", "s")}},
			[]string{"f=abc", "h->f", "s->f"}, false},
		{"hardlink earlier layer survives deletion of its target",
			[]L{{ti.Dir("bin"), ti.File("bin/f", "abc")}, {ti.Hardlink("h", "./bin/f")}, {ti.Whiteout("bin/f")}},
			[]string{"bin/", "h=abc"}, false},
		{"hardlink with absolute name, target overwritten later",
			[]L{{ti.File("f", "abc")}, {ti.Hardlink("h", "/f"), ti.File("f", "new")}},
			[]string{"f=new", "h=abc"}, true},
		{"hardlink to nothing or to a directory is dropped",
			[]L{{ti.File("f", "abc"), ti.Hardlink("h", "nope"), ti.Dir("d"), ti.Hardlink("hd", "d")}},
			[]string{"d/", "f=abc"}, false},
		{"implicit parents",
			[]L{{ti.File("a/b/c", "1")}, {ti.File("a/x/y", "2")}},
			[]string{"a/", "a/b/", "a/b/c=1", "a/x/", "a/x/y=2"}, false},
		{"names normalised",
			[]L{{ti.File("./a/b", "1"), ti.File("/c", "2"), {Name: "dd/", Type: tar.TypeDir}, ti.File("dd//e/./f", "3")}},
			[]string{"a/", "a/b=1", "c=2", "dd/", "dd/e/", "dd/e/f=3"}, false},
		{"later entry of the same layer wins",
			[]L{{ti.File("f", "first"), ti.File("f", "second")}},
			[]string{"f=second"}, true},
		{"parent symlink followed while applying a layer",
			[]L{{ti.Dir("usr"), ti.Dir("usr/lib"), ti.Symlink("lib", "usr/lib")}, {ti.File("lib/x", "1")}},
			[]string{"lib->usr/lib", "usr/", "usr/lib/", "usr/lib/x=1"}, false},
		{"aufs metadata ignored",
			[]L{{ti.File(".wh..wh.plnk/1", "x"), ti.File("f", "1")}},
			[]string{"f=1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := ti.Image(t, tt.layers)
			if !tt.noValidate {
				ti.Validate(t, img)
			}
			got := render(t, open(t, img))
			if !slices.Equal(got, tt.want) {
				t.Errorf("merged view:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// Issue 13, item 8: entries climbing out of the root were dropped here (extract,
// recompress) yet kept by rebase. One rule now: refused, the entry named.
func TestUnsafeEntriesRefused(t *testing.T) {
	for _, e := range []ti.Entry{
		ti.File("../evil", "1"), ti.File("a/../../evil2", "2"), ti.File("/../evil3", "3"),
		ti.Whiteout("../x"), ti.Hardlink("e", "../f"), ti.File("d/\xff/../../../evil4", "4"),
	} {
		t.Run(e.Name, func(t *testing.T) {
			img := ti.Image(t, [][]ti.Entry{{ti.File("f", "abc"), e, ti.File("ok", "4")}})
			_, err := imagefs.New(context.Background(), img)
			if !errors.Is(err, imagefs.ErrUnsafeEntry) || !strings.Contains(err.Error(), strconv.Quote(e.Name)) {
				t.Fatalf("got %v, want %v naming %q", err, imagefs.ErrUnsafeEntry, e.Name)
			}
		})
	}
}

func TestHardlinkStat(t *testing.T) {
	f := open(t, ti.Image(t, [][]ti.Entry{
		{{Name: "f", Body: []byte("abcd"), Mode: 0o750, Uid: 7}},
		{ti.Hardlink("h", "f")},
	}))
	tests := []struct {
		name     string
		stat     func(string) (fs.FileInfo, error)
		typ      byte
		linkname string
	}{
		{"stat gives the content", f.Stat, tar.TypeReg, ""},
		{"lstat keeps the link", f.Lstat, tar.TypeLink, "f"},
		{"open file stat gives the content", func(p string) (fs.FileInfo, error) {
			fl, err := f.Open(p)
			if err != nil {
				return nil, err
			}
			defer fl.Close()
			return fl.Stat()
		}, tar.TypeReg, ""},
		{"dir entry info keeps the link", func(p string) (fs.FileInfo, error) {
			des, err := f.ReadDir(".")
			if err != nil {
				return nil, err
			}
			for _, de := range des {
				if de.Name() == p {
					return de.Info()
				}
			}
			return nil, fs.ErrNotExist
		}, tar.TypeLink, "f"},
	}
	for _, tt := range tests {
		fi, err := tt.stat("h")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		h := fi.Sys().(*tar.Header)
		if !fi.Mode().IsRegular() || fi.Size() != 4 || fi.Mode().Perm() != 0o750 || h.Uid != 7 || h.Typeflag != tt.typ || h.Linkname != tt.linkname {
			t.Errorf("%s: h = %v size %d uid %d type %c link %q", tt.name, fi.Mode(), fi.Size(), h.Uid, h.Typeflag, h.Linkname)
		}
		// What extractors do with it: tar.FileInfoHeader keeps a hard link.
		th, err := tar.FileInfoHeader(fi, "")
		if err != nil || th.Typeflag != tt.typ || th.Linkname != tt.linkname {
			t.Errorf("%s: FileInfoHeader = %+v, %v", tt.name, th, err)
		}
	}
	if b, err := f.ReadFile("h"); err != nil || string(b) != "abcd" {
		t.Errorf("ReadFile(h) = %q, %v", b, err)
	}
}

func TestSymlinks(t *testing.T) {
	var chain []ti.Entry
	for i := range 41 {
		chain = append(chain, ti.Symlink(fmt.Sprintf("c%d", i), fmt.Sprintf("c%d", i+1)))
	}
	chain = append(chain, ti.File("c41", "end"))
	f := open(t, ti.Image(t, [][]ti.Entry{
		{ti.Dir("etc"), ti.File("etc/passwd", "pw"), ti.Dir("usr"), ti.Dir("usr/lib"), ti.File("usr/lib/libc.so", "elf")},
		{
			ti.Symlink("abs", "/etc/passwd"),
			ti.Symlink("rel", "etc/passwd"),
			ti.Symlink("etc/up", "../../../../etc/passwd"),
			ti.Symlink("etc/upabs", "/../../etc/passwd"),
			ti.Symlink("dirlink", "etc"),
			ti.Symlink("dirabs", "/usr/lib/"),
			ti.Symlink("lib", "usr/lib"),
			ti.Symlink("usr/lib64", "../lib"), // symlink to a symlink to a dir
			ti.Symlink("chain", "abs"),
			ti.Symlink("loop1", "loop2"),
			ti.Symlink("loop2", "loop1"),
			ti.Symlink("self", "./self"),
			ti.Symlink("dangling", "nope"),
			ti.Symlink("empty", ""),
			ti.Symlink("throughfile", "etc/passwd/x"),
		},
		chain,
	}))
	reads := []struct{ name, want string }{
		{"abs", "pw"},
		{"rel", "pw"},
		{"etc/up", "pw"},
		{"etc/upabs", "pw"},
		{"dirlink/passwd", "pw"},
		{"dirabs/libc.so", "elf"},
		{"usr/lib64/libc.so", "elf"},
		{"dirlink/up", "pw"},
		{"chain", "pw"},
		{"c1", "end"}, // 40 hops
	}
	for _, r := range reads {
		b, err := f.ReadFile(r.name)
		if err != nil || string(b) != r.want {
			t.Errorf("ReadFile(%q) = %q, %v; want %q", r.name, b, err, r.want)
		}
		if fi, err := f.Stat(r.name); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("Stat(%q) = %v, %v; want a regular file", r.name, fi, err)
		}
	}
	links := []struct{ name, target string }{{"abs", "/etc/passwd"}, {"etc/up", "../../../../etc/passwd"}, {"dirlink", "etc"}, {"dirlink/up", "../../../../etc/passwd"}}
	for _, l := range links {
		got, err := f.ReadLink(l.name)
		if err != nil || got != l.target {
			t.Errorf("ReadLink(%q) = %q, %v; want %q", l.name, got, err, l.target)
		}
		fi, err := f.Lstat(l.name)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 || fi.Sys().(*tar.Header).Linkname != l.target {
			t.Errorf("Lstat(%q) = %v, %v; want a symlink", l.name, fi, err)
		}
	}
	if fi, err := f.Lstat("dirlink/passwd"); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("Lstat through a symlinked dir = %v, %v", fi, err)
	}
	if fi, err := f.Stat("dirabs"); err != nil || !fi.IsDir() || fi.Name() != "dirabs" {
		t.Errorf("Stat(dirabs) = %v, %v", fi, err)
	}
	if ents, err := f.ReadDir("lib"); err != nil || len(ents) != 1 || ents[0].Name() != "libc.so" {
		t.Errorf("ReadDir(lib) = %v, %v", ents, err)
	}
	if _, err := f.ReadLink("etc/passwd"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink of a file: %v, want fs.ErrInvalid", err)
	}

	errs := []struct {
		name string
		want error
	}{
		{"loop1", imagefs.ErrLoop},
		{"self", imagefs.ErrLoop},
		{"c0", imagefs.ErrLoop}, // 41 hops
		{"loop1/x", imagefs.ErrLoop},
		{"dangling", fs.ErrNotExist},
		{"empty", fs.ErrNotExist},
		{"throughfile", fs.ErrNotExist},
		{"etc/passwd/x", fs.ErrNotExist},
		{"/etc/passwd", fs.ErrInvalid},
		{"etc/../etc/passwd", fs.ErrInvalid},
	}
	for _, e := range errs {
		if _, err := f.Open(e.name); !errors.Is(err, e.want) {
			t.Errorf("Open(%q) = %v, want %v", e.name, err, e.want)
		}
		var pe *fs.PathError
		if _, err := f.Stat(e.name); !errors.Is(err, e.want) || !errors.As(err, &pe) || pe.Path != e.name {
			t.Errorf("Stat(%q) = %v, want %v in a PathError", e.name, err, e.want)
		}
	}
	if fi, err := f.Lstat("loop1"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(loop1) = %v, %v", fi, err)
	}
}

func TestHeaderInSys(t *testing.T) {
	f := open(t, ti.Image(t, [][]ti.Entry{{
		ti.Dir("bin"),
		{Name: "bin/su", Body: []byte("su"), Mode: 0o4755, Uid: 0, Gid: 0,
			Xattrs: map[string]string{"security.capability": "\x01\x00\x00\x02"}},
		{Name: "bin/wall", Body: []byte("w"), Mode: 0o2755, Uid: 1000, Gid: 5},
		{Name: "tmp", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "bin/ping", Body: []byte("p"), Mode: 0o755, Xattrs: map[string]string{"security.capability": "cap", "user.x": "y"}},
	}}))
	tests := []struct {
		name   string
		mode   fs.FileMode
		uid    int
		gid    int
		xattrs map[string]string
	}{
		{"bin/su", 0o755 | fs.ModeSetuid, 0, 0, map[string]string{"security.capability": "\x01\x00\x00\x02"}},
		{"bin/wall", 0o755 | fs.ModeSetgid, 1000, 5, nil},
		{"tmp", 0o777 | fs.ModeSticky | fs.ModeDir, 0, 0, nil},
		{"bin/ping", 0o755, 0, 0, map[string]string{"security.capability": "cap", "user.x": "y"}},
	}
	for _, tt := range tests {
		fi, err := f.Stat(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		h, ok := fi.Sys().(*tar.Header)
		if !ok {
			t.Fatalf("Sys() = %T, want *tar.Header", fi.Sys())
		}
		if fi.Mode() != tt.mode || h.Uid != tt.uid || h.Gid != tt.gid {
			t.Errorf("%s: mode %v uid %d gid %d, want %v %d %d", tt.name, fi.Mode(), h.Uid, h.Gid, tt.mode, tt.uid, tt.gid)
		}
		for k, v := range tt.xattrs {
			if got := h.PAXRecords["SCHILY.xattr."+k]; got != v {
				t.Errorf("%s: xattr %s = %q, want %q", tt.name, k, got, v)
			}
		}
		if h.Name != tt.name {
			t.Errorf("header name %q, want %q", h.Name, tt.name)
		}
	}
}

func TestImplicitParents(t *testing.T) {
	f := open(t, ti.Image(t, [][]ti.Entry{{ti.File("a/b/c", "1")}}))
	for _, name := range []string{".", "a", "a/b"} {
		fi, err := f.Stat(name)
		if err != nil || !fi.IsDir() {
			t.Errorf("Stat(%q) = %v, %v; want a directory", name, fi, err)
		}
	}
	ents, err := f.ReadDir("a")
	if err != nil || len(ents) != 1 || ents[0].Name() != "b" || !ents[0].IsDir() {
		t.Errorf("ReadDir(a) = %v, %v", ents, err)
	}
	if err := fstest.TestFS(f, "a/b/c"); err != nil {
		t.Error(err)
	}
}

func TestFSConformance(t *testing.T) {
	f := open(t, ti.Image(t, [][]ti.Entry{
		{ti.Dir("etc"), ti.File("etc/passwd", "pw"), ti.File("etc/group", "gr"), ti.Dir("usr/bin"), ti.File("usr/bin/sh", strings.Repeat("x", 100000))},
		{ti.Symlink("bin", "usr/bin"), ti.Whiteout("etc/group"), ti.File("etc/hosts", "h"), ti.Hardlink("usr/bin/bash", "usr/bin/sh")},
	}, ti.WithCompression(ti.Zstd)))
	if err := fstest.TestFS(f, "etc/passwd", "etc/hosts", "usr/bin/sh", "usr/bin/bash", "bin"); err != nil {
		t.Error(err)
	}
}

// A file's content ID is its layer's digest and place: the same in every image that
// has the layer, another for other bytes, none for what has no content.
func TestContentID(t *testing.T) {
	shared := ti.Layer(t, []ti.Entry{ti.File("lib/a", "aaaa"), ti.File("lib/b", "bbbb")})
	one := open(t, ti.ImageFromLayers(t, []v1.Layer{shared, ti.Layer(t, []ti.Entry{ti.File("app", "v1"), ti.Hardlink("lib/h", "lib/a")})}))
	two := open(t, ti.ImageFromLayers(t, []v1.Layer{shared, ti.Layer(t, []ti.Entry{ti.File("app", "v2"), ti.Symlink("cur", "app")})}))
	id := func(f *imagefs.FS, name string) string {
		t.Helper()
		s, ok := f.ContentID(name)
		if !ok {
			t.Fatalf("%s has no content ID", name)
		}
		return s
	}
	if id(one, "lib/a") != id(two, "lib/a") {
		t.Error("a file of a shared layer has different IDs in two images")
	}
	if id(one, "lib/a") == id(one, "lib/b") {
		t.Error("two files of one layer share an ID")
	}
	if id(one, "app") == id(two, "app") {
		t.Error("files of different layers share an ID")
	}
	if id(two, "cur") != id(two, "app") {
		t.Error("a symlink's ID is not its target's")
	}
	if id(one, "lib/h") != id(one, "lib/a") {
		t.Error("a hard link's ID is not the one of the name carrying its content")
	}
	for _, name := range []string{"lib", "missing"} {
		if s, ok := one.ContentID(name); ok {
			t.Errorf("%s has content ID %q, want none", name, s)
		}
	}
}

// Issue 13, item 8: a config whose diff_ids are not the layers' uncompressed digests
// was believed.
func TestDiffIDsChecked(t *testing.T) {
	img := ti.Image(t, [][]ti.Entry{{ti.File("a", "1")}, {ti.File("b", "2")}})
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := cf.RootFS.DiffIDs[1]
	cf.RootFS.DiffIDs[1] = cf.RootFS.DiffIDs[0]
	bad, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	_, err = imagefs.New(context.Background(), bad)
	if !errors.Is(err, imagefs.ErrDiffIDMismatch) || !strings.Contains(err.Error(), want.Hex) || !strings.Contains(err.Error(), "layer 1") {
		t.Fatalf("got %v, want %v naming layer 1 and %s", err, imagefs.ErrDiffIDMismatch, want)
	}
}

// Issue 13: --lenient. The same unsafe entries are dropped instead, one warning each
// naming the entry and its layer, and nothing of them is in the view.
func TestUnsafeEntriesLenient(t *testing.T) {
	ctx := context.Background()
	img := ti.Image(t, [][]ti.Entry{
		{ti.File("f", "abc")},
		{ti.File("../escape", "1"), ti.Hardlink("link", "/../../etc/passwd"), ti.File("ok", "4")},
	})
	if _, err := imagefs.New(ctx, img); !errors.Is(err, imagefs.ErrUnsafeEntry) || !strings.Contains(err.Error(), `"../escape"`) {
		t.Fatalf("without WithLenient: %v, want %v naming \"../escape\"", err, imagefs.ErrUnsafeEntry)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := ls[1].Digest()
	var warnings []string
	fsys, err := imagefs.New(ctx, img, imagefs.WithLenient(func(s string) { warnings = append(warnings, s) }))
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if got, want := render(t, fsys), []string{"f=abc", "ok=4"}; !slices.Equal(got, want) {
		t.Errorf("merged view %q, want %q", got, want)
	}
	if len(warnings) != 2 {
		t.Fatalf("warnings %q, want one for each of 2 entries", warnings)
	}
	for i, name := range []string{`"../escape"`, `"/../../etc/passwd"`} {
		if w := warnings[i]; !strings.Contains(w, name) || !strings.Contains(w, "layer 1 ("+d1.String()+")") || !strings.Contains(w, "dropped") {
			t.Errorf("warning %q does not name %s, layer 1 (%s) and the drop", w, name, d1)
		}
	}

	// CheckLayers (rebase) says which layers had them; FilterUnsafe rewrites those.
	if _, err := imagefs.CheckLayers(ctx, ls); !errors.Is(err, imagefs.ErrUnsafeEntry) {
		t.Fatalf("CheckLayers without WithLenient: %v", err)
	}
	warnings = nil
	dropped, err := imagefs.CheckLayers(ctx, ls, imagefs.WithLenient(func(s string) { warnings = append(warnings, s) }))
	if err != nil || !slices.Equal(dropped, []int{1}) || len(warnings) != 2 {
		t.Fatalf("CheckLayers lenient: dropped %v, %v, warnings %q; want [1], 2 warnings", dropped, err, warnings)
	}
	clean, err := imagefs.FilterUnsafe(ls[1])
	if err != nil {
		t.Fatal(err)
	}
	if dropped, err := imagefs.CheckLayers(ctx, []v1.Layer{clean}); err != nil || dropped != nil {
		t.Fatalf("the filtered layer: dropped %v, %v; want a clean layer", dropped, err)
	}
	rc, err := clean.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"ok"}) {
		t.Errorf("filtered layer holds %q, want [ok]", names)
	}
}
