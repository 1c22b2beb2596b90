package job

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball"
)

// cacheTestImage is scratch with one executable, not ELF and without #!, so the check
// has nothing to resolve; a WORKDIR that does not exist gives it a warning to repeat.
func cacheTestImage(t *testing.T, entrypoint string) v1.Image {
	t.Helper()
	body := []byte("not a program, but executable\n")
	l, err := tarball.NewLayer([]tarball.Entry{{
		Header: &tar.Header{Name: "app/run", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))},
		Open:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
	}}, tarball.WithParents())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cfg := &v1.ConfigFile{OS: "linux", Architecture: "amd64", Config: v1.Config{Entrypoint: []string{entrypoint}, WorkingDir: "/nowhere"}}
	img, err := rebase.Assemble(context.Background(), empty.Image, []v1.Layer{l}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestCheckCache: a passing check is kept by image digest and answers the next run with
// the same report and the same warnings, without indexing the image; a failing one is
// never kept.
func TestCheckCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img := cacheTestImage(t, "/app/run")
	var warns []string
	warn := func(m string) { warns = append(warns, m) }

	first := &Report{}
	if err := checkCached(ctx, dir, img, "linux/amd64", first, false, warn, nil); err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "/nowhere") {
		t.Fatalf("warnings of the first check: %q", warns)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one outcome", files)
	}

	warns = nil
	second := &Report{}
	if err := checkCached(ctx, dir, img, "linux/amd64", second, false, warn, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("cached report %+v, want %+v", second, first)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "/nowhere") {
		t.Fatalf("warnings of the cached check: %q", warns)
	}

	// The answer comes from the cache: what it holds is what the report says.
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files[0], bytes.Replace(b, []byte(`"uncompressed":`), []byte(`"uncompressed":1`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	third := &Report{}
	if err := checkCached(ctx, dir, img, "linux/amd64", third, false, warn, nil); err != nil {
		t.Fatal(err)
	}
	if third.Images[0].Uncompressed == first.Images[0].Uncompressed {
		t.Fatal("the second run indexed the image instead of reading the cache")
	}

	// --force is part of the key: a forced pass says nothing about an unforced run.
	if err := checkCached(ctx, dir, img, "linux/amd64", &Report{}, true, warn, []rebase.CheckOption{rebase.WithForce()}); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(files) != 2 {
		t.Fatalf("cache holds %v, want one outcome per --force", files)
	}

	bad := cacheTestImage(t, "/app/missing")
	for range 2 {
		err := checkCached(ctx, dir, bad, "linux/amd64", &Report{}, false, warn, nil)
		if !errors.Is(err, rebase.ErrCheck) {
			t.Fatalf("check of a missing entrypoint: %v, want ErrCheck", err)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(files) != 2 {
		t.Fatalf("cache holds %v after a failing check, want it untouched", files)
	}
}
