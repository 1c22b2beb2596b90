package tarball

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slim-dev/slim/internal/testimage"
)

func TestWriteTarNormalisesHeaders(t *testing.T) {
	long := strings.Repeat("d/", 60) + "file-with-a-long-name" // 141 bytes: USTAR prefix split
	veryLong := strings.Repeat("x", 120) + "/" + strings.Repeat("y", 120)
	xattr := file("bin/ping", "ping", 0o755)
	xattr.Header.PAXRecords = map[string]string{
		"SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
		"atime":                            "12345.6",
		"SCHILY.dev":                       "42",
	}
	bigUID := file("big-uid", "u", 0o644)
	bigUID.Header.Uid = 1 << 22
	setuid := file("/usr/bin/su", "su", 0o4755|0o100000) // type bits in mode, as some tools write
	setuid.Header.AccessTime = time.Now()
	setuid.Header.ChangeTime = time.Now()
	entries := []Entry{
		file("./etc/hostname", "slim\n", 0o644),
		dir("/etc", 0o755),
		dir("tmp/", 0o1777),
		setuid,
		xattr,
		bigUID,
		file(long, "long", 0o644),
		file(veryLong, "very long", 0o644),
		symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
		hardlink("usr/bin/su-link", "/usr/bin/su"),
	}
	got := testimage.ReadTar(t, bytes.NewReader(writeTarBytes(t, entries)))
	byName := map[string]*tar.Header{}
	for _, e := range got {
		byName[e.Name] = e.Header
		if e.Uname != "" || e.Gname != "" {
			t.Errorf("%s: uname/gname %q/%q kept", e.Name, e.Uname, e.Gname)
		}
		if !e.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v, want the epoch", e.Name, e.ModTime)
		}
		if !e.AccessTime.IsZero() || !e.ChangeTime.IsZero() {
			t.Errorf("%s: atime/ctime kept", e.Name)
		}
		if _, ok := e.PAXRecords["atime"]; ok {
			t.Errorf("%s: atime PAX record kept", e.Name)
		}
		if _, ok := e.PAXRecords["SCHILY.dev"]; ok {
			t.Errorf("%s: SCHILY.dev PAX record kept", e.Name)
		}
	}
	tests := []struct {
		name   string
		typ    byte
		mode   int64
		format tar.Format
		link   string
	}{
		{"etc/", tar.TypeDir, 0o755, tar.FormatUSTAR, ""},
		{"etc/hostname", tar.TypeReg, 0o644, tar.FormatUSTAR, ""},
		{"etc/localtime", tar.TypeSymlink, 0o777, tar.FormatUSTAR, "/usr/share/zoneinfo/UTC"},
		{"tmp/", tar.TypeDir, 0o1777, tar.FormatUSTAR, ""},
		{"usr/bin/su", tar.TypeReg, 0o4755, tar.FormatUSTAR, ""},
		{"usr/bin/su-link", tar.TypeLink, 0o4755, tar.FormatUSTAR, "usr/bin/su"},
		{"bin/ping", tar.TypeReg, 0o755, tar.FormatPAX, ""},
		{"big-uid", tar.TypeReg, 0o644, tar.FormatPAX, ""},
		{long, tar.TypeReg, 0o644, tar.FormatUSTAR, ""},
		{veryLong, tar.TypeReg, 0o644, tar.FormatPAX, ""},
	}
	for _, tt := range tests {
		h, ok := byName[tt.name]
		if !ok {
			t.Errorf("%q missing from %q", tt.name, names(got))
			continue
		}
		if h.Typeflag != tt.typ || h.Mode != tt.mode || h.Linkname != tt.link {
			t.Errorf("%q: type %q mode %o link %q, want %q %o %q", tt.name, h.Typeflag, h.Mode, h.Linkname, tt.typ, tt.mode, tt.link)
		}
		if h.Format != tt.format {
			t.Errorf("%q: format %v, want %v", tt.name, h.Format, tt.format)
		}
	}
	if got := byName["bin/ping"].PAXRecords["SCHILY.xattr.security.capability"]; got != "\x01\x00\x00\x02" {
		t.Errorf("security.capability xattr = %q, want it kept", got)
	}
	if byName["big-uid"].Uid != 1<<22 {
		t.Errorf("big uid = %d, want %d", byName["big-uid"].Uid, 1<<22)
	}
}

func TestWriteTarOrderIsCanonical(t *testing.T) {
	entries := []Entry{
		dir("a", 0o755),
		file("a.txt", "x", 0o644),
		file("a/b", "b", 0o644),
		dir("a/c", 0o755),
		file("a/c/d", "d", 0o644),
		file("a-b", "-", 0o644),
		file("B", "upper", 0o644),
	}
	// Directories first, parents before children; then files by kind (extension)
	// and name, so that similar content compresses together.
	want := []string{"a/", "a/c/", "B", "a-b", "a/b", "a/c/d", "a.txt"}
	first := writeTarBytes(t, entries)
	if got := names(testimage.ReadTar(t, bytes.NewReader(first))); !slices.Equal(got, want) {
		t.Fatalf("order = %q, want %q", got, want)
	}
	perms := [][]int{{6, 5, 4, 3, 2, 1, 0}, {3, 0, 6, 1, 5, 2, 4}, {4, 2, 0, 6, 1, 3, 5}}
	for _, p := range perms {
		shuffled := make([]Entry, len(p))
		for i, j := range p {
			shuffled[i] = entries[j]
		}
		if got := writeTarBytes(t, shuffled); !bytes.Equal(got, first) {
			t.Errorf("order %v gives different bytes", p)
		}
	}
}

