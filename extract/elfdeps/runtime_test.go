package elfdeps

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// reasons maps each dep's path to why it was taken.
func reasons(deps []Dep) map[string]string {
	m := map[string]string{}
	for _, d := range deps {
		m[d.Path] = d.Reason
	}
	return m
}

// closureReasons is the closure of input in fsys, each dep's path mapped to its reason.
func closureReasons(t *testing.T, fsys fstest.MapFS, input string, opts ...Option) map[string]string {
	t.Helper()
	r, err := New(fsys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := r.Closure(input)
	if err != nil {
		t.Fatal(err)
	}
	return reasons(deps)
}

// TestClosureShellScriptCommands: a #!/bin/sh script brings the programs it calls by
// name through PATH, with their closure; builtins, functions (its own and those of a
// file it sources) and case patterns are not commands; under busybox an applet is
// enough; what only a run can name is a warning.
func TestClosureShellScriptCommands(t *testing.T) {
	t.Parallel()
	prog := mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}})
	m := fstest.MapFS{
		"app/entry.sh": file([]byte(`#!/bin/sh
. /app/lib.sh
set -e
greet() { echo hi; }
greet
now=$(date +%s)
case "$1" in
  start) grep -q x /etc/hosts && sed -e 's/a/b/' /dev/null ;;
  help|*) helper ;;
esac
cat <<EOF
heredoc-word is text
EOF
$RUNNER --flag
exec "$@"
`)),
		"app/lib.sh":                         text("helper() { printf 'x'; }\n"),
		"usr/bin/date":                       file(prog),
		"usr/bin/grep":                       file(prog),
		"usr/bin/sed":                        file([]byte("#!/bin/sh\nwc -l\n")),
		"usr/bin/wc":                         file(prog),
		"usr/bin/helper":                     file(prog), // shadowed by the sourced function
		"usr/bin/start":                      file(prog), // a case pattern, never run
		"usr/bin/heredoc-word":               file(prog), // text of a here-document
		"bin":                                link("usr/bin"),
		"usr/bin/sh":                         link("busybox"),
		"usr/bin/busybox":                    file(append(mkELF(t, elfSpec{noDyn: true}), []byte("\x00cat\x00date\x00")...)),
		"lib64/ld-linux-x86-64.so.2":         file(mkELF(t, elfSpec{soname: "ld-linux-x86-64.so.2"})),
		"usr/lib/x86_64-linux-gnu/libc.so.6": file(mkELF(t, elfSpec{soname: "libc.so.6"})),
	}
	var warns []string
	got := closureReasons(t, m, "app/entry.sh", WithPath("/usr/bin"), WithWarn(func(s string) { warns = append(warns, s) }))
	for p, why := range map[string]string{
		"usr/bin/date":    `command "date" run by /app/entry.sh`,
		"usr/bin/grep":    `command "grep" run by /app/entry.sh`,
		"usr/bin/sed":     `command "sed" run by /app/entry.sh`,
		"usr/bin/wc":      `command "wc" run by /usr/bin/sed`,
		"usr/bin/busybox": "script interpreter /bin/sh of app/entry.sh",
		"app/lib.sh":      "file sourced by /app/entry.sh",
	} {
		if !strings.HasPrefix(got[p], why) {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	for _, p := range []string{"usr/bin/helper", "usr/bin/start", "usr/bin/heredoc-word", "usr/bin/cat"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s taken (%s): a function, a case pattern, here-document text and an applet are no files to take", p, got[p])
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "$RUNNER") || !strings.Contains(warns[0], `exec "$@"`) {
		t.Errorf("warnings %q: want one naming $RUNNER and exec \"$@\"", warns)
	}

	// A command in no PATH directory, without busybox to answer it, is a warning.
	m["usr/bin/sh"] = link("dash")
	m["usr/bin/dash"] = file(prog)
	warns = nil
	closureReasons(t, m, "app/entry.sh", WithPath("/usr/bin"), WithWarn(func(s string) { warns = append(warns, s) }))
	if !slices.ContainsFunc(warns, func(w string) bool { return strings.Contains(w, "calls cat, found in no PATH directory") }) {
		t.Errorf("warnings %q: want cat found in no PATH directory", warns)
	}
}

// TestClosureGlibcRuntimeData: a glibc program brings the files glibc reads by name, the
// C.UTF-8 locale and the config's locale, OpenSSL's configuration with the provider it
// activates and the CA bundle when it links libssl, and gconv modules only when it
// imports iconv_open. A library alone brings none of them.
func TestClosureGlibcRuntimeData(t *testing.T) {
	t.Parallel()
	lib := "usr/lib/x86_64-linux-gnu/"
	m := fstest.MapFS{
		"app/prog":                   file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libssl.so.3", "libc.so.6"}})),
		"lib64/ld-linux-x86-64.so.2": file(mkELF(t, elfSpec{soname: "ld-linux-x86-64.so.2"})),
		lib + "libc.so.6":            file(mkELF(t, elfSpec{soname: "libc.so.6"})),
		lib + "libssl.so.3":          file(mkELF(t, elfSpec{soname: "libssl.so.3", needed: []string{"libcrypto.so.3"}})),
		lib + "libcrypto.so.3": file(append(mkELF(t, elfSpec{soname: "libcrypto.so.3"}),
			[]byte("\x00OPENSSLDIR: \"/usr/lib/ssl\"\x00MODULESDIR: \"/"+lib+"ossl-modules\"\x00")...)),
		lib + "ossl-modules/legacy.so":       file(mkELF(t, elfSpec{soname: "legacy.so"})),
		lib + "ossl-modules/fips.so":         file(mkELF(t, elfSpec{soname: "fips.so"})),
		"usr/lib/ssl/openssl.cnf":            link("/etc/ssl/openssl.cnf"),
		"etc/ssl/openssl.cnf":                text("openssl_conf = init\n[init]\nproviders = prov\n[prov]\ndefault = d\nlegacy = l\nfips = f\n[d]\nactivate = 1\n[l]\nactivate = 1\n[f]\n# activate = 1\n"),
		"etc/ssl/certs/ca-certificates.crt":  text("certs"),
		"etc/host.conf":                      text("multi on\n"),
		"etc/services":                       text("http 80/tcp\n"),
		"etc/protocols":                      text("tcp 6 TCP\n"),
		"usr/lib/locale/C.utf8/LC_CTYPE":     text("ctype"),
		"usr/lib/locale/de_DE.utf8/LC_CTYPE": text("ctype"),
		"usr/lib/locale/fr_FR.utf8/LC_CTYPE": text("unwanted"),
		lib + "gconv/gconv-modules":          text("module ISO-8859-1// INTERNAL ISO8859-1 1\n"),
		lib + "gconv/ISO8859-1.so":           file(mkELF(t, elfSpec{})),
	}
	got := closureReasons(t, m, "app/prog", WithEnv([]string{"LANG=de_DE.UTF-8", "PATH=/bin"}))
	for p, why := range map[string]string{
		"etc/host.conf":                      "resolver configuration",
		"etc/services":                       "service names",
		"etc/protocols":                      "protocol names",
		"usr/lib/locale/C.utf8/LC_CTYPE":     "C.UTF-8 locale for glibc programs",
		"usr/lib/locale/de_DE.utf8/LC_CTYPE": "locale de_DE.UTF-8 set by LANG",
		"etc/ssl/openssl.cnf":                "OpenSSL configuration for libcrypto.so.3",
		"usr/lib/ssl/openssl.cnf":            "OpenSSL configuration",
		lib + "ossl-modules/legacy.so":       "OpenSSL provider legacy activated by",
		"etc/ssl/certs/ca-certificates.crt":  "CA bundle for TLS libraries",
	} {
		if !strings.HasPrefix(got[p], why) {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	for _, p := range []string{"usr/lib/locale/fr_FR.utf8/LC_CTYPE", lib + "ossl-modules/fips.so", lib + "gconv/gconv-modules", lib + "gconv/ISO8859-1.so"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s taken (%s), want it left: not activated, not set, no iconv", p, got[p])
		}
	}

	// A library on its own starts no program: no runtime data.
	if _, ok := closureReasons(t, m, lib+"libssl.so.3")["etc/services"]; ok {
		t.Errorf("a library alone brought /etc/services")
	}
}

// TestClosureSonameLoadedByDlopen: a library taken with the one that loads it by soname
// (libjvm.so in lib/server, dlopened by libjli before libjava.so asks for it) satisfies
// its users' DT_NEEDED, as the loader's link map does; alone it is missing.
func TestClosureSonameLoadedByDlopen(t *testing.T) {
	t.Parallel()
	jre := "usr/lib/jvm/jre/lib/"
	m := fstest.MapFS{
		jre + "libjava.so":       file(mkELF(t, elfSpec{soname: "libjava.so", needed: []string{"libjvm.so"}, runpath: ptr("$ORIGIN")})),
		jre + "server/libjvm.so": file(mkELF(t, elfSpec{soname: "libjvm.so"})),
	}
	r, _ := New(m)
	if _, err := r.Closure(jre+"libjava.so", jre+"server/libjvm.so"); err != nil {
		t.Errorf("libjava.so with libjvm.so taken: %v, want no missing library", err)
	}
	r, _ = New(m)
	if _, err := r.Closure(jre + "libjava.so"); len(Missing(err)) != 1 {
		t.Errorf("libjava.so alone: %v, want libjvm.so missing", err)
	}
}

// TestClosurePreload: a dynamic program brings what the loader preloads (LD_PRELOAD by
// name, searched as DT_NEEDED is, or by path; /etc/ld.so.preload with its list), with
// their own DT_NEEDED; a static program, which no loader starts, brings neither, and a
// name the source lacks is a warning.
func TestClosurePreload(t *testing.T) {
	t.Parallel()
	lib := "usr/lib/x86_64-linux-gnu/"
	m := fstest.MapFS{
		"app/prog":                   file(mkELF(t, elfSpec{interp: "/lib64/ld-linux-x86-64.so.2", needed: []string{"libc.so.6"}})),
		"app/static":                 file(mkELF(t, elfSpec{noDyn: true})),
		"lib64/ld-linux-x86-64.so.2": file(mkELF(t, elfSpec{soname: "ld-linux-x86-64.so.2"})),
		lib + "libc.so.6":            file(mkELF(t, elfSpec{soname: "libc.so.6"})),
		lib + "libjemalloc.so.2":     file(mkELF(t, elfSpec{soname: "libjemalloc.so.2", needed: []string{"libstdc++.so.6"}})),
		lib + "libstdc++.so.6":       file(mkELF(t, elfSpec{soname: "libstdc++.so.6"})),
		"opt/tc/libtcmalloc.so":      file(mkELF(t, elfSpec{soname: "libtcmalloc.so"})),
		"usr/lib/libaudit-hook.so":   file(mkELF(t, elfSpec{soname: "libaudit-hook.so"})),
		"etc/ld.so.preload":          text("/usr/lib/libaudit-hook.so\n"),
	}
	var warns []string
	env := WithEnv([]string{"LD_PRELOAD=libjemalloc.so.2 /opt/tc/libtcmalloc.so:libgone.so"})
	got := closureReasons(t, m, "app/prog", env, WithWarn(func(s string) { warns = append(warns, s) }))
	for p, why := range map[string]string{
		lib + "libjemalloc.so.2":   "LD_PRELOAD libjemalloc.so.2 of app/prog",
		lib + "libstdc++.so.6":     "DT_NEEDED libstdc++.so.6 of " + lib + "libjemalloc.so.2",
		"opt/tc/libtcmalloc.so":    "LD_PRELOAD /opt/tc/libtcmalloc.so of app/prog",
		"usr/lib/libaudit-hook.so": "/etc/ld.so.preload /usr/lib/libaudit-hook.so of app/prog",
		"etc/ld.so.preload":        "preload list of the loader of app/prog",
	} {
		if !strings.HasPrefix(got[p], why) {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "libgone.so") {
		t.Errorf("warnings %q: want one naming libgone.so", warns)
	}
	got = closureReasons(t, m, "app/static", env)
	for p := range got {
		if p != "app/static" {
			t.Errorf("a static program took %s (%s)", p, got[p])
		}
	}
}

// TestClosureLdCache: a library found in a directory of /etc/ld.so.conf brings
// /etc/ld.so.cache, which is all glibc's loader reads, with the configuration it was
// made from; libraries of the default directories bring neither.
func TestClosureLdCache(t *testing.T) {
	t.Parallel()
	lib := "usr/lib/x86_64-linux-gnu/"
	m := fstest.MapFS{
		"app/local":                  file(mkELF(t, elfSpec{interp: "/lib64/ld-linux-x86-64.so.2", needed: []string{"libfoo.so.1", "libc.so.6"}})),
		"app/plain":                  file(mkELF(t, elfSpec{interp: "/lib64/ld-linux-x86-64.so.2", needed: []string{"libc.so.6"}})),
		"lib64/ld-linux-x86-64.so.2": file(mkELF(t, elfSpec{soname: "ld-linux-x86-64.so.2"})),
		lib + "libc.so.6":            file(mkELF(t, elfSpec{soname: "libc.so.6"})),
		"usr/local/lib/libfoo.so.1":  file(mkELF(t, elfSpec{soname: "libfoo.so.1"})),
		"etc/ld.so.conf":             text("include /etc/ld.so.conf.d/*.conf\n"),
		"etc/ld.so.conf.d/libc.conf": text("/usr/local/lib\n"),
		"etc/ld.so.cache":            text("glibc-ld.so.cache1.1"),
	}
	got := closureReasons(t, m, "app/local")
	for _, p := range []string{"etc/ld.so.cache", "etc/ld.so.conf", "etc/ld.so.conf.d/libc.conf", "usr/local/lib/libfoo.so.1"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s not taken: %v", p, got)
		}
	}
	if why := got["etc/ld.so.cache"]; !strings.Contains(why, "/usr/local/lib/libfoo.so.1") {
		t.Errorf("etc/ld.so.cache: reason %q, want the library it finds", why)
	}
	got = closureReasons(t, m, "app/plain")
	for _, p := range []string{"etc/ld.so.cache", "etc/ld.so.conf"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s taken for a program of the default directories only (%s)", p, got[p])
		}
	}
}

// TestClosureTLSDataOfModules: what links a TLS library brings OpenSSL's configuration
// and the CA bundle whether it is a program or a shared object (Python's _ssl, an
// extension module that python3 itself does not link), and on musl as on glibc (curl
// out of an Alpine image).
func TestClosureTLSDataOfModules(t *testing.T) {
	t.Parallel()
	lib := "usr/lib/x86_64-linux-gnu/"
	tls := func(m fstest.MapFS, libDir string) fstest.MapFS {
		m[libDir+"libssl.so.3"] = file(mkELF(t, elfSpec{soname: "libssl.so.3", needed: []string{"libcrypto.so.3"}}))
		m[libDir+"libcrypto.so.3"] = file(append(mkELF(t, elfSpec{soname: "libcrypto.so.3"}), []byte("\x00OPENSSLDIR: \"/etc/ssl\"\x00")...))
		m["etc/ssl/openssl.cnf"] = text("# defaults\n")
		m["etc/ssl/certs/ca-certificates.crt"] = text("certs")
		m["etc/services"] = text("http 80/tcp\n")
		return m
	}
	glibc := tls(glibcImage(t), lib)
	glibc["usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so"] = file(mkELF(t, elfSpec{needed: []string{"libssl.so.3", "libc.so.6"}}))
	musl := tls(fstest.MapFS{
		"lib/ld-musl-x86_64.so.1":   file(mkELF(t, elfSpec{soname: "libc.musl-x86_64.so.1"})),
		"lib/libc.musl-x86_64.so.1": link("ld-musl-x86_64.so.1"),
		"usr/bin/curl": file(mkELF(t, elfSpec{interp: "/lib/ld-musl-x86_64.so.1",
			needed: []string{"libssl.so.3", "libc.musl-x86_64.so.1"}})),
	}, "lib/")
	for _, tc := range []struct {
		name  string
		fsys  fstest.MapFS
		input string
	}{
		{"a Python extension module", glibc, "usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so"},
		{"a musl program", musl, "usr/bin/curl"},
	} {
		got := closureReasons(t, tc.fsys, tc.input)
		for p, why := range map[string]string{
			"etc/ssl/certs/ca-certificates.crt": "CA bundle for TLS libraries",
			"etc/ssl/openssl.cnf":               "OpenSSL configuration for libcrypto.so.3",
		} {
			if !strings.HasPrefix(got[p], why) {
				t.Errorf("%s: %s: reason %q, want %q", tc.name, p, got[p], why)
			}
		}
		// The C runtime's own data comes with glibc programs only.
		if r, ok := got["etc/services"]; ok {
			t.Errorf("%s: /etc/services taken: %s", tc.name, r)
		}
	}
}

// TestClosureScriptExpandsKnownVariables: a command word whose variables the script's
// own single assignments and the config's Env settle is run and taken; a variable set
// twice, or by a command, stays a warning.
func TestClosureScriptExpandsKnownVariables(t *testing.T) {
	t.Parallel()
	prog := mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}})
	m := glibcImage(t)
	m["bin/sh"] = file(prog)
	m["opt/jdk/bin/java"] = file(prog)
	m["app/server"] = file(prog)
	m["usr/bin/tool"] = file(prog)
	m["usr/bin/other"] = file(prog)
	m["usr/bin/which"] = file(prog)
	m["app/entry.sh"] = file([]byte(`#!/bin/sh
JAVA="$JAVA_HOME/bin/java"
"$JAVA" -version
exec ${APP_BIN:-/app/server} "$@"
`))
	m["app/twice.sh"] = file([]byte("#!/bin/sh\nT=tool\n[ -n \"$X\" ] && T=other\n$T\nU=$(which tool)\n$U\n"))
	var warns []string
	got := closureReasons(t, m, "app/entry.sh", WithEnv([]string{"JAVA_HOME=/opt/jdk"}), WithWarn(func(s string) { warns = append(warns, s) }))
	for p, why := range map[string]string{
		"opt/jdk/bin/java": `command /opt/jdk/bin/java ("$JAVA") run by /app/entry.sh`,
		"app/server":       `command /app/server (${APP_BIN:-/app/server}) run by /app/entry.sh`,
	} {
		if !strings.HasPrefix(got[p], why) {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	if len(warns) != 0 {
		t.Errorf("warnings %q, want none: every command is settled", warns)
	}
	warns = nil
	got = closureReasons(t, m, "app/twice.sh", WithPath("/usr/bin"), WithWarn(func(s string) { warns = append(warns, s) }))
	for _, p := range []string{"usr/bin/tool", "usr/bin/other"} {
		if r, ok := got[p]; ok {
			t.Errorf("%s taken (%s): the script decides at run time", p, r)
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "$T") || !strings.Contains(warns[0], "$U") {
		t.Errorf("warnings %q, want one naming $T and $U", warns)
	}
}

// TestClosureBusyboxAppletArgs: a busybox applet's arguments in a script are the
// applet's (sed's expression is no shell script to read); a file they name comes, and
// a busybox shell's script argument that is a directory is neither an error nor missing.
func TestClosureBusyboxAppletArgs(t *testing.T) {
	t.Parallel()
	m := fstest.MapFS{
		"app/run.sh":  file([]byte("#!/bin/sh\nsed 's/x/y/' /etc/f\nbusybox sh /app\n")),
		"etc/f":       text("x\n"),
		"bin/sh":      link("dash"),
		"bin/dash":    file(mkELF(t, elfSpec{noDyn: true})),
		"bin/sed":     link("busybox"),
		"bin/busybox": file(append(mkELF(t, elfSpec{noDyn: true}), []byte("\x00sed\x00sh\x00")...)),
	}
	var warns []string
	got := closureReasons(t, m, "app/run.sh", WithPath("/bin"), WithWarn(func(s string) { warns = append(warns, s) }))
	if !strings.HasPrefix(got["etc/f"], `file named by the arguments of command "sed" run by /app/run.sh`) {
		t.Errorf("etc/f: reason %q", got["etc/f"])
	}
	if len(warns) > 0 {
		t.Errorf("warnings %q: want none", warns)
	}
}

// TestClosureScriptOwnDir: a script that goes to its own directory (cd "$(dirname
// "$0")") runs what is there by relative name, with the files its arguments name
// there; DIR=$(cd "$(dirname "$0")" && pwd) names the same directory; dirname, which
// gets it there, comes too.
func TestClosureScriptOwnDir(t *testing.T) {
	t.Parallel()
	prog := mkELF(t, elfSpec{noDyn: true})
	m := fstest.MapFS{
		"opt/app/start.sh":     file([]byte("#!/bin/sh\nset -e\nDIR=$(cd \"$(dirname \"$0\")\" && pwd)\n\"$DIR/bin/migrate\"\ncd \"$(dirname \"$0\")\"\nexec ./bin/server --config conf/app.yml\n")),
		"opt/app/bin/server":   file(prog),
		"opt/app/bin/migrate":  file(prog),
		"opt/app/conf/app.yml": text("x: 1\n"),
		"bin/sh":               file(prog),
		"bin/dirname":          file(prog),
	}
	var warns []string
	got := closureReasons(t, m, "opt/app/start.sh", WithPath("/bin"), WithWarn(func(s string) { warns = append(warns, s) }))
	for p, why := range map[string]string{
		"opt/app/bin/server":   `command "/opt/app/bin/server" run by /opt/app/start.sh`,
		"opt/app/bin/migrate":  `command /opt/app/bin/migrate ("$DIR/bin/migrate") run by /opt/app/start.sh`,
		"opt/app/conf/app.yml": `file named by the arguments of command "/opt/app/bin/server" run by /opt/app/start.sh`,
		"bin/dirname":          `command "dirname" run by /opt/app/start.sh`,
	} {
		if !strings.HasPrefix(got[p], why) {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	if len(warns) > 0 {
		t.Errorf("warnings %q", warns)
	}
}

// TestClosureArgListsBounded: a program a script runs with many argument lists is run
// again, aside, for the first maxArgLists of them only: each such run reads it again.
func TestClosureArgListsBounded(t *testing.T) {
	t.Parallel()
	prog := mkELF(t, elfSpec{noDyn: true})
	var script strings.Builder
	script.WriteString("#!/bin/sh\n")
	for i := range 2 * maxArgLists {
		fmt.Fprintf(&script, "tool --n %d\n", i)
	}
	m := fstest.MapFS{"app/run.sh": file([]byte(script.String())), "bin/sh": file(prog), "bin/tool": file(prog)}
	r, err := New(m, WithPath("/bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Closure("app/run.sh"); err != nil {
		t.Fatal(err)
	}
	if n := r.otherRuns["bin/tool"]; n != maxArgLists {
		t.Errorf("tool run again %d times, want %d", n, maxArgLists)
	}
}

// TestClosureRelativeSources: files a script sources by a relative name come as the
// shell finds them: with a slash, from the working directory or the directory a cd
// moved to; a bare name through PATH, then the working directory (bash); and what
// they run comes too, $0 in them naming the script that sourced them.
func TestClosureRelativeSources(t *testing.T) {
	t.Parallel()
	prog := mkELF(t, elfSpec{noDyn: true})
	m := fstest.MapFS{
		"srv/entry.sh":         file([]byte("#!/bin/sh\n. ./conf/env.sh\n. helpers.sh\n. local.sh\ncd /opt/tool\n. ./tool-env.sh\n")),
		"srv/conf/env.sh":      text("envtool\n"),
		"usr/lib/helpers.sh":   text("helpertool\n\"${0%/*}/own.sh\"\n"), // $0 is the sourcing script
		"srv/own.sh":           file([]byte("#!/bin/sh\n")),
		"usr/lib/own.sh":       file([]byte("#!/bin/sh\n")),
		"srv/local.sh":         text("localtool\n"),
		"opt/tool/tool-env.sh": text("tooltool\n"),
		"srv/tool-env.sh":      text("nottaken\n"),
		"usr/bin/envtool":      file(prog),
		"usr/bin/helpertool":   file(prog),
		"usr/bin/localtool":    file(prog),
		"usr/bin/tooltool":     file(prog),
		"usr/bin/nottaken":     file(prog),
		"bin/sh":               file(prog),
	}
	got := closureReasons(t, m, "srv/entry.sh", WithPath("/usr/bin:/usr/lib"), WithWorkdir("/srv"))
	for p, why := range map[string]string{
		"srv/conf/env.sh":      "file sourced by /srv/entry.sh",
		"usr/lib/helpers.sh":   "file sourced by /srv/entry.sh",
		"srv/local.sh":         "file sourced by /srv/entry.sh",
		"opt/tool/tool-env.sh": "file sourced by /srv/entry.sh",
		"usr/bin/envtool":      `command "envtool" run by /srv/conf/env.sh`,
		"usr/bin/helpertool":   `command "helpertool" run by /usr/lib/helpers.sh`,
		"usr/bin/tooltool":     `command "tooltool" run by /opt/tool/tool-env.sh`,
		"srv/own.sh":           `command "/srv/own.sh" run by /usr/lib/helpers.sh`,
	} {
		if !strings.HasPrefix(got[p], why) {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	for _, p := range []string{"srv/tool-env.sh", "usr/bin/nottaken", "usr/lib/own.sh"} {
		if r, ok := got[p]; ok {
			t.Errorf("%s taken: %s", p, r)
		}
	}
}
