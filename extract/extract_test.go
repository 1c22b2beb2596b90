package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract/elfdeps"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/limits"
	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// hostFS is this machine's root as a source. os.DirFS implements fs.ReadLinkFS since
// Go 1.25, so no adapter is needed; the assertion keeps it honest.
func hostFS(t *testing.T) fs.FS {
	t.Helper()
	fsys := os.DirFS("/")
	if _, ok := fsys.(fs.ReadLinkFS); !ok {
		t.Fatalf("os.DirFS does not implement fs.ReadLinkFS")
	}
	if _, err := os.Stat("/usr/bin/ls"); err != nil {
		testimage.Missing(t, "no /usr/bin/ls on this machine: %v", err)
	}
	return fsys
}

func TestSelectHostProgramClosure(t *testing.T) {
	t.Parallel()
	set, err := Select(hostFS(t), []Spec{{Path: "/usr/bin/ls"}}, WithSourceName("host"))
	if err != nil {
		t.Fatal(err)
	}
	var libc, loader *File
	files := set.Files()
	for i, f := range files {
		if f.Reason == "" {
			t.Errorf("%s: no reason", f.Path)
		}
		switch base := filepath.Base(f.Path); {
		case base == "libc.so.6" && f.Size > 0:
			libc = &files[i]
		case strings.HasPrefix(base, "ld-linux") && f.Size > 0:
			loader = &files[i]
		}
	}
	if libc == nil || loader == nil {
		t.Fatalf("closure of /usr/bin/ls lacks libc.so.6 or the loader: %+v", files)
	}
	if !strings.Contains(libc.Reason, "libc.so.6") || !strings.Contains(loader.Reason, "PT_INTERP") {
		t.Errorf("reasons: libc %q, loader %q", libc.Reason, loader.Reason)
	}
	t.Logf("libc %s: %s; loader %s: %s", libc.Path, libc.Reason, loader.Path, loader.Reason)

	none, err := Select(hostFS(t), []Spec{{Path: "/usr/bin/ls"}}, WithDeps(DepsNone))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range none.Files() {
		if strings.Contains(f.Path, "libc.so") {
			t.Errorf("--deps none took %s", f.Path)
		}
	}
}

func TestExtractDirRuns(t *testing.T) {
	testimage.NeedRoot(t, "running the extracted ls with chroot")
	fsys := hostFS(t)
	dest := filepath.Join(t.TempDir(), "out")
	set, err := Extract(t.Context(), fsys, []string{"/usr/bin/ls"}, dest)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Files()) < 5 {
		t.Errorf("only %d files extracted", len(set.Files()))
	}
	out := testimage.Chroot(t, dest, "", nil, "/usr/bin/ls", "/")
	if !strings.Contains(out, "usr") {
		t.Errorf("ls / in the extracted root printed %q", out)
	}
}

func TestExtractTarReproducible(t *testing.T) {
	t.Parallel()
	fsys := hostFS(t)
	dir := t.TempDir()
	var sums [2][]byte
	for i, name := range []string{"a.tar", "b.tar"} {
		p := filepath.Join(dir, name)
		if _, err := Extract(t.Context(), fsys, []string{"/usr/bin/ls"}, p); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = b
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Fatalf("two runs wrote different tars (%d and %d bytes)", len(sums[0]), len(sums[1]))
	}
	names := map[string]bool{}
	for _, m := range testimage.ReadTar(t, bytes.NewReader(sums[0])) {
		names[m.Name] = true
	}
	if !names["usr/bin/ls"] || !names["usr/"] {
		t.Errorf("tar lacks usr/bin/ls or usr/: %v", names)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("left behind: %v", ents)
	}
}

// TestExtractDirFidelity writes setuid, owners, a file capability, a hardlink pair and
// symlinks into a directory and checks them on disk.
func TestExtractDirFidelity(t *testing.T) {
	testimage.NeedRoot(t, "setting owners and security.capability")
	dest := filepath.Join(t.TempDir(), "out")
	if _, err := Extract(t.Context(), rulesFS(), []string{"/suid/prog", "/hl/", "/app/cfg", "/app/current"}, dest); err != nil {
		if errors.Is(err, syscall.ENOTSUP) {
			testimage.Missing(t, "the temporary directory's file system keeps no xattrs: %v", err)
		}
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dest, "suid/prog"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != 0o755|fs.ModeSetuid || st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("suid/prog: mode %v owner %d:%d, want -rwsr-xr-x 1000:1001", fi.Mode(), st.Uid, st.Gid)
	}
	buf := make([]byte, 64)
	n, err := syscall.Getxattr(filepath.Join(dest, "suid/prog"), "security.capability", buf)
	if err != nil || string(buf[:n]) != capability {
		t.Errorf("suid/prog: security.capability %q, %v", buf[:max(n, 0)], err)
	}
	one, err1 := os.Stat(filepath.Join(dest, "hl/one"))
	two, err2 := os.Stat(filepath.Join(dest, "hl/two"))
	if err1 != nil || err2 != nil || !os.SameFile(one, two) {
		t.Errorf("hl/one and hl/two are not one file: %v %v", err1, err2)
	}
	if l, err := os.Readlink(filepath.Join(dest, "app/current")); err == nil {
		t.Errorf("named symlink app/current written as a symlink to %q, want its content", l)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "app/releases/v2/run")); err == nil {
		t.Errorf("app/releases/v2/run taken (%q) for a named symlink copied as content", b)
	}
	if fi, err := os.Stat(filepath.Join(dest, "app")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("app: %v %v, want the source's mode 0750", fi, err)
	}
}

