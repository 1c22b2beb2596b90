package imagefs_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/slim-dev/slim/internal/imagefs"
	ti "github.com/slim-dev/slim/internal/testimage"
)

func TestRewriteInfoNeedsOption(t *testing.T) {
	f := open(t, ti.Image(t, [][]ti.Entry{{ti.File("a", "1")}}))
	if err := f.LayerEntries(func(imagefs.LayerEntry) error { return nil }); !errors.Is(err, imagefs.ErrNoRewriteInfo) {
		t.Errorf("LayerEntries: %v", err)
	}
	if _, err := f.Hides(0); !errors.Is(err, imagefs.ErrNoRewriteInfo) {
		t.Errorf("Hides: %v", err)
	}
	if _, _, err := f.InBase("a"); !errors.Is(err, imagefs.ErrNoRewriteInfo) {
		t.Errorf("InBase: %v", err)
	}
}

func TestLayerEntries(t *testing.T) {
	f := open(t, ti.Image(t, [][]ti.Entry{
		{ti.Dir("d"), ti.File("d/a", "1"), ti.File("x", "2"), ti.Dir("usr"), ti.Dir("usr/lib"), ti.Symlink("lib", "usr/lib"), ti.Dir("g"), ti.File("g/old", "o")},
		{ti.Dir("d"), ti.File("d/b", "3"), ti.Whiteout("x"), ti.File("lib/y", "4"), ti.Hardlink("h", "d/a"), ti.Whiteout("g")},
		{ti.Dir("g"), ti.File("g/new", "n"), ti.File("imp/z", "5")},
	}), imagefs.WithRewriteInfo(1))
	var got []string
	err := f.LayerEntries(func(e imagefs.LayerEntry) error {
		s := fmt.Sprintf("%s %c layer %d", e.Path, e.Header.Typeflag, e.Layer)
		if e.Header.Typeflag == '5' {
			s += fmt.Sprintf(" since %d", e.Since)
		}
		if e.ContentOrder >= 0 {
			s += fmt.Sprintf(" content in %d", e.ContentLayer)
		}
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"d 5 layer 1 since 0", // metadata from layer 1, there since layer 0
		"d/a 0 layer 0 content in 0",
		"d/b 0 layer 1 content in 1",
		"g 5 layer 2 since 2", // deleted in layer 1, made again in 2
		"g/new 0 layer 2 content in 2",
		"h 1 layer 1 content in 0", // a hard link: its bytes are its target's
		"imp 5 layer -1 since 2",   // no entry of its own
		"imp/z 0 layer 2 content in 2",
		"lib 2 layer 0",
		"usr 5 layer 0 since 0",
		"usr/lib 5 layer 0 since 0",
		"usr/lib/y 0 layer 1 content in 1", // written through the symlink
	}
	if !slices.Equal(got, want) {
		t.Errorf("entries:\n got %q\nwant %q", got, want)
	}
}

func TestHidesAndBase(t *testing.T) {
	f := open(t, ti.Image(t, [][]ti.Entry{
		{ti.Dir("usr"), ti.Dir("usr/lib"), ti.File("usr/lib/a", "1"), ti.Symlink("lib", "usr/lib"), ti.Dir("e")},
		{ti.Whiteout("lib/a"), ti.Opaque("usr"), ti.Whiteout("nodir/x"), ti.Opaque("."), ti.File("new", "n")},
	}), imagefs.WithRewriteInfo(1))
	hides, err := f.Hides(1)
	if err != nil {
		t.Fatal(err)
	}
	// The whiteout under a missing directory hides nothing and is not listed.
	want := []imagefs.Hide{{Path: "usr/lib/a"}, {Path: "usr", Opaque: true}, {Path: ".", Opaque: true}}
	if !slices.Equal(hides, want) {
		t.Errorf("hides = %+v, want %+v", hides, want)
	}
	if h, _ := f.Hides(0); len(h) != 0 {
		t.Errorf("layer 0 hides %+v", h)
	}
	for _, tt := range []struct {
		path        string
		shown, kids bool
	}{
		{".", true, true}, {"usr", true, true}, {"usr/lib/a", true, false}, {"e", true, false}, {"lib", true, false}, {"new", false, false},
	} {
		shown, kids, err := f.InBase(tt.path)
		if err != nil || shown != tt.shown || kids != tt.kids {
			t.Errorf("InBase(%q) = %v, %v, %v; want %v, %v", tt.path, shown, kids, err, tt.shown, tt.kids)
		}
	}
}
