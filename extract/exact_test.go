package extract

import (
	"errors"
	"testing"
)

// An Exact spec (a traced file) takes symlinks as symlinks, link by link, and a
// directory without its contents; Reason replaces the --from reason.
func TestSelectExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		path   string
		want   map[string]string // entries that must be there, as describeSet shows them
		absent []string
	}{
		{"a directory alone", "/app/lib", map[string]string{"app/lib": "dir 0555 0:0", "app": "dir 0750 1000:1000"}, []string{"app/lib/a.so", "app/lib/sub"}},
		{"a symlink and its target", "/app/current", map[string]string{"app/current": "symlink releases/v2", "app/releases/v2": "dir 0555 0:0"}, []string{"app/releases/v2/run"}},
		{"a symlink on the way", "/lib/x86_64-linux-gnu/libm.so.6", map[string]string{"lib": "symlink usr/lib", "usr/lib/x86_64-linux-gnu/libm.so.6": "file 0644 0:0 libm"}, []string{"usr/lib/x86_64-linux-gnu/libc.so.6"}},
		{"a chain ending in a file", "/link/server", map[string]string{"link/server": "symlink /app/server", "app/server": "file 0755 0:0 server"}, nil},
		{"a dangling symlink", "/app/dangling", map[string]string{"app/dangling": "symlink /nowhere"}, nil},
		{"a plain file", "/etc/app.conf", map[string]string{"etc/app.conf": "file 0640 0:0 conf"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const why = "opened by --trace [\"/app/server\"]"
			set, err := Select(rulesFS(), []Spec{{Path: tt.path, Exact: true, Reason: why}}, WithDeps(DepsNone))
			if err != nil {
				t.Fatal(err)
			}
			got := describeSet(t, set)
			for p, w := range tt.want {
				if got[p] != w {
					t.Errorf("%s: %q, want %q", p, got[p], w)
				}
			}
			for _, p := range tt.absent {
				if _, ok := got[p]; ok {
					t.Errorf("%s taken", p)
				}
			}
			for _, f := range set.Files() {
				if f.Path == tt.path && f.Reason != why {
					t.Errorf("%s: reason %q, want %q", f.Path, f.Reason, why)
				}
			}
		})
	}
	if _, err := Select(rulesFS(), []Spec{{Path: "/app/missing", Exact: true}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing path: %v, want ErrNotFound", err)
	}
	if _, err := Select(rulesFS(), []Spec{{Path: "/app/server", Dest: "/x", Exact: true}}); !errors.Is(err, ErrBadSpec) {
		t.Errorf("another destination: %v, want ErrBadSpec", err)
	}
}
