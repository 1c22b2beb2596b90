package rootfs_test

import (
	"errors"
	"io/fs"
	"reflect"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/slim-dev/slim/internal/rootfs"
)

func TestResolve(t *testing.T) {
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
	}
	fsys := fstest.MapFS{
		"lib":                 link("usr/lib"),
		"usr/lib/a.so":        link("../../opt/./a.so"),
		"opt/a.so":            {Data: []byte("a")},
		"abs":                 link("/../../usr/lib/../../opt"),
		"loop1":               link("loop2"),
		"loop2":               link("/loop1"),
		"file":                {Data: []byte("f")},
		"usr/lib/dangling.so": link("nowhere.so"),
	}
	tests := []struct {
		name    string
		follow  bool
		real    string
		links   []string
		wantErr error
	}{
		{"/lib/a.so", true, "opt/a.so", []string{"lib", "usr/lib/a.so"}, nil},
		{"/lib/a.so", false, "usr/lib/a.so", []string{"lib"}, nil},
		{"lib/../lib/./a.so", true, "opt/a.so", []string{"lib", "usr/lib/a.so"}, nil},
		{"lib/../opt/a.so", true, "", nil, fs.ErrNotExist}, // lib/.. is usr, not the root
		{"/abs/a.so", true, "opt/a.so", []string{"abs"}, nil},
		{"../../../opt/a.so", true, "opt/a.so", nil, nil},
		{"/", true, ".", nil, nil},
		{"loop1", true, "", nil, rootfs.ErrLoop},
		{"loop1", false, "loop1", nil, nil},
		{"file/x", true, "", nil, syscall.ENOTDIR},
		{"lib/dangling.so", true, "", nil, fs.ErrNotExist},
		{"nothing", true, "", nil, fs.ErrNotExist},
	}
	for _, tt := range tests {
		real, links, err := rootfs.Resolve(fsys, tt.name, tt.follow)
		if (err == nil) != (tt.wantErr == nil) || !errors.Is(err, tt.wantErr) {
			t.Errorf("Resolve(%q, %t) error = %v, want %v", tt.name, tt.follow, err, tt.wantErr)
			continue
		}
		if err == nil && (real != tt.real || !reflect.DeepEqual(links, tt.links)) {
			t.Errorf("Resolve(%q, %t) = %q via %q, want %q via %q", tt.name, tt.follow, real, links, tt.real, tt.links)
		}
		if err != nil && !rootfs.IsNotFound(err) {
			t.Errorf("IsNotFound(%v) = false", err)
		}
	}
}
