package tarball

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path"
	"path/filepath"
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

// FuzzReadCacheEntry feeds arbitrary bytes as a layer-cache key's metadata (a CI cache
// restored from another branch may hold anything): it must refuse them or name a
// sha256 blob whose diff ID is the key's.
func FuzzReadCacheEntry(f *testing.F) {
	const hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f.Add([]byte(`{"digest":"sha256:`+hex+`","diffID":"sha256:`+hex+`","size":3,"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip"}`), hex+"-gzip")
	f.Add([]byte(`{"digest":"sha256:`+hex+`","diffID":"sha256:`+hex+`","size":-1}`), "id-x")
	f.Add([]byte(`{"digest":"sha512:00","diffID":"","size":1e99}`), "k")
	f.Add([]byte(`null`), "id-")
	f.Fuzz(func(t *testing.T, meta []byte, key string) {
		if key == "" || strings.ContainsAny(key, "/\x00") || key == "." || key == ".." {
			return // keys are file names slim makes
		}
		dir := t.TempDir()
		if err := os.MkdirAll(keysDir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(keysDir(dir), key), meta, 0o644); err != nil {
			t.Skip(err) // a fuzzed key name the file system refuses: an input, not the machine (CI runs the seed corpus)
		}
		e, ok, err := readEntry(dir, key)
		if !ok || err != nil {
			return
		}
		if e.Digest.Algorithm != "sha256" || len(e.Digest.Hex) != 64 || e.Size < 0 {
			t.Fatalf("accepted %+v", e)
		}
		if !strings.HasPrefix(key, "id-") && !strings.HasPrefix(key, e.DiffID.Hex+"-") {
			t.Fatalf("key %q accepted for diff ID %s", key, e.DiffID)
		}
	})
}
