package elfdeps

import (
	"debug/elf"
	"os"
	"path"
	"testing"
	"testing/fstest"
	"time"
)

// FuzzClosure feeds arbitrary bytes as a program, as a library it needs and as the image's
// ld.so.conf: whatever an image holds, Closure and Unresolved must return, not panic.
func FuzzClosure(f *testing.F) {
	f.Add(mkELF(f, elfSpec{interp: ldso, needed: []string{"libfuzz.so.1", "libc.so.6"}, rpath: ptr("$ORIGIN/../$LIB:${PLATFORM}")}))
	f.Add(mkELF(f, elfSpec{class: elf.ELFCLASS32, machine: elf.EM_386, needed: []string{"libfuzz.so.1"}, runpath: ptr("/opt")}))
	f.Add(mkELF(f, elfSpec{interp: "/lib/ld-musl-x86_64.so.1", needed: []string{"libc.musl-x86_64.so.1", "libfuzz.so.1"}}))
	f.Add(mkELF(f, elfSpec{noDyn: true}))
	f.Add([]byte("#!/usr/bin/fuzz\n"))
	f.Add([]byte("#!/usr/bin/env -u X -S A=b fuzz -x\n"))
	f.Add([]byte("include /etc/*.conf\n/usr/lib\n"))
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	if b, err := os.ReadFile("/usr/bin/true"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		defer func() {
			// A closure is a handful of file reads: seconds mean a blow-up somewhere.
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v for %d bytes", d, len(data))
			}
		}()
		m := fstest.MapFS{
			"usr/bin/fuzz":               file(data),
			"usr/lib/libfuzz.so.1":       file(data),
			"lib":                        link("usr/lib"),
			"lib64/ld-linux-x86-64.so.2": file(data),
			"etc/ld.so.conf":             file(data),
			"etc/x.conf":                 file(data),
			"usr/bin/env":                file(data),
		}
		r, err := New(m)
		if err != nil {
			return // a configuration that cannot be read is an error, which is fine
		}
		deps, _ := r.Closure("usr/bin/fuzz")
		for _, d := range deps {
			if d.Path == "" || d.Reason == "" {
				t.Errorf("incomplete dep %+v", d)
			}
		}
		if _, err := Unresolved(m, "usr/bin/fuzz"); err != nil {
			_ = err // errors are allowed; only panics and hangs are not
		}
	})
}

// FuzzSourceReaders: any app source, however hostile (a quote as its last byte,
// unclosed strings, calls nested past any app's, operators without operands), is read
// by each reader of Python and JavaScript sources without a panic, and gives clean
// absolute paths, a bounded number of them.
func FuzzSourceReaders(f *testing.F) {
	f.Add([]byte("x = '"), true)
	f.Add([]byte("require(\""), false)
	f.Add([]byte("import os\nB = os.path.dirname(os.path.abspath(__file__))\nT = os.path.join(B, 'templates')\nD = Path(__file__).parents[2] / 'x'\n"), true)
	f.Add([]byte("const d = path.join(__dirname, '..', 'public');\nconst u = new URL('./a.json', import.meta.url);\nconst v = __dirname + '/v' + x;\n"), false)
	f.Add([]byte("B = Path(__file__).parent\nC = B.joinpath('a', B.parent.joinpath(')\nsys.path.insert(0, B / 'lib')\n"), true)
	f.Add([]byte("f(f(f(f('/etc/x'))))\n/ + / + '/a'"), false)
	f.Fuzz(func(t *testing.T, src []byte, hash bool) {
		pythonImports(src)
		pythonStringModules(src)
		pythonDistNames(src)
		jsModules(src)
		pythonSpawn(src)
		spawnedOf(srcTokens(src, hash), spawnLang{kind: func(string, string) string { return "exec" }})
		for _, f := range scriptFamilies() {
			lang, _ := scriptSpawn(f)(src)
			for _, sp := range spawnedBy(src, lang) {
				if sp.argv0 == "" && sp.shell == "" {
					t.Fatalf("%s: an empty spawn", f)
				}
			}
		}
		got := sourcePaths(src, hash, "srv/app/main.py", "/work")
		if len(got) > maxSourcePaths {
			t.Fatalf("%d paths", len(got))
		}
		for _, p := range append(pythonPathDirs(src, "srv/app/main.py", "/work"), func() (s []string) {
			for _, n := range got {
				s = append(s, n.path)
			}
			return s
		}()...) {
			if !path.IsAbs(p) || path.Clean(p) != p {
				t.Fatalf("path %q is not clean and absolute", p)
			}
		}
	})
}
