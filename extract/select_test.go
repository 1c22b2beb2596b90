package extract

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// capability is a security.capability value (VFS_CAP_REVISION_2, cap_net_bind_service).
const capability = "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

func symlink(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

func file(body string, mode fs.FileMode) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(body), Mode: mode}
}

// rulesFS is a small image root with every case the rules care about.
func rulesFS() fstest.MapFS {
	return fstest.MapFS{
		"app":                                 {Mode: fs.ModeDir | 0o750, Sys: &tar.Header{Uid: 1000, Gid: 1000}},
		"app/server":                          file("server", 0o755),
		"app/lib/a.so":                        file("a", 0o644),
		"app/lib/b.so":                        file("b", 0o644),
		"app/lib/b.txt":                       file("b", 0o644),
		"app/lib/sub/c.so":                    file("c", 0o644),
		"app/current":                         symlink("releases/v2"),
		"app/releases/v2/run":                 file("run", 0o755),
		"app/cfg":                             symlink("/etc/app.conf"),
		"app/dangling":                        symlink("/nowhere"),
		"app/tool":                            symlink("../opt/tool/bin"),
		"etc":                                 {Mode: fs.ModeDir | 0o751, Sys: &tar.Header{Gid: 42}},
		"etc/app.conf":                        file("conf", 0o640),
		"opt/tool/bin/t":                      file("t", 0o755),
		"usr/lib/x86_64-linux-gnu/libc.so.6":  file("libc-x86", 0o755),
		"usr/lib/aarch64-linux-gnu/libc.so.6": file("libc-arm", 0o755),
		"usr/lib/x86_64-linux-gnu/libm.so.6":  file("libm", 0o644),
		"lib":                                 symlink("usr/lib"),
		"bin/a":                               file("a", 0o755),
		"bin/b":                               file("b", 0o755),
		"bin/c":                               file("c", 0o755),
		"link/server":                         symlink("/app/server"),
		"hl/one":                              file("same", 0o644),
		"hl/two":                              {Data: []byte("same"), Mode: 0o644, Sys: &tar.Header{Typeflag: tar.TypeLink, Linkname: "hl/one"}},
		"other/x":                             file("other x", 0o644),
		"links/libdir":                        symlink("/usr/lib"),
		"run/pid":                             file("1", 0o644),
		"run/sock":                            {Mode: fs.ModeSocket | 0o777},
		"suid/prog": {Data: []byte("prog"), Mode: 0o755 | fs.ModeSetuid, Sys: &tar.Header{
			Uid: 1000, Gid: 1001, PAXRecords: map[string]string{"SCHILY.xattr.security.capability": capability},
		}},
	}
}

// describeSet renders each entry as the tar writer would see it: type, mode, owner,
// and content or link target.
func describeSet(t *testing.T, s *FileSet) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range s.Entries() {
		h := e.Header
		d := fmt.Sprintf("%04o %d:%d", h.Mode&0o7777, h.Uid, h.Gid)
		switch h.Typeflag {
		case tar.TypeDir:
			d = "dir " + d
		case tar.TypeSymlink:
			d = "symlink " + h.Linkname
		case tar.TypeLink:
			d = "hardlink " + h.Linkname
		case tar.TypeReg:
			rc, err := e.Open()
			if err != nil {
				t.Fatalf("opening %s: %v", h.Name, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("reading %s: %v", h.Name, err)
			}
			if int64(len(b)) != h.Size {
				t.Fatalf("%s: %d bytes, header says %d", h.Name, len(b), h.Size)
			}
			d = "file " + d + " " + string(b)
		}
		out[h.Name] = d
	}
	return out
}

func TestSelectRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		specs   []Spec
		want    map[string]string // entries that must be there, exactly so
		absent  []string
		wantErr error
	}{
		{
			name:  "glob over directories",
			specs: []Spec{{Path: "/usr/lib/*/libc.so*"}},
			want: map[string]string{
				"usr":                                 "dir 0555 0:0",
				"usr/lib/x86_64-linux-gnu/libc.so.6":  "file 0755 0:0 libc-x86",
				"usr/lib/aarch64-linux-gnu/libc.so.6": "file 0755 0:0 libc-arm",
			},
			absent: []string{"usr/lib/x86_64-linux-gnu/libm.so.6", "lib"},
		},
		{
			name:  "double star at any depth",
			specs: []Spec{{Path: "/app/**/*.so"}},
			want: map[string]string{
				"app":              "dir 0750 1000:1000",
				"app/lib/a.so":     "file 0644 0:0 a",
				"app/lib/b.so":     "file 0644 0:0 b",
				"app/lib/sub/c.so": "file 0644 0:0 c",
			},
			absent: []string{"app/lib/b.txt", "app/server"},
		},
		{
			name:   "character class",
			specs:  []Spec{{Path: "/bin/[ab]"}},
			want:   map[string]string{"bin/a": "file 0755 0:0 a", "bin/b": "file 0755 0:0 b"},
			absent: []string{"bin/c"},
		},
		{
			name:   "glob with a destination directory",
			specs:  []Spec{{Path: "/bin/[ab]", Dest: "/usr/local/bin"}},
			want:   map[string]string{"usr/local/bin/a": "file 0755 0:0 a", "usr/local/bin/b": "file 0755 0:0 b", "usr/local": "dir 0755 0:0"},
			absent: []string{"bin", "bin/a"},
		},
		{
			name:   "trailing slash copies the contents",
			specs:  []Spec{{Path: "/app/lib/", Dest: "/srv/"}},
			want:   map[string]string{"srv": "dir 0755 0:0", "srv/a.so": "file 0644 0:0 a", "srv/sub/c.so": "file 0644 0:0 c"},
			absent: []string{"srv/lib", "app"},
		},
		{
			name:   "no trailing slash copies the directory",
			specs:  []Spec{{Path: "/app/lib", Dest: "/srv/"}},
			want:   map[string]string{"srv/lib/a.so": "file 0644 0:0 a", "srv/lib/sub/c.so": "file 0644 0:0 c"},
			absent: []string{"srv/a.so"},
		},
		{
			name:   "rename a file",
			specs:  []Spec{{Path: "/app/server", Dest: "/usr/local/bin/srv"}},
			want:   map[string]string{"usr/local/bin/srv": "file 0755 0:0 server", "usr": "dir 0555 0:0"},
			absent: []string{"app/server", "app"},
		},
		{
			name:   "a named symlink is copied as its target's content",
			specs:  []Spec{{Path: "/link/server"}},
			want:   map[string]string{"link/server": "file 0755 0:0 server"},
			absent: []string{"app/server"},
		},
		{
			name:  "symlinks inside a directory stay symlinks and bring their targets",
			specs: []Spec{{Path: "/app"}},
			want: map[string]string{
				"app":                 "dir 0750 1000:1000",
				"app/current":         "symlink releases/v2",
				"app/releases/v2/run": "file 0755 0:0 run",
				"app/cfg":             "symlink /etc/app.conf",
				"etc":                 "dir 0751 0:42",
				"etc/app.conf":        "file 0640 0:0 conf",
				"app/dangling":        "symlink /nowhere",
				"app/tool":            "symlink ../opt/tool/bin",
				"opt/tool/bin/t":      "file 0755 0:0 t",
			},
			absent: []string{"nowhere", "etc/other"},
		},
		{
			name:  "a renamed tree keeps its own links and takes outside targets where they are",
			specs: []Spec{{Path: "/app", Dest: "/srv"}},
			want: map[string]string{
				"srv":                 "dir 0750 1000:1000",
				"srv/current":         "symlink releases/v2",
				"srv/releases/v2/run": "file 0755 0:0 run",
				"etc/app.conf":        "file 0640 0:0 conf",
				"opt/tool/bin/t":      "file 0755 0:0 t",
			},
			absent: []string{"app", "app/releases/v2/run"},
		},
		{
			name:  "a symlink to a directory brings the whole directory",
			specs: []Spec{{Path: "/usr/lib/x86_64-linux-gnu/libc.so.6"}, {Path: "/links/"}},
			want: map[string]string{
				"links/libdir":                        "symlink /usr/lib",
				"usr/lib/x86_64-linux-gnu/libm.so.6":  "file 0644 0:0 libm",
				"usr/lib/aarch64-linux-gnu/libc.so.6": "file 0755 0:0 libc-arm",
			},
		},
		{
			name:   "sockets are left out",
			specs:  []Spec{{Path: "/run/"}},
			want:   map[string]string{"run/pid": "file 0644 0:0 1"},
			absent: []string{"run/sock"},
		},
		{
			name:  "symlinked parent directories come as the symlink and the real path",
			specs: []Spec{{Path: "/lib/x86_64-linux-gnu/libc.so.6"}},
			want: map[string]string{
				"lib":                                "symlink usr/lib",
				"usr/lib/x86_64-linux-gnu/libc.so.6": "file 0755 0:0 libc-x86",
			},
			absent: []string{"lib/x86_64-linux-gnu/libc.so.6"},
		},
		{
			name:  "hardlink pair stays a pair",
			specs: []Spec{{Path: "/hl/"}},
			want:  map[string]string{"hl/one": "file 0644 0:0 same", "hl/two": "hardlink hl/one"},
		},
		{
			name:  "hardlink without its first name gets the content",
			specs: []Spec{{Path: "/hl/two"}},
			want:  map[string]string{"hl/two": "file 0644 0:0 same"},
		},
		{
			name:  "setuid and owners kept",
			specs: []Spec{{Path: "/suid/prog"}},
			want:  map[string]string{"suid/prog": "file 4755 1000:1001 prog"},
		},
		{
			name:  "same file twice is taken once",
			specs: []Spec{{Path: "/app/server"}, {Path: "/app/*"}, {Path: "/link/server", Dest: "/app/server"}},
			want:  map[string]string{"app/server": "file 0755 0:0 server"},
		},
		{name: "missing path", specs: []Spec{{Path: "/nope/x"}}, wantErr: ErrNotFound},
		{name: "missing path under a file", specs: []Spec{{Path: "/app/server/x"}}, wantErr: ErrNotFound},
		{name: "dangling named symlink", specs: []Spec{{Path: "/app/dangling"}}, wantErr: ErrNotFound},
		{name: "glob matching nothing", specs: []Spec{{Path: "/app/*.zzz"}}, wantErr: ErrNoMatch},
		{name: "glob under a missing directory", specs: []Spec{{Path: "/nope/**/x"}}, wantErr: ErrNoMatch},
		{name: "contents of a file", specs: []Spec{{Path: "/app/server/"}}, wantErr: ErrNotFound},
		{name: "bad pattern", specs: []Spec{{Path: "/app/[x"}}, wantErr: ErrBadSpec},
		{
			name:    "two files for one destination",
			specs:   []Spec{{Path: "/bin/a", Dest: "/x"}, {Path: "/bin/b", Dest: "/x"}},
			wantErr: ErrConflict,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set, err := Select(rulesFS(), tt.specs, WithSourceName("builder"))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Select(%v) = %v; want error %v", tt.specs, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "builder") && !errors.Is(err, ErrBadSpec) {
					t.Errorf("error %q does not name the source", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Select(%v): %v", tt.specs, err)
			}
			got := describeSet(t, set)
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("%s: got %q, want %q", name, got[name], want)
				}
			}
			for _, name := range tt.absent {
				if d, ok := got[name]; ok {
					t.Errorf("%s: taken (%s), want it left out", name, d)
				}
			}
			// Every entry's parents are in the set, so tarball needs no WithParents and
			// a directory extraction can set their modes.
			for name := range got {
				for d := parentOf(name); d != ""; d = parentOf(d) {
					if !strings.HasPrefix(got[d], "dir ") && !strings.HasPrefix(got[d], "symlink ") {
						t.Errorf("%s: parent %s is %q", name, d, got[d])
					}
				}
			}
			if t.Failed() {
				t.Logf("set: %v", slices.Sorted(maps.Keys(got)))
			}
		})
	}
}

