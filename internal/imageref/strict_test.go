package imageref

import (
	"context"
	"testing"
	"time"

	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/testimage"
)

// Issue 13, item 6: each layer's media type, size and blob used to re-read the whole
// manifest (2000 layers: 21 s; 20,000: over 10 minutes). Linear, 4000 take well under
// a second; the bound leaves room for -race and a busy machine.
func TestManyLayersLinearTime(t *testing.T) {
	t.Parallel()
	const n = 4000
	ref := testimage.ManyLayers(t, n)
	start := time.Now()
	r, err := Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Image(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	f, err := imagefs.New(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := len(f.Layers()); got != n {
		t.Fatalf("%d layers indexed, want %d", got, n)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("opening and indexing %d layers took %v: not linear", n, d)
	}
}
