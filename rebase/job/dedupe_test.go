package job

import (
	"archive/tar"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

func TestDropBaseDuplicates(t *testing.T) {
	base := testimage.Image(t, [][]testimage.Entry{{
		testimage.File("etc/same", "same"), testimage.File("etc/other", "base's"),
		testimage.File("etc/conf", "base conf"), testimage.File("etc/mode", "m", 0o600),
		testimage.Symlink("etc/link", "same"), testimage.Symlink("lib", "usr/lib"), testimage.File("usr/lib/x.so", "x"),
		testimage.File("etc/linked", "l"),
	}})
	file := func(name, body string, mode int64) tarball.Entry {
		return tarball.Entry{Header: &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(body)), Mode: mode},
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }}
	}
	entries := []tarball.Entry{
		{Header: &tar.Header{Typeflag: tar.TypeDir, Name: "etc", Mode: 0o755}},
		file("etc/same", "same", 0o644),         // identical: left out
		file("etc/other", "mine", 0o644),        // differs, named: replaces
		file("etc/conf", "closure conf", 0o644), // differs, added by the closure under /etc: the base's stays
		file("etc/mode", "m", 0o644),            // same bytes, other mode: replaces
		{Header: &tar.Header{Typeflag: tar.TypeSymlink, Name: "etc/link", Linkname: "same", Mode: 0o777}}, // identical link
		file("lib/x.so", "x", 0o644),   // reached through the base's symlink: kept
		file("etc/linked", "l", 0o644), // identical, but hard-linked below: kept
		{Header: &tar.Header{Typeflag: tar.TypeLink, Name: "etc/hard", Linkname: "etc/linked"}},
		file("new", "n", 0o644),
	}
	out, ov, err := dropBaseDuplicates(context.Background(), base, entries, map[string]bool{"etc/conf": true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range out {
		got = append(got, e.Header.Name)
	}
	want := []string{"etc", "etc/other", "etc/mode", "lib/x.so", "etc/linked", "etc/hard", "new"}
	if !slices.Equal(got, want) {
		t.Errorf("kept %q, want %q", got, want)
	}
	if ov != (baseOverlap{same: 2, baseConfig: 1, replaced: 2}) {
		t.Errorf("overlap %+v", ov)
	}
}
