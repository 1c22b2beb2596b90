package tarball

import (
	"fmt"
	"io"
)

// parBlock is one block as a format's compress function sees it.
type parBlock struct {
	in   []byte // blockSize bytes; fewer only in the block Close submits
	dict []byte // the previous block's last dictSize bytes; empty for the first block
	last bool   // Close submitted it: nothing follows
}

// blockFormat is what parBlocks needs to know of a format; the format's own bytes
// (headers, checksums, frame or deflate details) stay in its file.
type blockFormat[S any] struct {
	name, unit string // "gzip", "block": for errors

	// compress runs on a worker. s is the job's state, kept for the job's later blocks
	// (an encoder, the output buffer); the bytes returned are read before s is reused.
	compress func(s *S, b parBlock) ([]byte, error)

	// dictSize is how much of each block the next one gets as parBlock.dict. The copy
	// is taken when the block is submitted: its input buffer is recycled once written.
	dictSize int
	// markLast makes Close always submit a last block, empty if the stream ended on
	// a block boundary, for formats that flag their end (deflate's final bit).
	// Without it Close submits one only for leftover bytes or an empty stream.
	markLast bool

	header  []byte        // written before the first block
	trailer func() []byte // written after the last block, once every Write is in
}

// parBlocks is the ordered parallel machinery of parallelGzip and parallelZstd. It
// cuts the stream into blockSize blocks, compresses up to workers of them at once and
// writes the results in stream order, so the output depends only on the input and
// the format, never on the number of workers. Jobs and their input buffers are
// recycled: memory stays at workers+1 blocks however long the stream is.
type parBlocks[S any] struct {
	blockFormat[S]
	w         io.Writer
	blockSize int
	workers   int

	cur     []byte // block being filled
	dict    []byte // tail of the last submitted block
	queue   []*parJob[S]
	free    chan *parJob[S] // written jobs, kept for their state and buffers
	started bool            // a block (and so the header) has gone out
	closed  bool
	err     error
}

// parJob is one block in flight.
type parJob[S any] struct {
	b     parBlock
	state S
	out   []byte
	err   error
	done  chan struct{}
}

func newParBlocks[S any](w io.Writer, f blockFormat[S], blockSize, workers int) *parBlocks[S] {
	workers = max(workers, 1)
	return &parBlocks[S]{
		blockFormat: f,
		w:           w,
		blockSize:   blockSize,
		workers:     workers,
		free:        make(chan *parJob[S], workers+1),
	}
}

func (z *parBlocks[S]) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if z.closed {
		return 0, fmt.Errorf("writing %s stream: writer closed", z.name)
	}
	n := len(p)
	for len(p) > 0 {
		if z.cur == nil {
			z.cur = make([]byte, 0, z.blockSize)
		}
		k := min(len(p), z.blockSize-len(z.cur))
		z.cur = append(z.cur, p[:k]...)
		p = p[k:]
		if len(z.cur) == z.blockSize {
			if err := z.submit(false); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// submit hands the current block to a worker, first writing out the oldest one
// when as many as there are workers are in flight.
func (z *parBlocks[S]) submit(last bool) error {
	if !z.started {
		z.started = true
		if len(z.header) > 0 {
			if _, err := z.w.Write(z.header); err != nil {
				z.err = fmt.Errorf("writing %s header: %w", z.name, err)
				return z.err
			}
		}
	}
	for len(z.queue) >= z.workers {
		if err := z.drainOne(); err != nil {
			return err
		}
	}
	var j *parJob[S]
	select {
	case j = <-z.free:
	default:
		j = &parJob[S]{}
	}
	j.b.dict = append(j.b.dict[:0], z.dict...)
	z.dict = append(z.dict[:0], z.cur[max(0, len(z.cur)-z.dictSize):]...)
	// The job's previous input buffer, if any, takes the next block's bytes.
	j.b.in, z.cur = z.cur, j.b.in[:0]
	if cap(z.cur) == 0 {
		z.cur = nil
	}
	j.b.last, j.out, j.err = last, nil, nil
	j.done = make(chan struct{})
	z.queue = append(z.queue, j)
	go func() {
		defer close(j.done)
		j.out, j.err = z.compress(&j.state, j.b)
	}()
	return nil
}

func (z *parBlocks[S]) drainOne() error {
	j := z.queue[0]
	z.queue = z.queue[1:]
	<-j.done
	if j.err != nil {
		z.err = fmt.Errorf("compressing %s %s: %w", z.name, z.unit, j.err)
		return z.err
	}
	if _, err := z.w.Write(j.out); err != nil {
		z.err = fmt.Errorf("writing %s %s: %w", z.name, z.unit, err)
		return z.err
	}
	select {
	case z.free <- j:
	default:
	}
	return nil
}

// Close compresses the last block, writes everything in order and then the
// trailer. It does not close the underlying writer.
func (z *parBlocks[S]) Close() error {
	if z.closed {
		return z.err
	}
	z.closed = true
	if z.err != nil {
		z.waitAll()
		return z.err
	}
	if len(z.cur) > 0 || !z.started || z.markLast {
		if z.cur == nil {
			z.cur = []byte{}
		}
		if err := z.submit(true); err != nil {
			z.waitAll()
			return err
		}
	}
	for len(z.queue) > 0 {
		if err := z.drainOne(); err != nil {
			z.waitAll()
			return err
		}
	}
	if z.trailer != nil {
		if _, err := z.w.Write(z.trailer()); err != nil {
			z.err = fmt.Errorf("writing %s trailer: %w", z.name, err)
			return z.err
		}
	}
	return nil
}

// waitAll lets in-flight workers finish so no goroutine outlives a failed writer.
func (z *parBlocks[S]) waitAll() {
	for _, j := range z.queue {
		<-j.done
	}
	z.queue = nil
}
