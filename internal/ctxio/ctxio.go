// Package ctxio owns cancellation of long byte streams: a layer being compressed, a
// blob being copied into an output. io.Copy knows no context, and a large layer would
// otherwise hold a cancelled run until it was written in full.
package ctxio

import (
	"context"
	"io"
)

// Writer returns a writer that fails with ctx's error once ctx is done, and otherwise
// writes to w.
func Writer(ctx context.Context, w io.Writer) io.Writer {
	return writer{ctx: ctx, w: w}
}

type writer struct {
	ctx context.Context
	w   io.Writer
}

func (c writer) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
