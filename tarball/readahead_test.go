package tarball

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// slowEntries are files whose Open takes a round trip, like a BuildKit stage's; the
// counters record how many were open at once.
func slowEntries(n int, sizes func(i int) int, open, most *atomic.Int32) []Entry {
	var out []Entry
	for i := range n {
		body := strings.Repeat(fmt.Sprintf("file %d ", i), sizes(i))
		out = append(out, Entry{
			Header: &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("d/f%03d", i), Mode: 0o644, Size: int64(len(body))},
			Open: func() (io.ReadCloser, error) {
				cur := open.Add(1)
				for {
					m := most.Load()
					if cur <= m || most.CompareAndSwap(m, cur) {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
				return closeFunc{Reader: strings.NewReader(body), close: func() { open.Add(-1) }}, nil
			},
		})
	}
	return out
}

type closeFunc struct {
	io.Reader
	close func()
}

func (c closeFunc) Close() error { c.close(); return nil }

func TestReadAheadSameBytesAndConcurrent(t *testing.T) {
	// Small files, and every tenth one above readAheadMax (streamed as before).
	sizes := func(i int) int {
		if i%10 == 0 {
			return readAheadMax / 4
		}
		return 100 + i
	}
	var open, most atomic.Int32
	var plain, ahead bytes.Buffer
	if err := WriteTar(&plain, slowEntries(60, sizes, &open, &most)); err != nil {
		t.Fatal(err)
	}
	if m := most.Load(); m != 1 {
		t.Fatalf("without read-ahead %d files were open at once", m)
	}
	most.Store(0)
	if err := WriteTar(&ahead, slowEntries(60, sizes, &open, &most), WithReadAhead(8)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain.Bytes(), ahead.Bytes()) {
		t.Fatal("read-ahead changed the tar stream")
	}
	if m := most.Load(); m < 2 || m > 9 { // 8 read ahead, plus a large file being streamed
		t.Errorf("with read-ahead 8, at most %d files were open at once, want 2..9", m)
	}
	if n := open.Load(); n != 0 {
		t.Errorf("%d files left open", n)
	}
}

func TestReadAheadChecksSizesAndErrors(t *testing.T) {
	entry := func(name string, declared int, body string, openErr error) Entry {
		return Entry{
			Header: &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(declared)},
			Open: func() (io.ReadCloser, error) {
				if openErr != nil {
					return nil, openErr
				}
				return io.NopCloser(strings.NewReader(body)), nil
			},
		}
	}
	boom := errors.New("gateway gone")
	for _, tc := range []struct {
		name string
		e    Entry
		want error
		text string
	}{
		{"longer", entry("a", 3, "abcd", nil), ErrSizeMismatch, "more than the 3 bytes"},
		{"shorter", entry("a", 5, "abcd", nil), ErrSizeMismatch, "got 4 bytes, header says 5"},
		{"open error", entry("a", 4, "", boom), boom, `opening content of "a"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok := entry("b", 2, "ok", nil)
			err := WriteTar(io.Discard, []Entry{tc.e, ok}, WithReadAhead(4))
			if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.text) {
				t.Errorf("got %v, want %v mentioning %q", err, tc.want, tc.text)
			}
		})
	}
}
