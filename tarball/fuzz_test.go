package tarball

import (
	"archive/tar"
	"bytes"
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/slim-dev/slim/internal/testimage"
)

// FuzzWriteTarNames feeds arbitrary names and hardlink targets to WriteTar: it must
// either refuse them with a sentinel error or write a tar whose every name and
// hardlink target is clean, relative and inside the root.
func FuzzWriteTarNames(f *testing.F) {
	for _, seed := range [][3]string{
		{"a/b", "c", "a/b"},
		{"../x", "y", "x"},
		{"/abs/./p", "./q/", "/abs/p"},
		{"a//b/../c", "a/c/d", "../../etc/passwd"},
		{"", ".", "/"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, fileName, dirName, linkTarget string) {
		entries := []Entry{
			file(fileName, "x", 0o644),
			dir(dirName, 0o755),
			hardlink("link", linkTarget),
		}
		var buf bytes.Buffer
		err := WriteTar(&buf, entries, WithParents())
		if err != nil {
			for _, sentinel := range []error{ErrUnsafePath, ErrDuplicate, ErrUnsupportedType, ErrSizeMismatch} {
				if errors.Is(err, sentinel) {
					return
				}
			}
			// Names archive/tar cannot encode (NUL bytes) are its own error.
			if strings.ContainsRune(fileName+dirName+linkTarget, 0) {
				return
			}
			t.Fatalf("WriteTar() error without a sentinel: %v", err)
		}
		for _, e := range testimage.ReadTar(t, &buf) {
			for _, p := range []string{e.Name, e.Linkname} {
				if e.Typeflag == tar.TypeSymlink && p == e.Linkname {
					continue
				}
				if p == "" && p == e.Linkname {
					continue
				}
				clean := strings.TrimSuffix(p, "/")
				if strings.HasPrefix(p, "/") || path.Clean(clean) != clean || clean == ".." || strings.HasPrefix(clean, "../") {
					t.Fatalf("unsafe or unclean path %q in output", p)
				}
			}
		}
	})
}
