package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slim-dev/slim/tarball"
)

// slim cache du lists what builds cached; prune --max keeps the most recently used
// under the size given; prune --all empties the layers and the checks.
func TestCacheCommands(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", home)
	t.Setenv("SLIM_CACHE_MAX", "")
	layers := filepath.Join(home, "slim", "layers")
	checks := filepath.Join(home, "slim", "checks")
	if err := os.MkdirAll(checks, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(checks, "sha256-x"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"one", "two"} {
		content := strings.Repeat(body, 100_000)
		l, err := tarball.NewLayer([]tarball.Entry{{
			Header: &tar.Header{Typeflag: tar.TypeReg, Name: body, Mode: 0o644, Size: int64(len(content))},
			Open:   func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil },
		}}, tarball.WithCacheDir(layers), tarball.WithCompression(tarball.Uncompressed), tarball.WithTempDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	slim := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(t.Context(), args, &out, &errb); code != 0 {
			t.Fatalf("slim %v: exit %d\n%s", args, code, errb.String())
		}
		return out.String()
	}
	du := slim("cache", "du")
	if !strings.Contains(du, layers+": 2 layers, ") || !strings.Contains(du, "(limit 10.7 GB)") || strings.Count(du, "sha256:") != 2 {
		t.Errorf("cache du:\n%s", du)
	}
	if out := slim("cache", "prune", "--max", "400kB"); !strings.Contains(out, "removed 1 layers") {
		t.Errorf("cache prune --max 400kB:\n%s", out)
	}
	if du := slim("cache", "du"); !strings.Contains(du, ": 1 layers, ") {
		t.Errorf("cache du after prune:\n%s", du)
	}
	if _, err := os.Stat(checks); err != nil {
		t.Errorf("prune without --all removed the checks: %v", err)
	}
	if out := slim("cache", "prune", "--all"); !strings.Contains(out, "removed 1 layers") {
		t.Errorf("cache prune --all:\n%s", out)
	}
	if du := slim("cache", "du"); !strings.Contains(du, ": 0 layers, 0 B") {
		t.Errorf("cache du after prune --all:\n%s", du)
	}
	if _, err := os.Stat(checks); !os.IsNotExist(err) {
		t.Errorf("prune --all left the checks: %v", err)
	}
	var errb bytes.Buffer
	if code := run(t.Context(), []string{"cache", "prune", "--all", "--max", "1G"}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "cannot be given together") {
		t.Errorf("prune --all --max: exit %d, %s", code, errb.String())
	}
	t.Setenv("SLIM_CACHE_MAX", "lots")
	errb.Reset()
	if code := run(t.Context(), []string{"cache", "prune"}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "SLIM_CACHE_MAX") {
		t.Errorf("prune with a bad SLIM_CACHE_MAX: exit %d, %s", code, errb.String())
	}
}