func TestWriteTarParents(t *testing.T) {
	entries := []Entry{file("usr/local/bin/app", "app", 0o755), dir("usr", 0o700)}
	tests := []struct {
		name string
		opts []Option
		want []string
	}{
		{"not invented", nil, []string{"usr/", "usr/local/bin/app"}},
		{"with parents", []Option{WithParents()}, []string{"usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testimage.ReadTar(t, bytes.NewReader(writeTarBytes(t, entries, tt.opts...)))
			if !slices.Equal(names(got), tt.want) {
				t.Fatalf("names = %q, want %q", names(got), tt.want)
			}
			for _, e := range got {
				h := e.Header
				switch h.Name {
				case "usr/":
					if h.Mode != 0o700 {
						t.Errorf("existing usr/ mode changed to %o", h.Mode)
					}
				case "usr/local/", "usr/local/bin/":
					if h.Mode != 0o755 || h.Uid != 0 || h.Gid != 0 || h.Typeflag != tar.TypeDir {
						t.Errorf("added %s: type %q mode %o uid %d gid %d, want dir 0755 root:root", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid)
					}
				}
			}
		})
	}
}

func TestWriteTarModTime(t *testing.T) {
	epoch := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	old := file("old", "o", 0o644)
	old.Header.ModTime = time.Date(2010, 1, 1, 0, 0, 0, 500, time.UTC)
	newer := file("new", "n", 0o644) // 2024
	tests := []struct {
		name    string
		opts    []Option
		wantOld time.Time
		wantNew time.Time
	}{
		{"default epoch 0", nil, time.Unix(0, 0), time.Unix(0, 0)},
		{"source date epoch clamps newer only", []Option{WithSourceDateEpoch(epoch)}, time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), epoch},
		{"preserve", []Option{WithPreserveMTime()}, time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testimage.ReadTar(t, bytes.NewReader(writeTarBytes(t, []Entry{old, newer}, tt.opts...)))
			for _, e := range got {
				want := tt.wantOld
				if e.Name == "new" {
					want = tt.wantNew
				}
				if !e.ModTime.Equal(want) {
					t.Errorf("%s: mtime %v, want %v", e.Name, e.ModTime, want)
				}
				if e.Format != tar.FormatUSTAR {
					t.Errorf("%s: format %v, want USTAR (whole seconds)", e.Name, e.Format)
				}
			}
		})
	}
}

func TestWriteTarHardlinkBeforeTarget(t *testing.T) {
	// The link sorts before the file it names; the writer must swap them so an
	// extractor sees the content first.
	target := file("z/target", "shared content", 0o640)
	target.Header.Uid = 7
	entries := []Entry{
		dir("a", 0o755), dir("z", 0o755), dir("m", 0o755),
		target,
		hardlink("a/link", "z/target"),
		hardlink("m/chain", "a/link"),
	}
	got := testimage.ReadTar(t, bytes.NewReader(writeTarBytes(t, entries)))
	want := []struct{ name, content, link string }{
		{"a/", "", ""},
		{"m/", "", ""},
		{"z/", "", ""},
		{"m/chain", "shared content", ""},
		{"a/link", "", "m/chain"},
		{"z/target", "", "m/chain"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %q", names(got))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || string(g.Body) != w.content || g.Linkname != w.link {
			t.Errorf("entry %d = %q %q link %q, want %q %q link %q", i, g.Name, string(g.Body), g.Linkname, w.name, w.content, w.link)
		}
	}
	if got[3].Typeflag != tar.TypeReg || got[3].Mode != 0o640 || got[3].Uid != 7 {
		t.Errorf("content entry %+v lost the target's metadata", got[3].Header)
	}
	// Naming either path as the original gives the same layer.
	swapped := []Entry{
		dir("a", 0o755), dir("z", 0o755), dir("m", 0o755),
		{Header: &tar.Header{Typeflag: tar.TypeReg, Name: "a/link", Size: 14, Mode: 0o640, Uid: 7}, Open: target.Open},
		hardlink("z/target", "a/link"),
		hardlink("m/chain", "z/target"),
	}
	if !bytes.Equal(writeTarBytes(t, entries), writeTarBytes(t, swapped)) {
		t.Error("choosing the other name as original changes the tar")
	}
}

