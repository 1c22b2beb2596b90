package extract

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// overlayFS is the host's root with files of a MapFS over it.
type overlayFS struct {
	top  fstest.MapFS
	host fs.FS
}

func (o overlayFS) inTop(name string) bool {
	_, err := o.top.Lstat(name)
	return err == nil
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if o.inTop(name) {
		return o.top.Open(name)
	}
	return o.host.Open(name)
}

func (o overlayFS) ReadLink(name string) (string, error) {
	if o.inTop(name) {
		return o.top.ReadLink(name)
	}
	return o.host.(fs.ReadLinkFS).ReadLink(name)
}

func (o overlayFS) Lstat(name string) (fs.FileInfo, error) {
	if o.inTop(name) {
		return o.top.Lstat(name)
	}
	return o.host.(fs.ReadLinkFS).Lstat(name)
}

// TestSelectNodeAddon: a Node native addon (*.node, a shared object that npm's
// prebuilt tarballs ship without an execute bit) brings the libraries it links, as a
// *.so does: node dlopens it and fails on the first one missing.
func TestSelectNodeAddon(t *testing.T) {
	t.Parallel()
	host := hostFS(t)
	libs, _ := filepath.Glob("/usr/lib/*-linux-gnu/libz.so.1")
	if len(libs) == 0 {
		t.Fatal("no libz.so.1 on this machine")
	}
	b, err := os.ReadFile(libs[0])
	if err != nil {
		t.Fatal(err)
	}
	fsys := overlayFS{top: fstest.MapFS{"app": {Mode: fs.ModeDir | 0o755},
		"app/build/Release/addon.node": {Data: b, Mode: 0o644}}, host: host}
	set, err := Select(fsys, []Spec{{Path: "/app/build/Release/addon.node"}}, WithSourceName("host"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range set.Files() {
		if filepath.Base(f.Path) == "libc.so.6" && f.Size > 0 {
			if !strings.Contains(f.Reason, "addon.node") {
				t.Errorf("libc.so.6 reason %q does not name the addon", f.Reason)
			}
			return
		}
	}
	t.Errorf("the addon's libc.so.6 is not taken: %v", set.Files())
}
