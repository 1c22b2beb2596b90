package pkgdb

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// mergedUsr is a Debian root with a merged /usr: libc6's list names
// /lib/x86_64-linux-gnu/libc.so.6, which is /usr/lib/x86_64-linux-gnu/libc.so.6.
func mergedUsr() fstest.MapFS {
	return fstest.MapFS{
		"lib":                                     {Mode: fs.ModeSymlink, Data: []byte("usr/lib")},
		"usr/lib/x86_64-linux-gnu/libc.so.6":      {Data: []byte("libc")},
		"usr/lib/x86_64-linux-gnu/libm.so.6":      {Data: []byte("libm")},
		"usr/lib/x86_64-linux-gnu/libz.so.1":      {Mode: fs.ModeSymlink, Data: []byte("libz.so.1.2.13")},
		"usr/lib/x86_64-linux-gnu/libz.so.1.2.13": {Data: []byte("libz")},
		"usr/bin/other":                           {Data: []byte("other")},
		"etc/os-release":                          {Data: []byte("ID=debian\n")},
		"var/lib/dpkg/status": {Data: []byte("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u7\nDescription: GNU C Library\n continued\n\n" +
			"Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib (1:1.2.13.dfsg-1)\nVersion: 1:1.2.13.dfsg-1\n\n" +
			"Package: other\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n" +
			"Package: gone\nStatus: deinstall ok config-files\nVersion: 0.1\n")},
		"var/lib/dpkg/info/libc6:amd64.list":     {Data: []byte("/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n/lib/x86_64-linux-gnu/libm.so.6\n")},
		"var/lib/dpkg/info/libc6:amd64.md5sums":  {Data: []byte("aaaa  lib/x86_64-linux-gnu/libc.so.6\nbbbb  lib/x86_64-linux-gnu/libm.so.6\n")},
		"var/lib/dpkg/info/zlib1g:amd64.list":    {Data: []byte("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13\n/usr/lib/x86_64-linux-gnu/libz.so.1\n")},
		"var/lib/dpkg/info/zlib1g:amd64.md5sums": {Data: []byte("cccc  usr/lib/x86_64-linux-gnu/libz.so.1.2.13\n")},
		"var/lib/dpkg/info/other.list":           {Data: []byte("/usr/bin/other\n")},
	}
}

func names(ps []*Package) []string {
	var out []string
	for _, p := range ps {
		out = append(out, string(p.Kind)+":"+p.Name+"@"+p.Version)
	}
	return out
}

