package elfdeps

import (
	"debug/elf"
	"errors"
	"io/fs"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const ldso = "/lib64/ld-linux-x86-64.so.2"

// glibcRoot is a Debian-like root without merged /usr: the loader and libc of synthetic
// objects, plus extra entries.
func glibcRoot(t *testing.T, extra fstest.MapFS) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{
		"lib64/ld-linux-x86-64.so.2":     file(mkELF(t, elfSpec{soname: "ld-linux-x86-64.so.2"})),
		"lib/x86_64-linux-gnu/libc.so.6": file(mkELF(t, elfSpec{soname: "libc.so.6", needed: []string{"ld-linux-x86-64.so.2"}})),
	}
	maps.Copy(m, extra)
	return m
}

// base is what every glibc program below gets besides its own libraries.
var base = []string{"lib/x86_64-linux-gnu/libc.so.6", "lib64/ld-linux-x86-64.so.2"}

func app(t *testing.T, s elfSpec) *fstest.MapFile {
	if s.interp == "" {
		s.interp = ldso
	}
	s.needed = append(s.needed, "libc.so.6")
	return file(mkELF(t, s))
}

func lib(t *testing.T, soname string, needed ...string) *fstest.MapFile {
	return file(mkELF(t, elfSpec{soname: soname, needed: needed}))
}

