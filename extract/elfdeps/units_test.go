package elfdeps

import (
	"debug/elf"
	"errors"
	"io"
	"io/fs"
	"os"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/slim-dev/slim/internal/rootfs"
)

func TestExpandDST(t *testing.T) {
	x86 := &object{class: elf.ELFCLASS64, data: elf.ELFDATA2LSB, machine: elf.EM_X86_64}
	i386 := &object{class: elf.ELFCLASS32, data: elf.ELFDATA2LSB, machine: elf.EM_386}
	ppc := &object{class: elf.ELFCLASS64, data: elf.ELFDATA2MSB, machine: elf.EM_PPC64}
	glibc := func(o *object) dstValues {
		return dstValues{origin: "/opt/app/bin", lib: libDirs(o), platform: platform(o)}
	}
	tests := []struct {
		name string
		in   string
		v    dstValues
		want []string
	}{
		{"no token", "/usr/lib", glibc(x86), []string{"/usr/lib"}},
		{"$ORIGIN", "$ORIGIN/../lib", glibc(x86), []string{"/opt/app/bin/../lib"}},
		{"${ORIGIN}", "${ORIGIN}/lib", glibc(x86), []string{"/opt/app/bin/lib"}},
		{"$ORIGIN twice", "$ORIGIN:$ORIGIN", glibc(x86), []string{"/opt/app/bin:/opt/app/bin"}},
		{"$LIB on x86-64", "/opt/$LIB", glibc(x86), []string{"/opt/lib/x86_64-linux-gnu", "/opt/lib64", "/opt/lib"}},
		{"$LIB twice takes one value", "/$LIB/$LIB", glibc(x86), []string{"/lib/x86_64-linux-gnu/lib/x86_64-linux-gnu", "/lib64/lib64", "/lib/lib"}},
		{"${LIB} on i386", "/${LIB}", glibc(i386), []string{"/lib/i386-linux-gnu", "/lib32", "/lib"}},
		{"$LIB on big-endian ppc64", "/$LIB", glibc(ppc), []string{"/lib/powerpc64-linux-gnu", "/lib64", "/lib"}},
		{"$PLATFORM", "/opt/$PLATFORM/${PLATFORM}", glibc(x86), []string{"/opt/x86_64/x86_64"}},
		{"$PLATFORM without a value drops the element", "/opt/$PLATFORM", glibc(ppc), nil},
		{"unknown token stays", "/opt/$HOME/${X}$", glibc(x86), []string{"/opt/$HOME/${X}$"}},
		{"not a token: identifier goes on", "/opt/$ORIGIN_X", glibc(x86), []string{"/opt/$ORIGIN_X"}},
		{"unterminated brace", "/opt/${ORIGIN", glibc(x86), []string{"/opt/${ORIGIN"}},
		{"musl knows only $ORIGIN", "$ORIGIN/$LIB/$PLATFORM", dstValues{origin: "/bin", musl: true}, []string{"/bin/$LIB/$PLATFORM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expandDST(tt.in, tt.v); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("expandDST(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMuslRules(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"libc.so", true}, {"libc.musl-x86_64.so.1", true}, {"libpthread.so.0", true}, {"libm.so.6", true},
		{"libdl.so.2", true}, {"librt.so.1", true}, {"libutil.so.1", true}, {"libxnet.so", true},
		{"libc", false}, {"libcrypto.so.3", false}, {"libmagic.so.1", false}, {"libz.so.1", false}, {"c.so", false},
	} {
		if got := muslReserved(tt.name); got != tt.want {
			t.Errorf("muslReserved(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, tt := range []struct {
		interp, arch string
		ok           bool
	}{
		{"/lib/ld-musl-x86_64.so.1", "x86_64", true},
		{"/lib/ld-musl-aarch64.so.1", "aarch64", true},
		{"/lib/ld-musl-armhf.so.1", "armhf", true},
		{"/lib64/ld-linux-x86-64.so.2", "", false},
		{"/lib/ld-musl-.so.1", "", false},
		{"", "", false},
	} {
		if arch, ok := muslArch(tt.interp); arch != tt.arch || ok != tt.ok {
			t.Errorf("muslArch(%q) = %q, %v, want %q, %v", tt.interp, arch, ok, tt.arch, tt.ok)
		}
	}
	if got, want := splitSearchPath("/a:\n/b::/c\n", true), []string{"/a", "/b", "/c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("musl path = %q, want %q", got, want)
	}
	if got, want := splitSearchPath("/a;/b::/c", false), []string{"/a", "/b", "/c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("LD_LIBRARY_PATH = %q, want %q", got, want)
	}
}

// TestSearchDirs pins the whole search order for each loader, as the loaders document it.
func TestSearchDirs(t *testing.T) {
	libNoPath := &object{class: elf.ELFCLASS64, data: elf.ELFDATA2LSB, machine: elf.EM_X86_64}
	libRpath := &object{class: elf.ELFCLASS64, data: elf.ELFDATA2LSB, machine: elf.EM_X86_64, rpath: []string{"/librp"}}
	exeRpath := &object{class: elf.ELFCLASS64, data: elf.ELFDATA2LSB, machine: elf.EM_X86_64, rpath: []string{"/exerp"}}
	exeRunpath := &object{class: elf.ELFCLASS64, data: elf.ELFDATA2LSB, machine: elf.EM_X86_64,
		rpath: []string{"/ignored"}, runpath: []string{"/exerun"}, hasRunpath: true}
	fsys := fstest.MapFS{
		"etc/ld.so.conf":          text("/conf1\ninclude conf.d/*.conf\n/conf1 /conf3,/conf4\n"),
		"etc/conf.d/x.conf":       text("/conf2\n"),
		"etc/ld-musl-x86_64.path": text("/mp1:/mp2\n"),
	}
	tests := []struct {
		name   string
		musl   bool
		root   *object
		lib    *object // the requester, loaded by root; nil: root itself asks
		ldPath string
		want   []string
	}{
		{
			name: "glibc: rpath chain, LD_LIBRARY_PATH, conf, defaults", root: exeRpath, lib: libRpath, ldPath: "/env",
			want: []string{"/librp", "/exerp", "/env", "/conf1", "/conf2", "/conf3", "/conf4",
				"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"},
		},
		{
			name: "glibc: a runpath in the chain hides that object's rpath", root: exeRunpath, lib: libNoPath,
			want: []string{"/conf1", "/conf2", "/conf3", "/conf4",
				"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"},
		},
		{
			name: "glibc: the requester's runpath after LD_LIBRARY_PATH", root: exeRunpath, ldPath: "/env",
			want: []string{"/env", "/exerun", "/conf1", "/conf2", "/conf3", "/conf4",
				"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"},
		},
		{
			name: "musl: LD_LIBRARY_PATH, then the rpaths of the chain, then the path file", musl: true,
			root: exeRunpath, lib: libRpath, ldPath: "/env",
			want: []string{"/env", "/librp", "/exerun", "/mp1", "/mp2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.ldPath != "" {
				opts = append(opts, WithLibraryPath(tt.ldPath))
			}
			r, err := New(fsys, opts...)
			if err != nil {
				t.Fatal(err)
			}
			p := &process{r: r, musl: tt.musl, arch: "x86_64"}
			p.root = &loaded{origin: "/bin", obj: tt.root}
			req := p.root
			if tt.lib != nil {
				req = &loaded{origin: "/usr/lib", obj: tt.lib, loader: p.root}
			}
			if got := p.searchDirs(req, "libx.so.1"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("searchDirs:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestMuslDefaultPath(t *testing.T) {
	r, err := New(fstest.MapFS{"lib/ld-musl-aarch64.so.1": text("")})
	if err != nil {
		t.Fatal(err)
	}
	if r.muslArch != "aarch64" {
		t.Errorf("detected musl arch %q, want aarch64", r.muslArch)
	}
	p := &process{r: r, musl: true, arch: r.muslArch}
	p.root = &loaded{origin: "/", obj: &object{}}
	if got, want := p.searchDirs(p.root, "libz.so.1"), []string{"/lib", "/usr/local/lib", "/usr/lib"}; !reflect.DeepEqual(got, want) {
		t.Errorf("searchDirs = %q, want %q", got, want)
	}
}

func TestWalk(t *testing.T) {
	fsys := fstest.MapFS{
		"lib":                 link("usr/lib"),
		"usr/lib/a.so":        link("../../opt/./a.so"),
		"opt/a.so":            text("a"),
		"abs":                 link("/../../usr/lib/../../opt"),
		"loop1":               link("loop2"),
		"loop2":               link("/loop1"),
		"file":                text("f"),
		"usr/lib/dangling.so": link("nowhere.so"),
	}
	r, err := New(fsys)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		real    string
		links   []string
		wantErr error
	}{
		{"/lib/a.so", "opt/a.so", []string{"lib", "usr/lib/a.so"}, nil},
		{"lib/../lib/./a.so", "opt/a.so", []string{"lib", "usr/lib/a.so"}, nil},
		{"lib/../opt/a.so", "", nil, fs.ErrNotExist}, // lib/.. is usr, not the root
		{"/abs/a.so", "opt/a.so", []string{"abs"}, nil},
		{"../../../opt/a.so", "opt/a.so", nil, nil},
		{"/", ".", nil, nil},
		{"loop1", "", nil, rootfs.ErrLoop},
		{"file/x", "", nil, fs.ErrNotExist},
		{"lib/dangling.so", "", nil, fs.ErrNotExist},
		{"nothing", "", nil, fs.ErrNotExist},
	}
	for _, tt := range tests {
		w, err := r.walk(tt.name)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("walk(%q) error = %v, want %v", tt.name, err, tt.wantErr)
			continue
		}
		if err == nil && (w.real != tt.real || !reflect.DeepEqual(w.links, tt.links)) {
			t.Errorf("walk(%q) = %q via %q, want %q via %q", tt.name, w.real, w.links, tt.real, tt.links)
		}
	}
}

// noLinks hides MapFS's ReadLink and Lstat.
type noLinks struct{ fs.FS }

// streamFS serves files that can only be read front to back, like a layer read through
// a decompressor without an index, or (seek) files that can seek but not ReadAt.
type streamFS struct {
	fstest.MapFS
	seek bool
}

type streamFile struct{ fs.File }

type seekFile struct {
	fs.File
	io.Seeker
}

func (s streamFS) Open(name string) (fs.File, error) {
	f, err := s.MapFS.Open(name)
	switch {
	case err != nil:
		return nil, err
	case s.seek:
		return seekFile{f, f.(io.Seeker)}, nil
	}
	return streamFile{f}, nil
}

func TestFileSystems(t *testing.T) {
	if _, err := New(noLinks{fstest.MapFS{}}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("New without ReadLinkFS: error %v, want ErrUnsupported", err)
	}
	m := glibcRoot(t, fstest.MapFS{"bin/app": app(t, elfSpec{})})
	for _, fsys := range []fs.FS{streamFS{MapFS: m}, streamFS{MapFS: m, seek: true}, os.DirFS(writeTree(t, m))} {
		r, err := New(fsys)
		if err != nil {
			t.Fatal(err)
		}
		deps, err := r.Closure("bin/app")
		if err != nil {
			t.Fatal(err)
		}
		if got := depPaths(deps); !reflect.DeepEqual(got, base) {
			t.Errorf("%T: closure %q, want %q", fsys, got, base)
		}
	}
}

func writeTree(t *testing.T, m fstest.MapFS) string {
	t.Helper()
	return onDisk(t, m)
}
