package testimage

import (
	"archive/tar"
	"errors"
	"io"
	"testing"
)

// Member is one entry of a tar stream as a reader sees it.
type Member struct {
	*tar.Header
	Body []byte
}

// ReadTar reads a whole tar stream, in order, failing the test on any error.
func ReadTar(t testing.TB, r io.Reader) []Member {
	t.Helper()
	tr := tar.NewReader(r)
	var out []Member
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading tar entry %q: %v", h.Name, err)
		}
		out = append(out, Member{Header: h, Body: b})
	}
}
