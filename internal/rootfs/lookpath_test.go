package rootfs_test

import (
	"archive/tar"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/slim-dev/slim/internal/rootfs"
	"github.com/slim-dev/slim/internal/testimage"
)

// pathCase is one program looked up in a small root: the file execvp would run (or the
// one it refuses), or nothing. Every root also has the directory /app.
type pathCase struct {
	name    string
	entries []testimage.Entry
	prog    string
	path    string // the PATH set, unless unset
	unset   bool
	workdir string
	want    string
	wantErr error // nil, rootfs.ErrNotFound or rootfs.ErrNotExecutable
}

// exe is a program that runs; its #! line names an interpreter no root has, so that the
// fidelity check and elfdeps name the file they picked when they report it missing.
func exe(name string) testimage.Entry { return testimage.File(name, "#!/missing/interp\n", 0o755) }

// plain is the same file without an execute bit.
func plain(name string) testimage.Entry { return testimage.File(name, "#!/missing/interp\n", 0o644) }

func pathCases() []pathCase {
	link := testimage.Symlink
	return []pathCase{
		{name: "first match wins", entries: []testimage.Entry{exe("a/tool"), exe("b/tool")},
			prog: "tool", path: "/a:/b", workdir: "/app", want: "/a/tool"},
		{name: "empty element is the workdir", entries: []testimage.Entry{exe("app/tool"), exe("b/tool")},
			prog: "tool", path: "/nowhere::/b", workdir: "/app", want: "/app/tool"},
		{name: "empty PATH is the workdir", entries: []testimage.Entry{exe("app/tool"), exe("usr/bin/tool")},
			prog: "tool", path: "", workdir: "/app", want: "/app/tool"},
		{name: "relative element is under the workdir", entries: []testimage.Entry{exe("app/bin/tool"), exe("b/tool")},
			prog: "tool", path: "bin:/b", workdir: "/app", want: "/app/bin/tool"},
		{name: "no workdir is the root", entries: []testimage.Entry{exe("bin/tool"), exe("app/bin/tool")},
			prog: "tool", path: "bin", want: "/bin/tool"},
		{name: "match without exec bit is skipped", entries: []testimage.Entry{plain("a/tool"), exe("b/tool")},
			prog: "tool", path: "/a:/b", workdir: "/app", want: "/b/tool"},
		{name: "only a match without exec bit", entries: []testimage.Entry{plain("a/tool"), plain("b/tool")},
			prog: "tool", path: "/nowhere:/a:/b", workdir: "/app", want: "/a/tool", wantErr: rootfs.ErrNotExecutable},
		{name: "directory is skipped", entries: []testimage.Entry{testimage.Dir("a/tool"), exe("b/tool")},
			prog: "tool", path: "/a:/b", workdir: "/app", want: "/b/tool"},
		{name: "symlink to an executable", entries: []testimage.Entry{link("a/tool", "/opt/tool"), exe("opt/tool"), exe("b/tool")},
			prog: "tool", path: "/a:/b", workdir: "/app", want: "/a/tool"},
		{name: "relative symlinked directory", entries: []testimage.Entry{link("usr/local/bin", "../../opt/bin"), exe("opt/bin/tool")},
			prog: "tool", path: "/usr/local/bin", workdir: "/app", want: "/usr/local/bin/tool"},
		{name: "symlink to a file without exec bit", entries: []testimage.Entry{link("a/tool", "/opt/tool"), plain("opt/tool")},
			prog: "tool", path: "/a", workdir: "/app", want: "/a/tool", wantErr: rootfs.ErrNotExecutable},
		{name: "symlink loop is skipped", entries: []testimage.Entry{link("a/tool", "tool2"), link("a/tool2", "/a/tool"), exe("b/tool")},
			prog: "tool", path: "/a:/b", workdir: "/app", want: "/b/tool"},
		{name: "dangling symlink is skipped", entries: []testimage.Entry{link("a/tool", "/nowhere"), exe("b/tool")},
			prog: "tool", path: "/a:/b", workdir: "/app", want: "/b/tool"},
		{name: "only a loop and a dangling symlink", entries: []testimage.Entry{link("a/tool", "/a/tool"), link("b/tool", "none")},
			prog: "tool", path: "/a:/b", workdir: "/app", wantErr: rootfs.ErrNotFound},
		{name: "name with a slash is not searched", entries: []testimage.Entry{exe("a/bin/tool"), exe("app/bin/tool")},
			prog: "bin/tool", path: "/a", workdir: "/app", want: "/app/bin/tool"},
		{name: "name with a slash, missing", entries: []testimage.Entry{exe("a/bin/tool")},
			prog: "bin/tool", path: "/a", workdir: "/app", want: "/app/bin/tool", wantErr: rootfs.ErrNotFound},
		{name: "name with a slash without exec bit", entries: []testimage.Entry{plain("app/tool")},
			prog: "./tool", path: "/a", workdir: "/app", want: "/app/tool", wantErr: rootfs.ErrNotExecutable},
		{name: "absolute name", entries: []testimage.Entry{exe("opt/tool"), exe("a/tool")},
			prog: "/opt/tool", path: "/a", workdir: "/app", want: "/opt/tool"},
		{name: "unset PATH is the runtimes' default", entries: []testimage.Entry{exe("bin/tool"), exe("usr/bin/tool"), exe("app/tool")},
			prog: "tool", unset: true, workdir: "/app", want: "/usr/bin/tool"},
		{name: "nowhere", entries: []testimage.Entry{exe("c/tool")},
			prog: "tool", path: "/a:/b", workdir: "/app", wantErr: rootfs.ErrNotFound},
	}
}