// failFS fails to open one file, to break a run half way.
type failFS struct {
	fstest.MapFS
	fail string
}

func (f failFS) Open(name string) (fs.File, error) {
	if name == f.fail {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EIO}
	}
	return f.MapFS.Open(name)
}

func TestExtractFailsCleanly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fsys    fs.FS
		paths   []string
		dest    string
		opts    []Option
		wantErr error
	}{
		{name: "missing path to dir", fsys: rulesFS(), paths: []string{"/bin/a", "/nope"}, dest: "out", wantErr: ErrNotFound},
		{name: "empty glob to tar", fsys: rulesFS(), paths: []string{"/bin/*.zzz"}, dest: "out.tar", wantErr: ErrNoMatch},
		{name: "escaping path", fsys: rulesFS(), paths: []string{"/../etc"}, dest: "out", wantErr: ErrUnsafePath},
		{name: "relative path", fsys: rulesFS(), paths: []string{"bin/a"}, dest: "out", wantErr: ErrBadSpec},
		{name: "read error in a dir", fsys: failFS{rulesFS(), "etc/app.conf"}, paths: []string{"/app"}, dest: "out", wantErr: syscall.EIO},
		{name: "read error in a tar", fsys: failFS{rulesFS(), "etc/app.conf"}, paths: []string{"/app"}, dest: "out.tar", wantErr: syscall.EIO},
		{name: "device in a dir", fsys: fstest.MapFS{"dev/null": {Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666}}, paths: []string{"/dev/null"}, dest: "out", wantErr: errors.ErrUnsupported},
		{name: "bad option", fsys: rulesFS(), paths: []string{"/bin/a"}, dest: "out", opts: []Option{WithDeps("all")}, wantErr: ErrBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			_, err := Extract(t.Context(), tt.fsys, tt.paths, filepath.Join(dir, tt.dest), append(tt.opts, WithoutXattrs())...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Extract: %v, want %v", err, tt.wantErr)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("a failed run left %v", ents)
			}
		})
	}

	t.Run("not empty", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Extract(t.Context(), rulesFS(), []string{"/bin/a"}, dir)
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("Extract into a non-empty directory: %v, want ErrExist", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := Extract(ctx, rulesFS(), []string{"/bin/a"}, filepath.Join(dir, "x.tar"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Extract with a cancelled context: %v", err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("a cancelled run left %v", ents)
		}
	})
}

