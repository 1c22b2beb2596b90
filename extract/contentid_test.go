package extract

import (
	"archive/tar"
	"io/fs"
	"testing"
	"testing/fstest"
)

// idFS names each file's content by its path, as a source that can vouch for its
// content would; it refuses for "app/lib/a.so" to show an ID is optional per file.
type idFS struct{ fstest.MapFS }

func (f idFS) ContentID(name string) (string, bool) {
	if name == "app/lib/a.so" {
		return "", false
	}
	return "id:" + name, true
}

func TestEntriesContentID(t *testing.T) {
	specs := []Spec{{Path: "/app/server"}, {Path: "/app/lib/*.so"}, {Path: "/hl"}}
	for _, tc := range []struct {
		name string
		fsys fs.FS
		ids  bool
	}{
		{"source with IDs", idFS{rulesFS()}, true},
		{"source without", rulesFS(), false},
	} {
		set, err := Select(tc.fsys, specs)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := map[string]string{}
		for _, e := range set.Entries() {
			if e.Header.Typeflag == tar.TypeReg {
				got[e.Header.Name] = e.ContentID
			} else if e.ContentID != "" {
				t.Errorf("%s: %s (type %c) has content ID %q", tc.name, e.Header.Name, e.Header.Typeflag, e.ContentID)
			}
		}
		want := map[string]string{"app/server": "id:app/server", "app/lib/a.so": "", "app/lib/b.so": "id:app/lib/b.so", "hl/one": "id:hl/one"}
		if len(got) != len(want) {
			t.Errorf("%s: regular entries %v, want the names of %v", tc.name, got, want)
		}
		for name, id := range want {
			if !tc.ids {
				id = ""
			}
			if g, ok := got[name]; !ok || g != id {
				t.Errorf("%s: %s has content ID %q (present %v), want %q", tc.name, name, g, ok, id)
			}
		}
	}
}
