package imagefs

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/slim-dev/slim/internal/testimage"
)

// TestEfficiencyAsDive checks the score against dive's formula worked by hand on
// testimage.WasteLayers. Leaves and their sizes per layer (dive's filetree.Efficiency):
//
//	path          layer 0  layer 1            count  sum   min
//	etc/config    1000     3                  2      1003  3
//	tmp/junk      300      0 (whiteout, file) 2      300   0
//	cache/x       120      -                  1      120   120
//	cache/y       80       -                  1      80    80
//	cache         -        200 (whiteout, dir) 1     200   200
//	var/log/old   50       -  (opaque: ignored) 1    50    50
//	keep          4        -                  1      4     4
//	var/log/new   -        1                  1      1     1
//
// score = Σmin/Σsum = 458/1758; wasted bytes = Σsum of paths in more than one layer =
// 1003+300 = 1303; user size = layer 1's content = 3+1 = 4.
func TestEfficiencyAsDive(t *testing.T) {
	img := testimage.Image(t, testimage.WasteLayers())
	f, err := New(context.Background(), img, WithEfficiency())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := f.Efficiency()
	if e == nil {
		t.Fatal("no efficiency with WithEfficiency")
	}
	if want := 458.0 / 1758.0; math.Abs(e.Score-want) > 1e-12 {
		t.Errorf("score %v, want 458/1758 = %v", e.Score, want)
	}
	if e.WastedBytes != 1303 || e.UserSize != 4 || e.UserWastedPercent != 1303.0/4 {
		t.Errorf("wasted %d, user size %d, user wasted %v; want 1303, 4, %v", e.WastedBytes, e.UserSize, e.UserWastedPercent, 1303.0/4)
	}
	want := []WastedFile{{Path: "etc/config", Count: 2, Size: 1003}, {Path: "tmp/junk", Count: 2, Size: 300}}
	if !slices.Equal(e.Files, want) {
		t.Errorf("wasted files %+v, want %+v", e.Files, want)
	}
	// slim's own per-layer figure (bytes a later layer hides) is unchanged.
	if got := f.Layers()[0].Wasted; got != 1550 {
		t.Errorf("layer 0 wasted %d, want 1550", got)
	}

	g, err := New(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Efficiency() != nil {
		t.Error("efficiency computed without WithEfficiency")
	}
}

// TestEfficiencyNoWaste: an image whose layers share no path scores 1.
func TestEfficiencyNoWaste(t *testing.T) {
	img := testimage.Image(t, [][]testimage.Entry{{testimage.File("a", "aa")}, {testimage.File("b", "bbb")}})
	f, err := New(context.Background(), img, WithEfficiency())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if e := f.Efficiency(); e.Score != 1 || e.WastedBytes != 0 || e.UserSize != 3 || len(e.Files) != 0 {
		t.Errorf("efficiency %+v, want a score of 1 and no waste", e)
	}
}