func TestCheckParents(t *testing.T) {
	t.Parallel()
	entries := []tarball.Entry{
		{Header: &tar.Header{Name: "x", Typeflag: tar.TypeSymlink, Linkname: "/etc"}},
		{Header: &tar.Header{Name: "x/passwd", Typeflag: tar.TypeReg}},
	}
	if err := checkParents(entries); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("a file under a symlink: %v, want ErrUnsafePath", err)
	}
	// Merge refuses the same situation before it can be written.
	s1, err := Select(fstest.MapFS{"x": symlink("/etc")}, []Spec{{Path: "/", Dest: "/"}}, WithSourceName("one"))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Select(fstest.MapFS{"x/passwd": file("evil", 0o644)}, []Spec{{Path: "/x/passwd"}}, WithSourceName("two"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Merge(s2); !errors.Is(err, ErrConflict) {
		t.Fatalf("merging a directory over a symlink: %v, want ErrConflict", err)
	}
}

// TestSelectFromImage runs the rules over a real image view: layers, a whiteout, a
// hardlink and a symlink, read through imagefs.
func TestSelectFromImage(t *testing.T) {
	t.Parallel()
	img := testimage.Image(t, [][]testimage.Entry{
		{
			testimage.Dir("app"),
			{Name: "app/server", Type: tar.TypeReg, Mode: 0o4755, Uid: 10, Gid: 20, Body: []byte("v1"), Xattrs: map[string]string{"security.capability": capability}},
			testimage.File("app/old", "old"),
			testimage.Symlink("app/run", "server"),
			testimage.Dir("etc"),
			testimage.File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65533::/home/nonroot:/sbin/nologin\n"),
			testimage.File("etc/group", "root:x:0:\nnonroot:x:65533:\n"),
		},
		{
			testimage.Whiteout("app/old"),
			testimage.Hardlink("app/server2", "app/server"),
		},
	})
	fsys, err := imagefs.New(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	set, err := Select(fsys, []Spec{{Path: "/app/"}}, WithSourceName("img"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tarball.WriteTar(&buf, set.Entries()); err != nil {
		t.Fatal(err)
	}
	got := map[string]*tar.Header{}
	for _, m := range testimage.ReadTar(t, &buf) {
		got[m.Name] = m.Header
	}
	if _, ok := got["app/old"]; ok {
		t.Errorf("whited-out app/old taken")
	}
	s := got["app/server"]
	if s == nil || s.Mode != 0o4755 || s.Uid != 10 || s.Gid != 20 || s.PAXRecords["SCHILY.xattr.security.capability"] != capability {
		t.Errorf("app/server: %+v", s)
	}
	if r := got["app/run"]; r == nil || r.Typeflag != tar.TypeSymlink || r.Linkname != "server" {
		t.Errorf("app/run: %+v", r)
	}
	// imagefs shows a hardlink as the file it names, so the second name gets a copy
	// of the content: the output still runs the same.
	if s2 := got["app/server2"]; s2 == nil || (s2.Typeflag != tar.TypeReg && s2.Typeflag != tar.TypeLink) {
		t.Errorf("app/server2: %+v", s2)
	}

	uid, gid, err := LookupUser(fsys, "nonroot")
	if err != nil || uid != 65532 || gid != 65533 {
		t.Errorf("LookupUser(nonroot) = %d, %d, %v", uid, gid, err)
	}
}

func TestExtractIntoEmptyDir(t *testing.T) {
	t.Parallel()
	dest := t.TempDir()
	set, err := Extract(t.Context(), rulesFS(), []string{"/bin/[ab]", "/app/lib/"}, dest, WithoutXattrs())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"bin/a", "bin/b", "app/lib/a.so", "app/lib/sub/c.so"} {
		if _, err := os.Lstat(filepath.Join(dest, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dest, "bin/c")); err == nil {
		t.Errorf("bin/c extracted, not asked for")
	}
	if fi, err := os.Stat(filepath.Join(dest, "app")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("app: %v, %v; want the source's 0750", fi, err)
	}
	if n := len(set.Files()); n != 10 {
		t.Errorf("%d files: %+v", n, set.Files())
	}
	ents, _ := os.ReadDir(filepath.Dir(dest))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
}

// TestExtractFromImageMatchesHost builds an image out of the host files that ls needs
// (plus a fat file it does not), reads it through imagefs, and checks that extracting
// ls from the image gives the very tar that extracting it from the host gives, and a
// root where it runs.
func TestExtractFromImageMatchesHost(t *testing.T) {
	t.Parallel()
	host := hostFS(t)
	set, err := Select(host, []Spec{{Path: "/usr/bin/ls"}}, WithSourceName("host"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []testimage.Entry
	for _, e := range set.Entries() {
		h := e.Header
		te := testimage.Entry{Name: h.Name, Type: h.Typeflag, Mode: h.Mode, Uid: h.Uid, Gid: h.Gid, Linkname: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			rc, err := e.Open()
			if err != nil {
				t.Fatal(err)
			}
			if te.Body, err = io.ReadAll(rc); err != nil {
				t.Fatal(err)
			}
			rc.Close()
		}
		entries = append(entries, te)
	}
	fat := []testimage.Entry{testimage.Dir("opt"), testimage.File("opt/fat.bin", strings.Repeat("x", 1<<20))}
	img := testimage.Image(t, [][]testimage.Entry{fat, entries})
	fsys, err := imagefs.New(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()

	dir := t.TempDir()
	fromHost, fromImage := filepath.Join(dir, "host.tar"), filepath.Join(dir, "image.tar")
	if _, err := Extract(t.Context(), host, []string{"/usr/bin/ls"}, fromHost); err != nil {
		t.Fatal(err)
	}
	if _, err := Extract(t.Context(), fsys, []string{"/usr/bin/ls"}, fromImage, WithSourceName("img")); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(fromHost)
	b, _ := os.ReadFile(fromImage)
	if !bytes.Equal(a, b) {
		t.Errorf("extracting ls from the image and from the host gave different tars (%d and %d bytes)", len(b), len(a))
	}

	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		return // the run below needs chroot; TestExtractDirRuns says so when skipped
	}
	root := filepath.Join(dir, "root")
	if _, err := Extract(t.Context(), fsys, []string{"/usr/bin/ls"}, root); err != nil {
		t.Fatal(err)
	}
	out := testimage.Chroot(t, root, "", nil, "/usr/bin/ls", "/")
	if strings.Contains(out, "opt") {
		t.Errorf("the fat layer's /opt was extracted: ls / printed %q", out)
	}
}

// Issue 13, item 10: a name that is not UTF-8 (legal in tar and on Linux) failed with
// "lstat d/\xff\xfe-bad-utf8: invalid argument"; it is written byte for byte.
func TestExtractNonUTF8Names(t *testing.T) {
	const name = "d/\xff\xfe-bad-utf8"
	img := testimage.Image(t, [][]testimage.Entry{{testimage.Dir("d"), testimage.File(name, "x")}})
	fsys, err := OpenImage(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	for _, p := range []string{"/d", "/" + name} {
		dest := t.TempDir()
		if _, err := Extract(context.Background(), fsys, []string{p}, dest); err != nil {
			t.Fatalf("extracting %q: %v", p, err)
		}
		if b, err := os.ReadFile(filepath.Join(dest, name)); err != nil || string(b) != "x" {
			t.Fatalf("extracting %q: %q, %v; want the file", p, b, err)
		}
	}
}

// deepChain is an image of one chain of n directories named a, with a file at the bottom.
func deepChain(t *testing.T, n int) (v1.Image, string) {
	t.Helper()
	var es []testimage.Entry
	p := "a"
	for i := range n {
		if i > 0 {
			p += "/a"
		}
		es = append(es, testimage.Dir(p))
	}
	es = append(es, testimage.File(p+"/f", "x"))
	return testimage.Image(t, [][]testimage.Entry{es}), p + "/f"
}

// Issue 13, item 7: a path 3000 directories deep took 106 s to extract (quadratic in
// indexing, in the parent check and in os.Root's walk per operation). Paths are
// bounded (limits.PathDepth, limits.PathBytes) and what is within them is linear:
// 1000 levels took 17 s, now well under a second.
func TestExtractDeepPath(t *testing.T) {
	img, file := deepChain(t, 1000)
	start := time.Now()
	fsys, err := OpenImage(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	dest := t.TempDir()
	if _, err := Extract(context.Background(), fsys, []string{"/a"}, dest); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("1000 levels took %v: not linear", d)
	}
	// The path is over PATH_MAX for the host, so read it through a root.
	r, err := os.OpenRoot(filepath.Join(dest, strings.Repeat("a/", 500)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := r.Open(strings.TrimPrefix(file, strings.Repeat("a/", 500)))
	if err != nil {
		t.Fatalf("the deepest file: %v", err)
	}
	f.Close()

	img, _ = deepChain(t, 3000)
	_, err = OpenImage(context.Background(), img)
	if !errors.Is(err, limits.ErrExceeded) || !strings.Contains(err.Error(), fmt.Sprintf("limit of %d", limits.PathDepth)) || len(err.Error()) > 400 {
		t.Fatalf("3000 levels: %v, want %v naming the limit", err, limits.ErrExceeded)
	}
}

// TestExtractWarnsWhatTheSourceLacks: what the closure cannot find in the source (the
// #! interpreter of a script, as Debian's python3 stdlib holds cgi.py with
// #!/usr/local/bin/python) is said through WithWarn and the rest is written, as the
// whole job does; without WithWarn it is an error.
func TestExtractWarnsWhatTheSourceLacks(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"app/run.py":   {Data: []byte("#!/usr/local/bin/python\nprint(1)\n"), Mode: 0o755},
		"app/data.txt": {Data: []byte("data"), Mode: 0o644},
	}
	dest := filepath.Join(t.TempDir(), "out.tar")
	var warned []string
	set, err := Extract(t.Context(), fsys, []string{"/app/"}, dest, WithSourceName("src"), WithWarn(func(s string) { warned = append(warned, s) }))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Files()) < 2 {
		t.Errorf("files %v", set.Files())
	}
	if _, err := os.Stat(dest); err != nil {
		t.Errorf("nothing written: %v", err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "/usr/local/bin/python") || !strings.Contains(warned[0], "is not in src") {
		t.Errorf("warnings %q, want one naming the interpreter the source lacks", warned)
	}
	_, err = Extract(t.Context(), fsys, []string{"/app/"}, filepath.Join(t.TempDir(), "b.tar"))
	if !errors.Is(err, elfdeps.ErrMissing) {
		t.Errorf("without WithWarn: %v, want ErrMissing", err)
	}
}