func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

func TestSelectReasons(t *testing.T) {
	t.Parallel()
	set, err := Select(rulesFS(), []Spec{{Path: "/app/server"}, {Path: "/app/cfg"}, {Path: "/app/tool", Dest: "/tool/"}, {Path: "/lib/x86_64-linux-gnu/libm.so.6"}}, WithSourceName("builder"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]File{}
	for _, f := range set.Files() {
		got[f.Path] = f
	}
	want := map[string]string{
		"/app/server":                         "--from builder:/app/server",
		"/app/cfg":                            "--from builder:/app/cfg",
		"/app":                                "parent directory",
		"/tool/tool/t":                        "--from builder:/app/tool",
		"/lib":                                "symlink on the way to /lib/x86_64-linux-gnu",
		"/usr/lib/x86_64-linux-gnu/libm.so.6": "--from builder:/lib/x86_64-linux-gnu/libm.so.6",
	}
	for p, reason := range want {
		if got[p].Reason != reason || got[p].Source != "builder" {
			t.Errorf("%s: reason %q from %q, want %q from builder", p, got[p].Reason, got[p].Source, reason)
		}
	}
	if got["/app/server"].Size != 6 {
		t.Errorf("/app/server: size %d, want 6", got["/app/server"].Size)
	}
	// /app/cfg named is copied as content: the link target is not taken for it.
	if _, ok := got["/etc/app.conf"]; ok {
		t.Errorf("/etc/app.conf taken for a named symlink copied as content")
	}

	set, err = Select(rulesFS(), []Spec{{Path: "/app/cfg", Dest: "/keep/"}, {Path: "/app/", Dest: "/a/"}}, WithSourceName("s"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range set.Files() {
		got[f.Path] = f
	}
	if r := got["/etc/app.conf"].Reason; r != "target of symlink /app/cfg" {
		t.Errorf("/etc/app.conf: reason %q", r)
	}
}

// TestFidelityThroughTar writes a selection with tarball.WriteTar and reads it back:
// setuid, owners, file capabilities and the hardlink pair must come through.
func TestFidelityThroughTar(t *testing.T) {
	t.Parallel()
	set, err := Select(rulesFS(), []Spec{{Path: "/suid/prog"}, {Path: "/hl/"}})
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
	prog := got["suid/prog"]
	if prog == nil {
		t.Fatalf("suid/prog missing from %v", slices.Sorted(maps.Keys(got)))
	}
	if prog.Mode != 0o4755 || prog.Uid != 1000 || prog.Gid != 1001 {
		t.Errorf("suid/prog: mode %o uid %d gid %d, want 4755 1000 1001", prog.Mode, prog.Uid, prog.Gid)
	}
	if c := prog.PAXRecords["SCHILY.xattr.security.capability"]; c != capability {
		t.Errorf("suid/prog: security.capability %q, want %q", c, capability)
	}
	if two := got["hl/two"]; two == nil || two.Typeflag != tar.TypeLink || two.Linkname != "hl/one" {
		t.Errorf("hl/two: %+v, want a hardlink to hl/one", two)
	}
	if set.Size() != int64(len("prog")+len("same")) {
		t.Errorf("Size() = %d, want the hardlinked content once", set.Size())
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	a, err := Select(rulesFS(), []Spec{{Path: "/bin/a", Dest: "/x"}, {Path: "/app/server"}}, WithSourceName("a"))
	if err != nil {
		t.Fatal(err)
	}
	same, err := Select(rulesFS(), []Spec{{Path: "/bin/a", Dest: "/x"}, {Path: "/other/x"}}, WithSourceName("same"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Merge(same); err != nil {
		t.Fatalf("merging the same content: %v", err)
	}
	files := map[string]File{}
	for _, f := range a.Files() {
		files[f.Path] = f
	}
	if files["/x"].Source != "a" || files["/other/x"].Source != "same" || files["/app/server"].Source != "a" {
		t.Errorf("merged files: %+v", files)
	}

	before := len(a.Files())
	other := fstest.MapFS{"x": file("different", 0o755), "y": file("y", 0o644)}
	diff, err := Select(other, []Spec{{Path: "/y"}, {Path: "/x"}}, WithSourceName("other"))
	if err != nil {
		t.Fatal(err)
	}
	err = a.Merge(diff)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "/x") {
		t.Fatalf("merging different content at /x: %v, want ErrConflict naming /x", err)
	}
	if len(a.Files()) != before {
		t.Errorf("a failed Merge changed the set: %d files, had %d", len(a.Files()), before)
	}
	// Same size and header, other bytes.
	other2 := fstest.MapFS{"x": file("A", 0o755)}
	diff2, err := Select(other2, []Spec{{Path: "/x"}}, WithSourceName("other2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Merge(diff2); !errors.Is(err, ErrConflict) {
		t.Fatalf("merging same-size different content: %v, want ErrConflict", err)
	}
}

func TestSelectOptions(t *testing.T) {
	t.Parallel()
	if _, err := Select(rulesFS(), nil, WithDeps("some")); !errors.Is(err, ErrBadOption) {
		t.Errorf("WithDeps(some): %v, want ErrBadOption", err)
	}
	if _, err := ParseDeps("none"); err != nil {
		t.Errorf("ParseDeps(none): %v", err)
	}
	noLinks := struct{ fs.FS }{rulesFS()}
	if _, err := Select(noLinks, []Spec{{Path: "/bin/a"}}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Select on an FS without ReadLink: %v, want ErrUnsupported", err)
	}
}

func TestSymlinkLoop(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"a/x": symlink("y"), "a/y": symlink("x"), "a/f": file("f", 0o644)}
	set, err := Select(fsys, []Spec{{Path: "/a"}, {Path: "/a/**/f"}})
	if err != nil {
		t.Fatalf("a symlink loop inside a copied directory: %v", err)
	}
	got := describeSet(t, set)
	if got["a/x"] != "symlink y" || got["a/f"] != "file 0644 0:0 f" {
		t.Errorf("got %v", got)
	}
	if _, err := Select(fsys, []Spec{{Path: "/a/x"}}); err == nil {
		t.Errorf("naming a looping symlink: no error")
	}
}

// TestSelectHostHardlinks finds a hardlink pair in a host directory by its inode.
func TestSelectHostHardlinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "one"), []byte("same"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "one"), filepath.Join(dir, "two")); err != nil {
		testimage.Missing(t, "no hardlinks in the temporary directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "three"), []byte("same"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"one", "three"} { // whatever the umask
		if err := os.Chmod(filepath.Join(dir, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := Select(os.DirFS(dir), []Spec{{Path: "/", Dest: "/d/"}}, WithDeps(DepsNone))
	if err != nil {
		t.Fatal(err)
	}
	got := describeSet(t, set)
	uid, gid := os.Getuid(), os.Getgid()
	want := map[string]string{
		"d/one":   fmt.Sprintf("file 0644 %d:%d same", uid, gid),
		"d/two":   "hardlink d/one",
		"d/three": fmt.Sprintf("file 0644 %d:%d same", uid, gid),
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want %q", name, got[name], w)
		}
	}
}

// TestSelectCopyFlags: Owner, Mode and Exclude act on what a spec names and the
// directories it makes, as COPY's --chown, --chmod and --exclude do, not on other specs.
func TestSelectCopyFlags(t *testing.T) {
	t.Parallel()
	mode := uint32(0o4750)
	set, err := Select(rulesFS(), []Spec{
		{Path: "/app/lib", Dest: "/srv/lib", Owner: &Owner{UID: 65532, GID: 65533}, Mode: &mode, Exclude: []string{"*.txt"}},
		{Path: "/app/server"},
	}, WithDeps(DepsNone))
	if err != nil {
		t.Fatal(err)
	}
	got := describeSet(t, set)
	for name, want := range map[string]string{
		"srv/lib/a.so": "file 4750 65532:65533 a",
		"srv/lib/b.so": "file 4750 65532:65533 b",
		"app/server":   "file 0755 0:0 server",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	if _, ok := got["srv/lib/b.txt"]; ok {
		t.Errorf("srv/lib/b.txt was taken despite --exclude *.txt: %v", got)
	}
	// A directory the copy makes gets its owner and mode, as BuildKit makes it; one
	// the source has keeps its own.
	if d := got["srv"]; d != "dir 4750 65532:65533" {
		t.Errorf("the made-up parent directory srv = %q", d)
	}
	if d := got["app"]; strings.Contains(d, "65532") {
		t.Errorf("the source's own directory app got the other spec's owner: %q", d)
	}
	if _, err := Select(rulesFS(), []Spec{{Path: "/app", Exclude: []string{"["}}}); !errors.Is(err, ErrBadSpec) {
		t.Errorf("a bad --exclude pattern: %v, want ErrBadSpec", err)
	}
}

// TestNamedSymlinkAlsoAnInterpreter: --from IMG:/usr/bin/python3 takes the link as its
// target's content; a script taken beside it whose #! names /usr/bin/python3 finds that
// content there, in either order, rather than a conflict.
func TestNamedSymlinkAlsoAnInterpreter(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"usr/bin/python3":    symlink("python3.11"),
		"usr/bin/python3.11": file("the interpreter", 0o755),
		"usr/lib/tool.py":    file("#!/usr/bin/python3\nprint(1)\n", 0o755),
	}
	for name, specs := range map[string][]Spec{
		"named first":  {{Path: "/usr/bin/python3"}, {Path: "/usr/lib/tool.py"}},
		"script first": {{Path: "/usr/lib/tool.py"}, {Path: "/usr/bin/python3"}},
	} {
		set, err := Select(fsys, specs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := describeSet(t, set)["usr/bin/python3"]; got != "file 0755 0:0 the interpreter" {
			t.Errorf("%s: /usr/bin/python3 = %q, want the named copy of its target", name, got)
		}
	}
}