func TestOwnersDpkgMergedUsr(t *testing.T) {
	fsys := mergedUsr()
	taken := []string{"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", "/app/prog"}
	own, err := Owners(fsys, taken, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(own.Packages), []string{"deb:libc6@2.36-9+deb12u7", "deb:zlib1g@1:1.2.13.dfsg-1"}; !slices.Equal(got, want) {
		t.Fatalf("owners %v, want %v", got, want)
	}
	if !slices.Equal(own.Unowned, []string{"/app/prog"}) {
		t.Errorf("unowned %v", own.Unowned)
	}
	libc, zlib := own.Packages[0], own.Packages[1]
	if libc.Source != "glibc" || libc.SourceVersion != "2.36-9+deb12u7" || zlib.Source != "zlib" || zlib.SourceVersion != "1:1.2.13.dfsg-1" {
		t.Errorf("sources %s %s, %s %s", libc.Source, libc.SourceVersion, zlib.Source, zlib.SourceVersion)
	}
	if got := libc.PURL(); got != "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&upstream=glibc" {
		t.Errorf("purl %s", got)
	}
	md := own.Metadata(func(p string) string { return p })
	var keys []string
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"/var/lib/dpkg/status.d/libc6", "/var/lib/dpkg/status.d/libc6.md5sums", "/var/lib/dpkg/status.d/zlib1g", "/var/lib/dpkg/status.d/zlib1g.md5sums"}
	if !slices.Equal(keys, want) {
		t.Fatalf("metadata files %v, want %v", keys, want)
	}
	if got := string(md["/var/lib/dpkg/status.d/libc6.md5sums"]); got != "aaaa  usr/lib/x86_64-linux-gnu/libc.so.6\n" {
		t.Errorf("libc6.md5sums (libm was not kept) %q", got)
	}
	st := string(md["/var/lib/dpkg/status.d/libc6"])
	if !strings.HasPrefix(st, "Package: libc6\nStatus: install ok installed\n") || strings.Count(st, "Status:") != 1 || !strings.Contains(st, " continued\n") {
		t.Errorf("status.d/libc6 %q", st)
	}
	// What the result keeps reads back as the same packages (distroless layout).
	res := fstest.MapFS{}
	for k, v := range md {
		res[strings.TrimPrefix(k, "/")] = &fstest.MapFile{Data: v}
	}
	back, err := Installed(res)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(back); !slices.Equal(got, names(own.Packages)) {
		t.Errorf("read back %v, want %v", got, names(own.Packages))
	}
	// Slimmed again, a result is a distroless-style source: status.d's md5sums are its
	// only file lists.
	for _, f := range taken[:3] {
		res[strings.TrimPrefix(f, "/")] = fsys[strings.TrimPrefix(f, "/")]
	}
	res["lib"] = fsys["lib"]
	again, err := Owners(res, []string{"/usr/lib/x86_64-linux-gnu/libc.so.6"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(again.Packages); !slices.Equal(got, []string{"deb:libc6@2.36-9+deb12u7"}) || again.Packages[0].Record != "/var/lib/dpkg/status.d/libc6" {
		t.Errorf("owners in a distroless-style source %v", got)
	}
}

func TestOwnersApk(t *testing.T) {
	db := "C:Q1aaa\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1bbb\nR:libc.musl-x86_64.so.1\na:0:0:777\nZ:Q1ccc\n\n" +
		"C:Q1ddd\nP:busybox\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\no:busybox\nF:bin\nR:busybox\nZ:Q1eee\n\n" +
		"C:Q1fff\nP:zlib\nV:1.3.1-r0\nA:x86_64\nL:Zlib\no:zlib\nF:lib\nR:libz.so.1\nZ:Q1ggg\n"
	fsys := fstest.MapFS{
		"lib/apk/db/installed":      {Data: []byte(db)},
		"lib/ld-musl-x86_64.so.1":   {Data: []byte("ld")},
		"lib/libc.musl-x86_64.so.1": {Mode: fs.ModeSymlink, Data: []byte("ld-musl-x86_64.so.1")},
		"lib/libz.so.1":             {Data: []byte("z")},
		"bin/busybox":               {Data: []byte("bb")},
	}
	own, err := Owners(fsys, []string{"/lib/ld-musl-x86_64.so.1", "/lib/libz.so.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(own.Packages), []string{"apk:musl@1.2.4-r2", "apk:zlib@1.3.1-r0"}; !slices.Equal(got, want) {
		t.Fatalf("owners %v, want %v", got, want)
	}
	got := string(own.Metadata(func(p string) string { return p })["/lib/apk/db/installed"])
	want := "C:Q1aaa\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1bbb\n\n" +
		"C:Q1fff\nP:zlib\nV:1.3.1-r0\nA:x86_64\nL:Zlib\no:zlib\nF:lib\nR:libz.so.1\nZ:Q1ggg\n"
	if got != want {
		t.Errorf("trimmed db:\n%s\nwant:\n%s", got, want)
	}
}

func TestOwnersLanguages(t *testing.T) {
	var jar bytes.Buffer
	zw := zip.NewWriter(&jar)
	w, _ := zw.Create("META-INF/maven/org.example/lib/pom.properties")
	w.Write([]byte("#generated\ngroupId=org.example\nartifactId=lib\nversion=2.1.0\n"))
	zw.Close()
	self, err := os.ReadFile(os.Args[0]) // this test binary: a Go binary with build info
	if err != nil {
		t.Fatal(err)
	}
	sp := "usr/lib/python3/site-packages/"
	fsys := fstest.MapFS{
		"app/node_modules/@scope/left/package.json": {Data: []byte(`{"name":"@scope/left","version":"1.2.3","license":"MIT"}`)},
		"app/node_modules/@scope/left/index.js":     {Data: []byte("x")},
		"app/node_modules/right/package.json":       {Data: []byte(`{"name":"right","version":"0.1.0"}`)},
		"app/node_modules/right/index.js":           {Data: []byte("x")},
		sp + "yaml/__init__.py":                     {Data: []byte("x")},
		sp + "PyYAML-6.0.dist-info/METADATA":        {Data: []byte("Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0\nLicense: MIT\n\nbody\n")},
		sp + "PyYAML-6.0.dist-info/RECORD":          {Data: []byte("yaml/__init__.py,sha256=x,1\nPyYAML-6.0.dist-info/METADATA,,\n")},
		sp + "six-1.16.dist-info/METADATA":          {Data: []byte("Name: six\nVersion: 1.16.0\n")},
		sp + "six-1.16.dist-info/RECORD":            {Data: []byte("six.py,,\n")},
		"app/lib.jar":                               {Data: jar.Bytes(), Mode: 0o644},
		"app/server":                                {Data: self, Mode: 0o755},
	}
	taken := []string{"/app/node_modules/@scope/left/index.js", "/" + sp + "yaml/__init__.py", "/app/lib.jar", "/app/server"}
	own, err := Owners(fsys, taken, func(p string) bool { return p == "/app/lib.jar" || p == "/app/server" })
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names(own.Packages), " ")
	for _, want := range []string{"maven:lib@2.1.0", "npm:left@1.2.3", "pypi:PyYAML@6.0", "golang:stdlib@go", "golang:slim@"} {
		if !strings.Contains(got, want) {
			t.Errorf("owners %s: no %s", got, want)
		}
	}
	for _, not := range []string{"npm:right", "pypi:six"} {
		if strings.Contains(got, not) {
			t.Errorf("owners %s: %s owns nothing taken", got, not)
		}
	}
	wantTravel := []string{"/app/node_modules/@scope/left/package.json", "/" + sp + "PyYAML-6.0.dist-info/METADATA", "/" + sp + "PyYAML-6.0.dist-info/RECORD"}
	if !slices.Equal(own.Travel, wantTravel) {
		t.Errorf("travel %v, want %v", own.Travel, wantTravel)
	}
	for _, p := range own.Packages {
		if p.Kind == NPM && p.PURL() != "pkg:npm/%40scope/left@1.2.3" {
			t.Errorf("npm purl %s", p.PURL())
		}
	}
}

func TestOwnersRPMUnknown(t *testing.T) {
	fsys := fstest.MapFS{"var/lib/rpm/rpmdb.sqlite": {Data: []byte("SQLite format 3\x00")}, "usr/bin/x": {Data: []byte("x")}}
	own, err := Owners(fsys, []string{"/usr/bin/x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(own.Packages) != 0 || len(own.Notes) != 1 || !slices.Equal(own.Unowned, []string{"/usr/bin/x"}) {
		t.Errorf("rpm source: packages %v, notes %v, unowned %v", names(own.Packages), own.Notes, own.Unowned)
	}
}
