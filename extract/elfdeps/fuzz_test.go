package elfdeps

import (
	"debug/elf"
	"os"
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
