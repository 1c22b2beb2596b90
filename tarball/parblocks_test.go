package tarball

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// frameBlock is a compress function whose output shows everything it was given, and
// that takes a random time, so blocks finish out of order.
func frameBlock(out *[]byte, b parBlock) ([]byte, error) {
	time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	*out = fmt.Appendf((*out)[:0], "<%s|%s|%t>", b.dict, b.in, b.last)
	return *out, nil
}

// wantFramed is what frameBlock through parBlocks must give, worked out one block
// after another.
func wantFramed(data []byte, blockSize, dictSize int, markLast bool) []byte {
	var want bytes.Buffer
	want.WriteString("H")
	var dict []byte
	for len(data) >= blockSize {
		fmt.Fprintf(&want, "<%s|%s|false>", dict, data[:blockSize])
		dict = data[blockSize-min(dictSize, blockSize) : blockSize]
		data = data[blockSize:]
	}
	if len(data) > 0 || markLast || want.Len() == 1 {
		fmt.Fprintf(&want, "<%s|%s|true>", dict, data)
	}
	want.WriteString("T")
	return want.Bytes()
}

func TestParBlocksOrder(t *testing.T) {
	t.Parallel()
	const blockSize = 5
	for _, markLast := range []bool{false, true} {
		for _, n := range []int{0, 1, blockSize - 1, blockSize, blockSize + 1, 7 * blockSize, 40*blockSize + 3} {
			data := make([]byte, n)
			for i := range data {
				data[i] = 'a' + byte(i%26)
			}
			want := wantFramed(data, blockSize, 2, markLast)
			for _, workers := range []int{1, 2, 3, 8} {
				var buf bytes.Buffer
				z := newParBlocks(&buf, blockFormat[[]byte]{
					name: "test", unit: "block",
					compress: frameBlock,
					dictSize: 2,
					markLast: markLast,
					header:   []byte("H"),
					trailer:  func() []byte { return []byte("T") },
				}, blockSize, workers)
				// Writes of varying size, so blocks fill across Write calls.
				for p := data; len(p) > 0; {
					k := min(len(p), 1+rand.IntN(2*blockSize))
					if _, err := z.Write(p[:k]); err != nil {
						t.Fatal(err)
					}
					p = p[k:]
				}
				if err := z.Close(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("markLast %t, %d bytes, %d workers:\n got %s\nwant %s", markLast, n, workers, buf.Bytes(), want)
				}
			}
		}
	}
}

func TestParBlocksError(t *testing.T) {
	t.Parallel()
	errBad := errors.New("bad block")
	for _, workers := range []int{1, 4} {
		var buf bytes.Buffer
		z := newParBlocks(&buf, blockFormat[[]byte]{
			name: "test", unit: "block",
			compress: func(out *[]byte, b parBlock) ([]byte, error) {
				if bytes.Contains(b.in, []byte("x")) {
					return nil, errBad
				}
				return frameBlock(out, b)
			},
			trailer: func() []byte { return []byte("T") },
		}, 4, workers)
		data := []byte("aaaabbbbxcccddddeeeeffffgggghhhhiiii")
		_, werr := z.Write(data)
		cerr := z.Close()
		if !errors.Is(werr, errBad) && !errors.Is(cerr, errBad) {
			t.Fatalf("%d workers: Write gave %v, Close %v; want %v", workers, werr, cerr, errBad)
		}
		if err := z.Close(); !errors.Is(err, errBad) {
			t.Errorf("%d workers: second Close gave %v, want %v", workers, err, errBad)
		}
		if _, err := z.Write([]byte("more")); !errors.Is(err, errBad) {
			t.Errorf("%d workers: Write after the failure gave %v, want %v", workers, err, errBad)
		}
		if bytes.Contains(buf.Bytes(), []byte("x")) || bytes.HasSuffix(buf.Bytes(), []byte("T")) {
			t.Errorf("%d workers: wrote past the failed block: %s", workers, buf.Bytes())
		}
	}
}