// env is the image config's Env for the case.
func (c pathCase) env() []string {
	if c.unset {
		return nil
	}
	return []string{"PATH=" + c.path}
}

// mapFS turns image entries into a MapFS (symlinks included), plus the directory /app.
func mapFS(entries []testimage.Entry) fstest.MapFS {
	m := fstest.MapFS{"app": {Mode: fs.ModeDir | 0o755}}
	for _, e := range entries {
		switch e.Type {
		case tar.TypeSymlink:
			m[e.Name] = &fstest.MapFile{Data: []byte(e.Linkname), Mode: fs.ModeSymlink | 0o777}
		case tar.TypeDir:
			m[e.Name] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
		default:
			m[e.Name] = &fstest.MapFile{Data: e.Body, Mode: fs.FileMode(e.Mode)}
		}
	}
	return m
}

func TestLookPath(t *testing.T) {
	for _, tt := range pathCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rootfs.LookPath(mapFS(tt.entries), tt.prog, rootfs.PathEnv(tt.env()), tt.workdir)
			if (err == nil) != (tt.wantErr == nil) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("LookPath(%q) error = %v, want %v", tt.prog, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("LookPath(%q) = %q, want %q", tt.prog, got, tt.want)
			}
		})
	}
}

func TestPathEnv(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{nil, rootfs.DefaultPATH},
		{[]string{"HOME=/root"}, rootfs.DefaultPATH},
		{[]string{"PATH="}, ""},
		{[]string{"PATH=/a", "PATH=/b"}, "/b"}, // the last one, as a process sees it
		{[]string{"XPATH=/x", "PATH=/a"}, "/a"},
	}
	for _, tt := range tests {
		if got := rootfs.PathEnv(tt.env); got != tt.want {
			t.Errorf("PathEnv(%q) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

// TestPathsIn: the absolute paths of a word, whole or cut at = : , and blanks.
func TestPathsIn(t *testing.T) {
	t.Parallel()
	for word, want := range map[string][]string{
		"/app/main.py":                   {"/app/main.py"},
		"--config=/etc/app//x.yaml":      {"/etc/app/x.yaml"},
		"-javaagent:/opt/a.jar=opt,/b/c": {"/opt/a.jar", "/b/c"},
		"--require /opt/r.js":            {"/opt/r.js"},
		"relative/x //host/share -v":     nil,
	} {
		if got := rootfs.PathsIn(word); !slices.Equal(got, want) {
			t.Errorf("PathsIn(%q) = %q, want %q", word, got, want)
		}
	}
}
