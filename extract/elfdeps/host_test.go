package elfdeps

import (
	"debug/elf"
	"errors"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/slim-dev/slim/internal/testimage"
)

// lddPaths asks the real loader which files a host program loads: the oracle.
func lddPaths(t *testing.T, program string, env ...string) []string {
	t.Helper()
	cmd := exec.Command(testimage.NeedTool(t, "ldd"), program)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", program, err)
	}
	var paths []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if _, after, ok := strings.Cut(line, "=> "); ok {
			line = after
		}
		if strings.HasPrefix(line, "not found") {
			continue
		}
		if p, _, ok := strings.Cut(line, " ("); ok && strings.HasPrefix(p, "/") {
			paths = append(paths, p)
		}
	}
	return paths
}

// expectEntries turns the entries copyHost reported into depPaths form, leaving out the
// given inputs.
func expectEntries(m fstest.MapFS, entries map[string]bool, inputs ...string) []string {
	var out []string
	for p := range entries {
		if slices.Contains(inputs, p) {
			continue
		}
		if m[p].Mode.Type() == fs.ModeSymlink {
			p += " ->"
		}
		out = append(out, p)
	}
	return sorted(out)
}

// hostPrograms are real programs of different shapes: few libraries, many, a symlinked
// input (python3 -> python3.N), a compiler pass with private libraries.
func hostPrograms(t *testing.T) []string {
	var out []string
	candidates := []string{"/usr/bin/ls", "/usr/bin/python3", "/usr/bin/git", "/usr/bin/curl", "/usr/bin/ssh"}
	if m, _ := filepath.Glob("/usr/lib/gcc/x86_64-linux-gnu/*/cc1"); len(m) > 0 {
		candidates = append(candidates, m[0])
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		testimage.Missing(t, "no host program to compare with ldd")
	}
	return out
}

// TestClosureMatchesLdd copies real programs and exactly the files ldd says they load into
// a MapFS laid out as on this machine (Debian merged /usr: lib -> usr/lib, absolute link
// usr/lib64/ld-linux-x86-64.so.2, soname links), and expects exactly those files and the
// symlinks on their way.
func TestClosureMatchesLdd(t *testing.T) {
	for _, prog := range hostPrograms(t) {
		t.Run(filepath.Base(prog), func(t *testing.T) {
			libs := lddPaths(t, prog)
			if len(libs) < 2 {
				t.Fatalf("ldd %s found only %q", prog, libs)
			}
			m := fstest.MapFS{}
			input := strings.TrimPrefix(prog, "/")
			in := copyHost(t, m, prog)
			want := copyHost(t, m, libs...)
			for p := range in {
				if p != input {
					want[p] = true
				}
			}
			conf, _ := filepath.Glob("/etc/ld.so.conf.d/*.conf")
			copyHost(t, m, append(conf, "/etc/ld.so.conf")...)

			r, err := New(m)
			if err != nil {
				t.Fatal(err)
			}
			deps, err := r.Closure(input)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := depPaths(deps), expectEntries(m, want, input); !reflect.DeepEqual(got, want) {
				t.Errorf("closure of %s:\n got %q\nwant %q", prog, got, want)
			}
			// The loader's order: PT_INTERP, then DT_NEEDED.
			interp := slices.IndexFunc(deps, func(d Dep) bool { return strings.Contains(d.Reason, "PT_INTERP") })
			needed := slices.IndexFunc(deps, func(d Dep) bool { return strings.Contains(d.Reason, "DT_NEEDED") })
			if interp < 0 || needed < 0 || interp > needed {
				t.Errorf("PT_INTERP at %d, first DT_NEEDED at %d: want the loader first", interp, needed)
			}
		})
	}
}

// TestClosureHostRoot runs on the machine's own root through os.DirFS: the libraries ldd
// reports must all be there, and anything more must be glibc's NSS modules and the data
// glibc programs read by name.
func TestClosureHostRoot(t *testing.T) {
	root := os.DirFS("/")
	r, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, prog := range hostPrograms(t)[:1] {
		deps, err := r.Closure(strings.TrimPrefix(prog, "/"))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Dep{}
		for _, d := range deps {
			got[d.Path] = d
		}
		for _, lib := range lddPaths(t, prog) {
			real, err := filepath.EvalSymlinks(lib)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := got[strings.TrimPrefix(real, "/")]; !ok {
				t.Errorf("%s (%s) missing from the closure of %s", lib, real, prog)
			}
			delete(got, strings.TrimPrefix(real, "/"))
		}
		for _, d := range got {
			if !d.Symlink && !strings.Contains(d.Reason, "glibc NSS") && !strings.Contains(d.Reason, "glibc programs") && !strings.Contains(d.Reason, "libnss_") {
				t.Errorf("unexpected %+v", d)
			}
		}
		if _, err := os.Stat("/etc/nsswitch.conf"); err == nil {
			if _, ok := got["etc/nsswitch.conf"]; !ok {
				t.Errorf("etc/nsswitch.conf missing although libc.so.6 is loaded")
			}
		}
	}
}

