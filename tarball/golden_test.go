package tarball

import (
	"archive/tar"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slim-dev/slim/internal/mediatype"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

// goldenEntries covers every kind of entry a slim layer holds. Its digests are the
// reproducibility promise: if they change, every slim user's layers change.
func goldenEntries() []Entry {
	capEntry := file("usr/bin/ping", "ping binary", 0o755)
	capEntry.Header.PAXRecords = map[string]string{
		"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
	}
	setuid := file("usr/bin/passwd", "passwd binary", 0o4755)
	owned := file("home/app/data", "owned by app", 0o600)
	owned.Header.Uid, owned.Header.Gid = 1000, 1000
	return []Entry{
		dir("usr", 0o755),
		dir("usr/bin", 0o755),
		dir("home/app", 0o750),
		dir("tmp", 0o1777),
		capEntry,
		setuid,
		owned,
		file("etc/os-release", "NAME=slim\n", 0o644),
		symlink("usr/bin/sh", "busybox"),
		file("usr/bin/busybox", strings.Repeat("busybox ", 5000), 0o755),
		hardlink("usr/bin/ls", "usr/bin/busybox"),
		file("usr/share/"+strings.Repeat("very-long-directory-name/", 8)+"file.txt", "long name", 0o644),
		{Header: &tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o600}},
	}
}

func goldenSettings() map[string][]Option {
	epoch := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return map[string][]Option{
		"gzip-9":                        {WithCompression(Gzip), WithLevel(9), WithParents()},
		"gzip-best-docker":              {WithCompression(Gzip), WithLevel(LevelBest), WithMediaTypes(mediatype.Docker), WithParents()},
		"zstd-best":                     {WithCompression(Zstd), WithLevel(LevelBest), WithParents()},
		"uncompressed":                  {WithCompression(Uncompressed), WithParents()},
		"uncompressed-no-parents-epoch": {WithCompression(Uncompressed), WithSourceDateEpoch(epoch)},
	}
}

// goldenFile is testdata/golden.json: the digests, and the encodingVersion they are
// the bytes of.
type goldenFile struct {
	EncodingVersion int                      `json:"encodingVersion"`
	Layers          map[string]goldenDigests `json:"layers"`
}

type goldenDigests struct {
	Digest string `json:"digest"`
	DiffID string `json:"diffID"`
	Size   int64  `json:"size"`
}

func TestGoldenDigests(t *testing.T) {
	goldenPath := filepath.Join("testdata", "golden.json")
	got := map[string]goldenDigests{}
	for name, opts := range goldenSettings() {
		l, err := NewLayer(goldenEntries(), append(opts, WithTempDir(t.TempDir()))...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkLayer(t, l)
		d, _ := l.Digest()
		id, _ := l.DiffID()
		size, _ := l.Size()
		got[name] = goldenDigests{Digest: d.String(), DiffID: id.String(), Size: size}

		// Same input again, and the entries in reverse order: same digest.
		rev := slices.Clone(goldenEntries())
		slices.Reverse(rev)
		for what, entries := range map[string][]Entry{"again": goldenEntries(), "reversed": rev} {
			l2, err := NewLayer(entries, append(opts, WithTempDir(t.TempDir()))...)
			if err != nil {
				t.Fatalf("%s %s: %v", name, what, err)
			}
			if d2, _ := l2.Digest(); d2 != d {
				t.Errorf("%s %s: digest %s, first %s", name, what, d2, d)
			}
			l2.Close()
		}
		l.Close()
	}
	var file goldenFile
	if b, err := os.ReadFile(goldenPath); err == nil {
		if err := json.Unmarshal(b, &file); err != nil {
			t.Fatalf("parsing %s: %v", goldenPath, err)
		}
	} else if !*update {
		t.Fatalf("reading golden digests (run go test ./tarball -update to create them): %v", err)
	}
	changed := !maps.Equal(file.Layers, got)
	if *update {
		// New bytes under the version the old ones were cached with would let a
		// warm cache serve the old bytes: the version must move with them.
		if changed && file.Layers != nil && file.EncodingVersion == encodingVersion {
			t.Fatalf("layer bytes changed but encodingVersion is still %d: bump it in cache.go, then -update", encodingVersion)
		}
		b, err := json.MarshalIndent(goldenFile{EncodingVersion: encodingVersion, Layers: got}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenPath)
		return
	}
	if file.EncodingVersion != encodingVersion {
		t.Errorf("golden digests are for encodingVersion %d, cache.go has %d: run go test ./tarball -update", file.EncodingVersion, encodingVersion)
	}
	want := file.Layers
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if want[name] != got[name] {
			t.Errorf("%s: got %+v, golden %+v\nlayer bytes changed; if intended, bump encodingVersion in cache.go (a warm cache must not serve the old bytes), run go test ./tarball -update and say why in the commit", name, got[name], want[name])
		}
	}
	if len(want) != len(got) {
		t.Errorf("golden file has %d settings, test has %d", len(want), len(got))
	}
}
