package extract

import (
	"errors"
	"path"
	"testing"
)

// TestGlobMatch pins the name matcher recompress --strip relies on, the trailing "**"
// corner included: it matches what is under a directory, not the directory.
func TestGlobMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"usr/share/doc/**", "usr/share/doc", false},
		{"usr/share/doc/**", "usr/share/doc/a/b", true},
		{"usr/share/doc/**/**", "usr/share/doc/a", true},
		{"**/__pycache__/**", "__pycache__/x.pyc", true},
		{"**/__pycache__/**", "a/b/__pycache__/x.pyc", true},
		{"**/__pycache__/**", "a/b/__pycache__", false},
		{"**/*.mo", "x.mo", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"/usr/*/x", "usr/lib/x", true},
		{"/usr/*/x", "usr/lib/y/x", false},
		{"usr/../etc/*", "etc/passwd", true},
	}
	for _, tt := range tests {
		g, err := CompileGlob(tt.pattern)
		if err != nil {
			t.Fatalf("CompileGlob(%q): %v", tt.pattern, err)
		}
		if got := g.Match(tt.name); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestCompileGlobRefuses(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "/", "a/[", "a**b"} {
		if _, err := CompileGlob(p); err == nil {
			t.Errorf("CompileGlob(%q) succeeded", p)
		}
	}
	if _, err := CompileGlob("a/["); !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("CompileGlob(%q): %v does not wrap path.ErrBadPattern", "a/[", err)
	}
}