// gccFixture builds a program and a shared library of its own with the host's gcc.
type gccFixture struct {
	lib            []byte // libhello.so.1.0, soname libhello.so.1
	rpath, runpath []byte // linked with $ORIGIN/../lib as DT_RPATH, as DT_RUNPATH
	plain          []byte // no search path of its own
}

func buildGCC(t *testing.T) *gccFixture {
	t.Helper()
	gcc := testimage.NeedTool(t, "gcc")
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("hello.c", "int hello(void) { return 42; }\n")
	write("main.c", "int hello(void);\nint main(void) { return hello() == 42 ? 0 : 1; }\n")
	run := func(args ...string) {
		cmd := exec.Command(gcc, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("-shared", "-fPIC", "-Wl,-soname,libhello.so.1", "-o", "libhello.so.1.0", "hello.c")
	run("-o", "rpath", "main.c", "./libhello.so.1.0", "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib")
	run("-o", "runpath", "main.c", "./libhello.so.1.0", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")
	run("-o", "plain", "main.c", "./libhello.so.1.0")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	f := &gccFixture{lib: read("libhello.so.1.0"), rpath: read("rpath"), runpath: read("runpath"), plain: read("plain")}
	// The linker must have written what each case is about, or the cases prove nothing.
	for _, c := range []struct {
		name string
		tag  elf.DynTag
	}{{"rpath", elf.DT_RPATH}, {"runpath", elf.DT_RUNPATH}} {
		ef, err := elf.Open(filepath.Join(dir, c.name))
		if err != nil {
			t.Fatal(err)
		}
		v, err := ef.DynString(c.tag)
		ef.Close()
		if err != nil || len(v) != 1 || v[0] != "$ORIGIN/../lib" {
			t.Fatalf("%s: %v = %q, %v", c.name, c.tag, v, err)
		}
	}
	return f
}

// onDisk lays MapFS entries out in a real directory so that the real loader (through
// ldd) can say what it would load.
func onDisk(t *testing.T, m fstest.MapFS) string {
	t.Helper()
	root := t.TempDir()
	for name, f := range m {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if f.Mode.Type() == fs.ModeSymlink {
			err = os.Symlink(string(f.Data), p)
		} else {
			err = os.WriteFile(p, f.Data, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestClosureGCC(t *testing.T) {
	g := buildGCC(t)
	sys := lddPaths(t, "/usr/bin/true") // the loader and libc every gcc program gets
	machinePatched := append([]byte(nil), g.lib...)
	machinePatched[18], machinePatched[19] = byte(elf.EM_AARCH64), 0 // e_machine, little endian

	libLinks := func(dir string) fstest.MapFS {
		return fstest.MapFS{
			dir + "/libhello.so.1":   link("libhello.so.1.0"),
			dir + "/libhello.so.1.0": file(g.lib),
		}
	}
	tests := []struct {
		name     string
		exe      []byte
		files    fstest.MapFS
		opts     []Option
		env      string // LD_LIBRARY_PATH for the ldd oracle, relative to the on-disk root
		wantLib  string // the directory the library is found in; "" when it is missing
		wantAs   string // the name the loader opens it by, when not wantLib/libhello.so.1
		checkLdd bool
	}{
		{
			name: "DT_RPATH $ORIGIN", exe: g.rpath, files: libLinks("app/lib"),
			wantLib: "app/lib", wantAs: "app/bin/../lib/libhello.so.1", checkLdd: true,
		},
		{
			name: "DT_RUNPATH $ORIGIN", exe: g.runpath, files: libLinks("app/lib"),
			wantLib: "app/lib", wantAs: "app/bin/../lib/libhello.so.1", checkLdd: true,
		},
		{
			name: "LD_LIBRARY_PATH", exe: g.plain, files: libLinks("opt/hello/lib"),
			opts: []Option{WithLibraryPath("/opt/hello/lib")}, env: "opt/hello/lib", wantLib: "opt/hello/lib", checkLdd: true,
		},
		{
			name: "ld.so.conf.d", exe: g.plain,
			files: mergeFS(libLinks("opt/hello/lib"), fstest.MapFS{
				"etc/ld.so.conf":                 text("include /etc/ld.so.conf.d/*.conf\n"),
				"etc/ld.so.conf.d/libc.conf":     text("# libc default configuration\n/usr/local/lib\n"),
				"etc/ld.so.conf.d/zz-hello.conf": text("/opt/hello/lib\n"),
			}),
			wantLib: "opt/hello/lib",
		},
		{
			name: "other machine in the rpath is skipped", exe: g.rpath,
			files: mergeFS(fstest.MapFS{"app/lib/libhello.so.1": file(machinePatched)}, libLinks("usr/local/lib"),
				fstest.MapFS{"etc/ld.so.conf": text("/usr/local/lib\n")}),
			wantLib: "usr/local/lib",
		},
		{name: "missing library", exe: g.plain, files: libLinks("opt/hello/lib")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := fstest.MapFS{"app/bin/prog": file(tt.exe)}
			base := copyHost(t, m, sys...)
			fsys := mergeFS(m, tt.files)
			r, err := New(fsys, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			deps, err := r.Closure("app/bin/prog")
			want := expectEntries(fsys, base)
			if tt.wantLib == "" {
				if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "libhello.so.1") || !strings.Contains(err.Error(), "app/bin/prog") {
					t.Fatalf("Closure error = %v, want ErrMissing naming libhello.so.1 and app/bin/prog", err)
				}
				un, err := Unresolved(fsys, "app/bin/prog", tt.opts...)
				if err != nil {
					t.Fatal(err)
				}
				if wantUn := []string{"DT_NEEDED libhello.so.1 of app/bin/prog"}; !reflect.DeepEqual(un, wantUn) {
					t.Errorf("Unresolved = %q, want %q", un, wantUn)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				want = sorted(append(want, tt.wantLib+"/libhello.so.1 ->", tt.wantLib+"/libhello.so.1.0"))
				un, err := Unresolved(fsys, "app/bin/prog", tt.opts...)
				if err != nil || len(un) != 0 {
					t.Errorf("Unresolved = %q, %v; want nothing", un, err)
				}
			}
			if got := depPaths(deps); !reflect.DeepEqual(got, want) {
				t.Errorf("closure:\n got %q\nwant %q", got, want)
			}
			as := tt.wantAs
			if as == "" {
				as = tt.wantLib + "/libhello.so.1"
			}
			for _, d := range deps {
				if d.Path == tt.wantLib+"/libhello.so.1.0" {
					if want := "DT_NEEDED libhello.so.1 of app/bin/prog, as " + as; d.Reason != want {
						t.Errorf("reason %q, want %q", d.Reason, want)
					}
				}
			}
			if !tt.checkLdd {
				return
			}
			// The real loader, run on the same layout on disk, must open the same name.
			root := onDisk(t, mergeFS(fstest.MapFS{"app/bin/prog": file(tt.exe)}, tt.files))
			var env []string
			if tt.env != "" {
				env = append(env, "LD_LIBRARY_PATH="+filepath.Join(root, tt.env))
			}
			found := ""
			for _, p := range lddPaths(t, filepath.Join(root, "app/bin/prog"), env...) {
				if strings.HasSuffix(p, "/libhello.so.1") {
					found = p
				}
			}
			if want := root + "/" + as; found != want {
				t.Errorf("the real loader found %q, want %q", found, want)
			}
		})
	}
}

func mergeFS(ms ...fstest.MapFS) fstest.MapFS {
	out := fstest.MapFS{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// TestClosureHostDlopened: a program of this machine's gcc that calls pthread_exit and
// iconv_open itself brings libgcc_s.so.1, which glibc dlopens to unwind the thread,
// and the gconv module lists: the program's own imports count, not only its
// libraries'.
func TestClosureHostDlopened(t *testing.T) {
	prog := testimage.GCCBuild(t, `#include <iconv.h>
#include <pthread.h>
static void *run(void *a) { pthread_exit(a); }
int main(void) { pthread_t t; iconv_open("UTF-8", "ISO-8859-1"); pthread_create(&t, 0, run, 0); return pthread_join(t, 0); }
`)
	r, err := New(os.DirFS("/"))
	if err != nil {
		t.Fatal(err)
	}
	deps, err := r.Closure(strings.TrimPrefix(prog, "/"))
	if err != nil {
		t.Fatal(err)
	}
	gcc, err := filepath.EvalSymlinks("/lib/x86_64-linux-gnu/libgcc_s.so.1")
	if err != nil {
		testimage.Missing(t, "no libgcc_s.so.1 on this machine: %v", err)
	}
	var unwind, gconv bool
	for _, d := range deps {
		if d.Path == strings.TrimPrefix(gcc, "/") && strings.Contains(d.Reason, "to unwind the stack for pthread_exit") {
			unwind = true
		}
		gconv = gconv || strings.HasSuffix(d.Path, "gconv/gconv-modules")
	}
	if !unwind || !gconv {
		t.Errorf("libgcc_s.so.1 taken to unwind: %v, gconv-modules taken: %v; closure %v", unwind, gconv, deps)
	}
}