func TestWriteTarStreamsLargeContent(t *testing.T) {
	const size = 64 << 20
	e := Entry{
		Header: &tar.Header{Typeflag: tar.TypeReg, Name: "big", Size: size, Mode: 0o644},
		Open:   func() (io.ReadCloser, error) { return io.NopCloser(io.LimitReader(zeros{}, size)), nil },
	}
	var n countWriter
	allocs := testing.AllocsPerRun(1, func() {
		n = 0
		if err := WriteTar(&n, []Entry{e}); err != nil {
			t.Fatal(err)
		}
	})
	if n < size {
		t.Fatalf("wrote %d bytes, want more than %d", n, size)
	}
	// Holding the file would take one allocation of 64 MiB or many growing ones;
	// streaming takes a fixed handful whatever the size.
	if allocs > 100 {
		t.Errorf("%v allocations for one streamed file", allocs)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestWriteTarRefusesBadInput(t *testing.T) {
	failingOpen := file("f", "x", 0o644)
	failingOpen.Open = func() (io.ReadCloser, error) { return nil, errors.New("permission denied") }
	tests := []struct {
		name    string
		entries []Entry
		wantErr error
	}{
		{"dotdot", []Entry{file("../etc/passwd", "x", 0o644)}, ErrUnsafePath},
		{"dotdot inside", []Entry{file("a/../../etc/passwd", "x", 0o644)}, ErrUnsafePath},
		{"absolute dotdot", []Entry{file("/../etc/passwd", "x", 0o644)}, ErrUnsafePath},
		{"hardlink escaping", []Entry{hardlink("a", "../etc/shadow")}, ErrUnsafePath},
		{"absolute hardlink escaping", []Entry{hardlink("a", "/../../etc/shadow")}, ErrUnsafePath},
		{"hardlink to itself", []Entry{hardlink("a", "./a")}, ErrUnsafePath},
		{"under a symlink", []Entry{symlink("etc", "/host/etc"), file("etc/passwd", "x", 0o644)}, ErrUnsafePath},
		{"hardlink through a symlink", []Entry{symlink("etc", "/host/etc"), hardlink("shadow", "etc/shadow")}, ErrUnsafePath},
		{"under a file", []Entry{file("etc", "x", 0o644), file("etc/passwd", "x", 0o644)}, ErrUnsafePath},
		{"root as file", []Entry{file("/", "x", 0o644)}, ErrUnsafePath},
		{"duplicate", []Entry{file("a", "1", 0o644), file("./a", "2", 0o644)}, ErrDuplicate},
		{"duplicate file and dir", []Entry{file("a", "1", 0o644), dir("a/", 0o755)}, ErrDuplicate},
		{"content short", []Entry{{Header: &tar.Header{Typeflag: tar.TypeReg, Name: "s", Size: 10}, Open: file("s", "abc", 0).Open}}, ErrSizeMismatch},
		{"content long", []Entry{{Header: &tar.Header{Typeflag: tar.TypeReg, Name: "l", Size: 2}, Open: file("l", "abc", 0).Open}}, ErrSizeMismatch},
		{"no content", []Entry{{Header: &tar.Header{Typeflag: tar.TypeReg, Name: "n", Size: 2}}}, ErrSizeMismatch},
		{"negative size", []Entry{{Header: &tar.Header{Typeflag: tar.TypeReg, Name: "n", Size: -1}}}, ErrSizeMismatch},
		{"global header", []Entry{{Header: &tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "g"}}}, ErrUnsupportedType},
		{"gnu sparse", []Entry{{Header: &tar.Header{Typeflag: tar.TypeGNUSparse, Name: "g"}}}, ErrUnsupportedType},
		{"nil header", []Entry{{}}, ErrUnsupportedType},
		{"hardlink to dir", []Entry{dir("d", 0o755), hardlink("l", "d")}, ErrUnsupportedType},
		{"hardlink cycle", []Entry{hardlink("a", "b"), hardlink("b", "a")}, ErrUnsafePath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteTar(io.Discard, tt.entries)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("WriteTar() error = %v, want %v", err, tt.wantErr)
			}
		})
	}
	t.Run("open fails", func(t *testing.T) {
		err := WriteTar(io.Discard, []Entry{failingOpen})
		if err == nil || !strings.Contains(err.Error(), `opening content of "f"`) {
			t.Fatalf("WriteTar() error = %v, want it to name the file being opened", err)
		}
	})
}

func TestWriteTarDoesNotModifyInput(t *testing.T) {
	e := file("/a/b", "x", 0o100644)
	before := *e.Header
	writeTarBytes(t, []Entry{e})
	if e.Header.Name != before.Name || e.Header.Mode != before.Mode || !e.Header.ModTime.Equal(before.ModTime) || e.Header.Uname != before.Uname {
		t.Errorf("header changed from %+v to %+v", before, *e.Header)
	}
}

func TestComparePaths(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"a", "a/b", -1},
		{"a/", "a.txt", -1}, // the directory and its subtree come before a sibling
		{"a/z", "a.txt", -1},
		{"a-b", "a.b", -1},
		{"B", "a", -1},
		{"a/b/", "a/b", 0},
		{"b", "a/b", 1},
	}
	for _, tt := range tests {
		if got := comparePaths(tt.a, tt.b); sign(got) != tt.want {
			t.Errorf("comparePaths(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
