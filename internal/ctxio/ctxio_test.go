package ctxio

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestWriterStopsWhenDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var buf bytes.Buffer
	w := Writer(ctx, &buf)
	if n, err := w.Write([]byte("abc")); n != 3 || err != nil || buf.String() != "abc" {
		t.Fatalf("write before cancel: %d, %v, %q", n, err, buf.String())
	}
	cancel()
	if n, err := w.Write([]byte("def")); n != 0 || !errors.Is(err, context.Canceled) || buf.String() != "abc" {
		t.Fatalf("write after cancel: %d, %v, %q", n, err, buf.String())
	}
}