func TestClosureRules(t *testing.T) {
	lib32 := file(mkELF(t, elfSpec{class: elf.ELFCLASS32, machine: elf.EM_386, soname: "libx.so.1"}))
	armLib := file(mkELF(t, elfSpec{machine: elf.EM_AARCH64, soname: "libx.so.1"}))
	muslLoader := file(mkELF(t, elfSpec{soname: "libc.musl-x86_64.so.1"}))
	muslApp := func(s elfSpec) *fstest.MapFile {
		s.interp = "/lib/ld-musl-x86_64.so.1"
		s.needed = append(s.needed, "libc.musl-x86_64.so.1")
		return file(mkELF(t, s))
	}
	alpine := func(extra fstest.MapFS) fstest.MapFS {
		m := fstest.MapFS{
			"lib/ld-musl-x86_64.so.1":   muslLoader,
			"lib/libc.musl-x86_64.so.1": link("ld-musl-x86_64.so.1"),
		}
		maps.Copy(m, extra)
		return m
	}
	muslBase := []string{"lib/ld-musl-x86_64.so.1"}

	tests := []struct {
		name    string
		fsys    fstest.MapFS
		opts    []Option
		paths   []string
		want    []string // depPaths form: sorted, symlinks with " ->"
		missing []string // what Unresolved reports for paths[0]
		wantErr error
	}{
		{
			name:  "static binary",
			fsys:  fstest.MapFS{"bin/app": file(mkELF(t, elfSpec{noDyn: true}))},
			paths: []string{"bin/app"},
		},
		{
			name:  "static pie has an empty dynamic section",
			fsys:  fstest.MapFS{"bin/app": file(mkELF(t, elfSpec{}))},
			paths: []string{"bin/app"},
		},
		{
			name:  "interpreter and libc",
			fsys:  glibcRoot(t, fstest.MapFS{"bin/app": app(t, elfSpec{})}),
			paths: []string{"bin/app"},
			want:  base,
		},
		{
			name: "merged usr with absolute loader link",
			fsys: fstest.MapFS{
				"lib":                            link("usr/lib"),
				"lib64":                          link("usr/lib64"),
				"usr/lib64/ld-linux-x86-64.so.2": link("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
				"usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": file(mkELF(t, elfSpec{soname: "ld-linux-x86-64.so.2"})),
				"usr/lib/x86_64-linux-gnu/libc.so.6":            lib(t, "libc.so.6", "ld-linux-x86-64.so.2"),
				"usr/bin/app":                                   app(t, elfSpec{}),
			},
			paths: []string{"usr/bin/app"},
			want: []string{"lib ->", "lib64 ->", "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
				"usr/lib/x86_64-linux-gnu/libc.so.6", "usr/lib64/ld-linux-x86-64.so.2 ->"},
		},
		{
			name: "soname link and its target",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":                                app(t, elfSpec{needed: []string{"libx.so.1"}}),
				"usr/lib/x86_64-linux-gnu/libx.so.1":     link("libx.so.1.2.3"),
				"usr/lib/x86_64-linux-gnu/libx.so.1.2.3": lib(t, "libx.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"usr/lib/x86_64-linux-gnu/libx.so.1 ->", "usr/lib/x86_64-linux-gnu/libx.so.1.2.3"}, base...),
		},
		{
			name: "rpath of the loader chain",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":         app(t, elfSpec{needed: []string{"libx.so.1"}, rpath: ptr("/opt/a")}),
				"opt/a/libx.so.1": lib(t, "libx.so.1", "liby.so.1"),
				"opt/a/liby.so.1": lib(t, "liby.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"opt/a/libx.so.1", "opt/a/liby.so.1"}, base...),
		},
		{
			name: "runpath is not inherited",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":         app(t, elfSpec{needed: []string{"libx.so.1"}, runpath: ptr("/opt/a")}),
				"opt/a/libx.so.1": lib(t, "libx.so.1", "liby.so.1"),
				"opt/a/liby.so.1": lib(t, "liby.so.1"),
			}),
			paths:   []string{"bin/app"},
			want:    append([]string{"opt/a/libx.so.1"}, base...),
			missing: []string{"DT_NEEDED liby.so.1 of opt/a/libx.so.1"},
			wantErr: ErrMissing,
		},
		{
			name: "runpath switches rpath off",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":         app(t, elfSpec{needed: []string{"libx.so.1"}, rpath: ptr("/opt/a"), runpath: ptr("/opt/b")}),
				"opt/a/libx.so.1": lib(t, "libx.so.1"),
				"opt/b/libx.so.1": lib(t, "libx.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"opt/b/libx.so.1"}, base...),
		},
		{
			name: "an object with runpath offers no rpath up the chain",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":         app(t, elfSpec{needed: []string{"libx.so.1"}, rpath: ptr("/opt/a"), runpath: ptr("/opt/b")}),
				"opt/b/libx.so.1": lib(t, "libx.so.1", "liby.so.1"),
				"opt/a/liby.so.1": lib(t, "liby.so.1"),
			}),
			paths:   []string{"bin/app"},
			want:    append([]string{"opt/b/libx.so.1"}, base...),
			missing: []string{"DT_NEEDED liby.so.1 of opt/b/libx.so.1"},
			wantErr: ErrMissing,
		},
		{
			name: "rpath before LD_LIBRARY_PATH",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":           app(t, elfSpec{needed: []string{"libx.so.1"}, rpath: ptr("/opt/a")}),
				"opt/a/libx.so.1":   lib(t, "libx.so.1"),
				"opt/env/libx.so.1": lib(t, "libx.so.1"),
			}),
			opts:  []Option{WithLibraryPath("/opt/env")},
			paths: []string{"bin/app"},
			want:  append([]string{"opt/a/libx.so.1"}, base...),
		},
		{
			name: "LD_LIBRARY_PATH before runpath",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":           app(t, elfSpec{needed: []string{"libx.so.1"}, runpath: ptr("/opt/b")}),
				"opt/b/libx.so.1":   lib(t, "libx.so.1"),
				"opt/env/libx.so.1": lib(t, "libx.so.1"),
			}),
			opts:  []Option{WithLibraryPath("/nowhere::/opt/env")},
			paths: []string{"bin/app"},
			want:  append([]string{"opt/env/libx.so.1"}, base...),
		},
		{
			name: "$LIB as Debian expands it",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":                            app(t, elfSpec{needed: []string{"libx.so.1"}, rpath: ptr("/opt/$LIB")}),
				"opt/lib/x86_64-linux-gnu/libx.so.1": lib(t, "libx.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"opt/lib/x86_64-linux-gnu/libx.so.1"}, base...),
		},
		{
			name: "${LIB} as Fedora expands it",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":             app(t, elfSpec{needed: []string{"libx.so.1"}, runpath: ptr("/opt/${LIB}")}),
				"opt/lib64/libx.so.1": lib(t, "libx.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"opt/lib64/libx.so.1"}, base...),
		},
		{
			name: "$PLATFORM",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":                  app(t, elfSpec{needed: []string{"libx.so.1"}, runpath: ptr("/opt/$PLATFORM/lib")}),
				"opt/x86_64/lib/libx.so.1": lib(t, "libx.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"opt/x86_64/lib/libx.so.1"}, base...),
		},
		{
			name: "${ORIGIN} of the program",
			fsys: glibcRoot(t, fstest.MapFS{
				"app/bin/app":       app(t, elfSpec{needed: []string{"libx.so.1"}, runpath: ptr("${ORIGIN}/../lib")}),
				"app/lib/libx.so.1": lib(t, "libx.so.1"),
			}),
			paths: []string{"app/bin/app"},
			want:  append([]string{"app/lib/libx.so.1"}, base...),
		},
		{
			name: "$ORIGIN of a library is where it was found, not its target",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":           app(t, elfSpec{needed: []string{"libx.so.1"}, rpath: ptr("/opt/a")}),
				"opt/a/libx.so.1":   link("/store/libx.so.1"),
				"store/libx.so.1":   file(mkELF(t, elfSpec{soname: "libx.so.1", needed: []string{"liby.so.1"}, runpath: ptr("$ORIGIN/y")})),
				"opt/a/y/liby.so.1": lib(t, "liby.so.1"),
				"store/y/liby.so.1": lib(t, "liby.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"opt/a/libx.so.1 ->", "opt/a/y/liby.so.1", "store/libx.so.1"}, base...),
		},
		{
			name: "$ORIGIN of the program is its real directory",
			fsys: glibcRoot(t, fstest.MapFS{
				"usr/local/bin/app":     link("/opt/app/bin/app"),
				"opt/app/bin/app":       app(t, elfSpec{needed: []string{"libx.so.1"}, runpath: ptr("$ORIGIN/../lib")}),
				"opt/app/lib/libx.so.1": lib(t, "libx.so.1"),
			}),
			paths: []string{"usr/local/bin/app"},
			want:  append([]string{"opt/app/bin/app", "opt/app/lib/libx.so.1"}, base...),
		},
		{
			name: "$ORIGINAL is not a token",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":                 app(t, elfSpec{needed: []string{"libx.so.1"}, runpath: ptr("/opt/$ORIGINAL")}),
				"opt/$ORIGINAL/libx.so.1": lib(t, "libx.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"opt/$ORIGINAL/libx.so.1"}, base...),
		},
		{
			name: "DT_NEEDED with a slash",
			fsys: glibcRoot(t, fstest.MapFS{
				"app/bin/app":       app(t, elfSpec{needed: []string{"$ORIGIN/../lib/libx.so.1"}}),
				"app/lib/libx.so.1": lib(t, "libx.so.1"),
			}),
			paths: []string{"app/bin/app"},
			want:  append([]string{"app/lib/libx.so.1"}, base...),
		},
		{
			name: "ld.so.conf with relative include glob and a cycle",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":                 app(t, elfSpec{needed: []string{"libx.so.1"}}),
				"etc/ld.so.conf":          text("# local\ninclude ld.so.conf.d/*.conf\n"),
				"etc/ld.so.conf.d/b.conf": text("/opt/b\n"),
				"etc/ld.so.conf.d/a.conf": text("/opt/a # first by name\n"),
				"etc/ld.so.conf.d/c.conf": text("include /etc/ld.so.conf\n"),
				"etc/ld.so.conf.d/no.txt": text("/opt/no\n"),
				"opt/b/libx.so.1":         lib(t, "libx.so.1"),
				"opt/a/libx.so.1":         lib(t, "libx.so.1"),
				"opt/no/libx.so.1":        lib(t, "libx.so.1"),
				"usr/lib/libx.so.1":       lib(t, "libx.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"opt/a/libx.so.1"}, base...),
		},
		{
			name: "DF_1_NODEFLIB skips the system directories",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":           file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libx.so.1"}, nodeflib: true})),
				"usr/lib/libx.so.1": lib(t, "libx.so.1"),
			}),
			paths:   []string{"bin/app"},
			want:    []string{"lib64/ld-linux-x86-64.so.2"},
			missing: []string{"DT_NEEDED libx.so.1 of bin/app"},
			wantErr: ErrMissing,
		},
		{
			name: "32-bit library found first is skipped",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":                        app(t, elfSpec{needed: []string{"libx.so.1"}}),
				"lib/x86_64-linux-gnu/libx.so.1": lib32,
				"usr/lib/libx.so.1":              lib(t, "libx.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"usr/lib/libx.so.1"}, base...),
		},
		{
			name: "other machine and non-ELF candidates are skipped",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":            app(t, elfSpec{needed: []string{"libx.so.1"}, rpath: ptr("/opt/arm:/opt/text")}),
				"opt/arm/libx.so.1":  armLib,
				"opt/text/libx.so.1": text("INPUT(libx.so.1.2)\n"),
				"usr/lib/libx.so.1":  lib(t, "libx.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"usr/lib/libx.so.1"}, base...),
		},
		{
			name: "aarch64 multiarch and $PLATFORM",
			fsys: fstest.MapFS{
				"lib/ld-linux-aarch64.so.1":       file(mkELF(t, elfSpec{machine: elf.EM_AARCH64, soname: "ld-linux-aarch64.so.1"})),
				"lib/aarch64-linux-gnu/libc.so.6": file(mkELF(t, elfSpec{machine: elf.EM_AARCH64, soname: "libc.so.6", needed: []string{"ld-linux-aarch64.so.1"}})),
				"lib/x86_64-linux-gnu/libc.so.6":  lib(t, "libc.so.6"),
				"opt/aarch64/libx.so.1":           armLib,
				"bin/app": file(mkELF(t, elfSpec{machine: elf.EM_AARCH64, interp: "/lib/ld-linux-aarch64.so.1",
					needed: []string{"libx.so.1", "libc.so.6"}, runpath: ptr("/opt/$PLATFORM")})),
			},
			paths: []string{"bin/app"},
			want:  []string{"lib/aarch64-linux-gnu/libc.so.6", "lib/ld-linux-aarch64.so.1", "opt/aarch64/libx.so.1"},
		},
		{
			name: "a library already loaded is reused by soname, not searched again",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":           app(t, elfSpec{needed: []string{"libx.so.1", "liby.so.1"}, runpath: ptr("/opt/a")}),
				"opt/a/libx.so.1":   lib(t, "libx.so.1"),
				"usr/lib/liby.so.1": lib(t, "liby.so.1", "libx.so.1"),
				"usr/lib/libx.so.1": lib(t, "libx.so.1"),
			}),
			paths: []string{"bin/app"},
			want:  append([]string{"opt/a/libx.so.1", "usr/lib/liby.so.1"}, base...),
		},
		{
			name:    "missing interpreter",
			fsys:    fstest.MapFS{"bin/app": file(mkELF(t, elfSpec{interp: ldso}))},
			paths:   []string{"bin/app"},
			missing: []string{"PT_INTERP /lib64/ld-linux-x86-64.so.2 of bin/app"},
			wantErr: ErrMissing,
		},
		{
			name: "symlink loop is missing",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":           app(t, elfSpec{needed: []string{"libx.so.1"}}),
				"usr/lib/libx.so.1": link("../lib/libx.so.1"),
			}),
			paths:   []string{"bin/app"},
			want:    base,
			missing: []string{"DT_NEEDED libx.so.1 of bin/app"},
			wantErr: ErrMissing,
		},
		{
			name: "glibc NSS modules when libc is loaded",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":                                 app(t, elfSpec{}),
				"etc/nsswitch.conf":                       text("hosts: files dns\n"),
				"lib/x86_64-linux-gnu/libnss_files.so.2":  lib(t, "libnss_files.so.2", "libc.so.6"),
				"lib/x86_64-linux-gnu/libnss_dns.so.2":    lib(t, "libnss_dns.so.2", "libresolv.so.2"),
				"lib/x86_64-linux-gnu/libresolv.so.2":     lib(t, "libresolv.so.2", "libc.so.6"),
				"lib/x86_64-linux-gnu/libnss_compat.so.2": lib(t, "libnss_compat.so.2"),
			}),
			paths: []string{"bin/app"},
			want: append([]string{"etc/nsswitch.conf", "lib/x86_64-linux-gnu/libnss_dns.so.2",
				"lib/x86_64-linux-gnu/libnss_files.so.2", "lib/x86_64-linux-gnu/libresolv.so.2"}, base...),
		},
		{
			name: "musl: libc is the loader, system path",
			fsys: alpine(fstest.MapFS{
				"usr/bin/app":         muslApp(elfSpec{needed: []string{"libz.so.1", "libpthread.so.0", "libm.so"}}),
				"usr/lib/libz.so.1":   link("libz.so.1.3"),
				"usr/lib/libz.so.1.3": file(mkELF(t, elfSpec{soname: "libz.so.1", needed: []string{"libc.musl-x86_64.so.1"}})),
			}),
			paths: []string{"usr/bin/app"},
			want:  append([]string{"usr/lib/libz.so.1 ->", "usr/lib/libz.so.1.3"}, muslBase...),
		},
		{
			name: "musl: path file replaces the default path",
			fsys: alpine(fstest.MapFS{
				"etc/ld-musl-x86_64.path": text("/opt/lib\n/lib"),
				"usr/bin/app":             muslApp(elfSpec{needed: []string{"libz.so.1", "liby.so.1"}}),
				"usr/lib/libz.so.1":       lib(t, "libz.so.1"),
				"opt/lib/liby.so.1":       lib(t, "liby.so.1"),
			}),
			paths:   []string{"usr/bin/app"},
			want:    append([]string{"opt/lib/liby.so.1"}, muslBase...),
			missing: []string{"DT_NEEDED libz.so.1 of usr/bin/app"},
			wantErr: ErrMissing,
		},
		{
			name: "musl: runpath is inherited, $LIB is not a token",
			fsys: alpine(fstest.MapFS{
				"usr/bin/app":         muslApp(elfSpec{needed: []string{"libx.so.1", "libz.so.1"}, runpath: ptr("/opt/a:/opt/$LIB")}),
				"opt/a/libx.so.1":     lib(t, "libx.so.1", "liby.so.1"),
				"opt/a/liby.so.1":     lib(t, "liby.so.1"),
				"opt/lib64/libz.so.1": lib(t, "libz.so.1"),
			}),
			paths:   []string{"usr/bin/app"},
			want:    append([]string{"opt/a/libx.so.1", "opt/a/liby.so.1"}, muslBase...),
			missing: []string{"DT_NEEDED libz.so.1 of usr/bin/app"},
			wantErr: ErrMissing,
		},
		{
			name: "musl: a library on its own needs the loader as libc",
			fsys: alpine(fstest.MapFS{
				"usr/lib/libz.so.1.3": file(mkELF(t, elfSpec{soname: "libz.so.1", needed: []string{"libc.musl-x86_64.so.1"}})),
			}),
			paths: []string{"usr/lib/libz.so.1.3"},
			want:  muslBase,
		},
		{
			name: "script interpreter through symlinks",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin":                  link("usr/bin"),
				"usr/bin/sh":           link("dash"),
				"usr/bin/dash":         app(t, elfSpec{}),
				"usr/local/bin/run.sh": text("#! /bin/sh -e\necho hi\n"),
			}),
			paths: []string{"usr/local/bin/run.sh"},
			want:  append([]string{"bin ->", "usr/bin/dash", "usr/bin/sh ->"}, base...),
		},
		{
			name: "env script runs a program from PATH",
			fsys: glibcRoot(t, fstest.MapFS{
				"usr/bin/env":        app(t, elfSpec{}),
				"usr/bin/python3":    link("python3.11"),
				"usr/bin/python3.11": app(t, elfSpec{needed: []string{"libz.so.1"}}),
				"usr/lib/libz.so.1":  lib(t, "libz.so.1"),
				"opt/bin/python3":    text("not executable"),
				"app/run.py":         text("#!/usr/bin/env -u HOME -S LC_ALL=C python3 -u\nprint()\n"),
			}),
			opts:  []Option{WithPath("relative:/opt/bin:/nowhere:/usr/bin")},
			paths: []string{"app/run.py"},
			want:  append([]string{"usr/bin/env", "usr/bin/python3 ->", "usr/bin/python3.11", "usr/lib/libz.so.1"}, base...),
		},
		{
			name: "env script with a program missing from PATH",
			fsys: glibcRoot(t, fstest.MapFS{
				"usr/bin/env": app(t, elfSpec{}),
				"app/run.py":  text("#!/usr/bin/env python3\n"),
			}),
			paths:   []string{"app/run.py"},
			want:    append([]string{"usr/bin/env"}, base...),
			missing: []string{"program python3 run by env of app/run.py"},
			wantErr: ErrMissing,
		},
		{
			name:    "script with a missing interpreter",
			fsys:    fstest.MapFS{"run.sh": text("#!/bin/bash\n")},
			paths:   []string{"run.sh"},
			missing: []string{"script interpreter /bin/bash of run.sh"},
			wantErr: ErrMissing,
		},
		{
			name:  "script that is its own interpreter",
			fsys:  fstest.MapFS{"a.sh": text("#!/a.sh\n")},
			paths: []string{"a.sh"},
		},
		{
			name:  "directory",
			fsys:  fstest.MapFS{"opt/app/x": text("")},
			paths: []string{"opt/app"},
		},
		{
			name:  "data file",
			fsys:  fstest.MapFS{"etc/motd": text("hello")},
			paths: []string{"etc/motd"},
		},
		{
			name: "input symlink gives its target",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/app":     link("app-1.0"),
				"bin/app-1.0": app(t, elfSpec{}),
			}),
			paths: []string{"/bin/app"},
			want:  append([]string{"bin/app-1.0"}, base...),
		},
		{
			name: "several inputs share their libraries and are not repeated",
			fsys: glibcRoot(t, fstest.MapFS{
				"bin/a":                          app(t, elfSpec{needed: []string{"libx.so.1"}}),
				"bin/b":                          app(t, elfSpec{}),
				"lib/x86_64-linux-gnu/libx.so.1": lib(t, "libx.so.1"),
			}),
			paths: []string{"bin/a", "bin/b", "lib/x86_64-linux-gnu/libx.so.1"},
			want:  base,
		},
		{
			name:    "corrupt ELF",
			fsys:    fstest.MapFS{"bin/app": file([]byte("\x7fELF\x02\x01\x01garbage"))},
			paths:   []string{"bin/app"},
			wantErr: ErrNotELF,
		},
		{
			name:    "missing input",
			fsys:    fstest.MapFS{},
			paths:   []string{"bin/app"},
			wantErr: fs.ErrNotExist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := New(tt.fsys, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			deps, err := r.Closure(tt.paths...)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Closure error = %v, want %v", err, tt.wantErr)
			}
			for _, m := range tt.missing {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not name %q", err, m)
				}
			}
			if tt.wantErr != nil && !errors.Is(tt.wantErr, ErrMissing) {
				return
			}
			if got := depPaths(deps); !reflect.DeepEqual(got, sorted(tt.want)) {
				t.Errorf("Closure paths:\n got %q\nwant %q", got, sorted(tt.want))
			}
			for _, d := range deps {
				if d.Reason == "" {
					t.Errorf("%s has no reason", d.Path)
				}
			}

			again, _ := r.Closure(tt.paths...)
			if !reflect.DeepEqual(deps, again) {
				t.Errorf("second Closure differs:\n%v\n%v", deps, again)
			}

			unresolved, err := Unresolved(tt.fsys, tt.paths[0], tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(unresolved, tt.missing) {
				t.Errorf("Unresolved = %q, want %q", unresolved, tt.missing)
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return out
}

// TestClosureOrderAndReasons pins the whole result for a merged-/usr image: the loader's
// order (interpreter, libraries breadth first, NSS last) and what each reason says.
func TestClosureOrderAndReasons(t *testing.T) {
	m := fstest.MapFS{
		"bin":                            link("usr/bin"),
		"lib":                            link("usr/lib"),
		"lib64":                          link("usr/lib64"),
		"usr/lib64/ld-linux-x86-64.so.2": link("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
		"usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": file(mkELF(t, elfSpec{soname: "ld-linux-x86-64.so.2"})),
		"usr/lib/x86_64-linux-gnu/libc.so.6":            lib(t, "libc.so.6", "ld-linux-x86-64.so.2"),
		"usr/lib/x86_64-linux-gnu/libx.so.1":            link("libx.so.1.0"),
		"usr/lib/x86_64-linux-gnu/libx.so.1.0":          lib(t, "libx.so.1", "liby.so.1", "libc.so.6"),
		"usr/lib/x86_64-linux-gnu/liby.so.1":            lib(t, "liby.so.1", "libc.so.6"),
		"usr/lib/x86_64-linux-gnu/libnss_files.so.2":    lib(t, "libnss_files.so.2", "libc.so.6"),
		"usr/bin/app":       app(t, elfSpec{needed: []string{"libx.so.1"}}),
		"usr/local/bin/run": text("#!/bin/app\n"),
		"etc/nsswitch.conf": text("passwd: files\n"),
	}
	r, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Closure("usr/local/bin/run")
	if err != nil {
		t.Fatal(err)
	}
	const interp = "PT_INTERP /lib64/ld-linux-x86-64.so.2 of bin/app"
	want := []Dep{
		{Path: "bin", Reason: "symlink on the way to bin/app: script interpreter /bin/app of usr/local/bin/run", Symlink: true},
		{Path: "usr/bin/app", Reason: "script interpreter /bin/app of usr/local/bin/run, as bin/app"},
		{Path: "lib64", Reason: "symlink on the way to lib64/ld-linux-x86-64.so.2: " + interp, Symlink: true},
		{Path: "usr/lib64/ld-linux-x86-64.so.2", Reason: "symlink on the way to lib64/ld-linux-x86-64.so.2: " + interp, Symlink: true},
		{Path: "lib", Reason: "symlink on the way to lib64/ld-linux-x86-64.so.2: " + interp, Symlink: true},
		{Path: "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", Reason: interp + ", as lib64/ld-linux-x86-64.so.2"},
		{Path: "usr/lib/x86_64-linux-gnu/libx.so.1", Reason: "symlink on the way to lib/x86_64-linux-gnu/libx.so.1: DT_NEEDED libx.so.1 of bin/app", Symlink: true},
		{Path: "usr/lib/x86_64-linux-gnu/libx.so.1.0", Reason: "DT_NEEDED libx.so.1 of bin/app, as lib/x86_64-linux-gnu/libx.so.1"},
		{Path: "usr/lib/x86_64-linux-gnu/libc.so.6", Reason: "DT_NEEDED libc.so.6 of bin/app, as lib/x86_64-linux-gnu/libc.so.6"},
		{Path: "usr/lib/x86_64-linux-gnu/liby.so.1", Reason: "DT_NEEDED liby.so.1 of usr/lib/x86_64-linux-gnu/libx.so.1.0, as lib/x86_64-linux-gnu/liby.so.1"},
		{Path: "etc/nsswitch.conf", Reason: "glibc NSS configuration"},
		{Path: "usr/lib/x86_64-linux-gnu/libnss_files.so.2", Reason: "glibc NSS module libnss_files.so.2, as lib/x86_64-linux-gnu/libnss_files.so.2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Closure:\n got %s\nwant %s", fmtDeps(got), fmtDeps(want))
	}
}

func fmtDeps(deps []Dep) string {
	var b strings.Builder
	for _, d := range deps {
		b.WriteString("\n  " + d.Path + " | " + d.Reason)
		if d.Symlink {
			b.WriteString(" | symlink")
		}
	}
	return b.String()
}
