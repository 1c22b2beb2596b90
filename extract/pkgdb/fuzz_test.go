package pkgdb

import (
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzDatabases: a dpkg status file and an apk database of any bytes are read without
// a panic, and what is kept of them parses back to the same packages.
func FuzzDatabases(f *testing.F) {
	f.Add([]byte("Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (2)\n\nPackage: c\n"), []byte("P:x\nV:1\nF:bin\nR:x\nZ:Q1\n\nP:y\n"))
	f.Add([]byte("\n\n:\n \n"), []byte("F:\nR:\n"))
	f.Add([]byte("Package: ../../etc/passwd\nVersion: 1\n"), []byte(""))
	f.Fuzz(func(t *testing.T, status, apk []byte) {
		fsys := fstest.MapFS{
			"var/lib/dpkg/status":      {Data: status},
			"var/lib/dpkg/info/a.list": {Data: []byte("/bin/x\n")},
			"lib/apk/db/installed":     {Data: apk},
			"bin/x":                    {Data: []byte("x")},
		}
		own, err := Owners(fsys, []string{"/bin/x"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res := fstest.MapFS{}
		for k, v := range own.Metadata(func(p string) string { return p }) {
			res[strings.TrimPrefix(k, "/")] = &fstest.MapFile{Data: v}
		}
		back, err := Installed(res)
		if err != nil {
			t.Fatal(err)
		}
		for k := range res {
			if !strings.HasPrefix(k, "var/lib/dpkg/status.d/") && k != "lib/apk/db/installed" {
				t.Errorf("metadata written outside the databases: %s", k)
			}
		}
		kept := 0
		for _, p := range own.Packages {
			if p.Kind != Deb || debName(p.Name) {
				kept++
			}
		}
		if len(back) != kept {
			t.Errorf("kept %d packages, read back %d", kept, len(back))
		}
	})
}
