package imagefs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/slim-dev/slim/internal/testimage"
)

// TestConcurrentSmallReadsShareAPass reads the chosen small files of a layer without a
// spool as tarball's read-ahead does: in path order, up to 8 at once, each one started
// as a slot frees. Every read must get its bytes, and the layer must be decompressed a
// few times, not once per read: with one pass per concurrent read, 1364 files of a
// 493 MB layer took over 8 minutes.
func TestConcurrentSmallReadsShareAPass(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var entries []testimage.Entry
	want := map[string]string{}
	var chosen []string
	for i := range 1200 {
		body := make([]byte, 1000+rng.IntN(30000))
		for j := range body {
			body[j] = byte('a' + rng.IntN(20))
		}
		name := fmt.Sprintf("f%05d", i)
		entries = append(entries, testimage.File(name, string(body)))
		// Every third file is read: the others are passed over, as files nobody
		// selected are.
		if i%3 == 0 {
			want[name] = string(body)
			chosen = append(chosen, name)
		}
	}
	for _, c := range []testimage.Compression{testimage.Gzip, testimage.Zstd} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			f, err := New(context.Background(), testimage.Image(t, [][]testimage.Entry{entries}, testimage.WithCompression(c)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			slots := make(chan struct{}, 8)
			var wg sync.WaitGroup
			for _, name := range chosen {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() { <-slots }()
					b, err := f.ReadFile(name)
					if err != nil {
						t.Error(err)
						return
					}
					if string(b) != want[name] {
						t.Errorf("%s: %d bytes differ from the %d written", name, len(b), len(want[name]))
					}
				})
			}
			wg.Wait()
			p := f.sources[0].pool
			p.mu.Lock()
			opened, idle, busy, waiting := p.opened, len(p.idle), len(p.busy), len(p.waiting)
			p.mu.Unlock()
			// The first reads race to open the layer; after that, passes are shared.
			if opened > 3 {
				t.Errorf("%d reads opened the layer %d times, want at most 3", len(chosen), opened)
			}
			if busy != 0 || waiting != 0 || idle > maxIdle {
				t.Errorf("after the reads: %d idle, %d busy, %d waiting cursors", idle, busy, waiting)
			}
		})
	}
}

// TestCursorTailWraps checks the ring a cursor keeps of what it passed, across its
// wrap and for a pass longer than the ring.
func TestCursorTailWraps(t *testing.T) {
	c := &cursor{tail: make([]byte, 10)}
	stream := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	for _, step := range []int{3, 4, 9, 1, 12, 7} {
		c.passed(stream[c.pos:min(c.pos+int64(step), int64(len(stream)))])
	}
	if c.pos != int64(len(stream)) {
		t.Fatalf("pos %d, want %d", c.pos, len(stream))
	}
	for off := range len(stream) {
		for n := 1; off+n <= len(stream); n++ {
			dst := make([]byte, n)
			ok := c.fromTail(int64(off), dst)
			inTail := off >= len(stream)-10
			if ok != inTail {
				t.Fatalf("fromTail(%d, %d) = %v, want %v", off, n, ok, inTail)
			}
			if ok && !slices.Equal(dst, stream[off:off+n]) {
				t.Fatalf("fromTail(%d, %d) = %q, want %q", off, n, dst, stream[off:off+n])
			}
		}
	}
	// One pass longer than the ring keeps its end.
	d := &cursor{tail: make([]byte, 10)}
	d.passed(stream)
	dst := make([]byte, 10)
	if !d.fromTail(26, dst) || string(dst) != "qrstuvwxyz" {
		t.Errorf("after one long pass: %q", dst)
	}
}
