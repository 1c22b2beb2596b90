package imagefs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Without a spool, file content is read from the layer blob by cursors: open,
// decompressing readers that only go forward. Going back means decompressing the
// layer again from its start, so the pool below keeps readers of one layer moving
// forward together even when they ask a little out of order, as tarball's read-ahead
// does (8 small files at once, in path order): a 493 MB layer read that way took
// over 8 minutes when every concurrent read started its own pass.

const (
	// cursorBufSize is smaller than the indexing buffers: several cursors may be open
	// per layer.
	cursorBufSize = 128 << 10
	// maxIdle bounds the decompressors kept per layer: two cover a reader going
	// through the layer in order while another one jumps around.
	maxIdle = 2
	// smallRead is the largest file read whole as soon as it is opened (the largest
	// tarball reads ahead): its cursor is then held only inside this file's code, so
	// other readers of the layer can wait for it instead of starting a new pass.
	smallRead = 256 << 10
	// cursorTail is how much of the stream a cursor keeps behind it: a small read that
	// a cursor has just passed is copied from there. It covers the read-ahead's window
	// (8 reads of up to smallRead) twice.
	cursorTail = 4 << 20
)

// cursor is an open, decompressing reader of one layer blob, at pos in the
// uncompressed tar stream.
type cursor struct {
	rc  io.ReadCloser
	dec io.ReadCloser
	r   *bufio.Reader

	mu   sync.Mutex // guards pos and tail: small reads copy from a busy cursor's tail
	pos  int64
	tail []byte // a ring of the last tailLen bytes before pos; nil outside a pool
	// tailLen is how many bytes of tail are valid.
	tailLen int
	// small is set while a small read holds the cursor: a read that finishes by itself.
	small bool
}

func newCursor(src *source) (*cursor, error) {
	rc, err := src.layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("opening layer %s: %w", src.digest, err)
	}
	// The digest is checked again if a reader gets to the end of the blob;
	// partial reads rely on the check made while indexing.
	blob := newBlobReader(context.Background(), rc, src.digest)
	dec, err := decompress(src.codec, bufio.NewReaderSize(blob, cursorBufSize), false)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("opening layer %s: %w: %w", src.digest, ErrCorruptLayer, err)
	}
	return &cursor{rc: rc, dec: dec, r: bufio.NewReaderSize(dec, cursorBufSize)}, nil
}

func (c *cursor) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.passed(p[:n])
	return n, err
}

// passed moves pos over b, keeping b in the tail.
func (c *cursor) passed(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := c.pos
	c.pos += int64(len(b))
	if c.tail == nil {
		return
	}
	c.tailLen = min(c.tailLen+len(b), len(c.tail))
	if len(b) > len(c.tail) {
		at += int64(len(b) - len(c.tail))
		b = b[len(b)-len(c.tail):]
	}
	for len(b) > 0 {
		i := int(at % int64(len(c.tail)))
		n := copy(c.tail[i:], b)
		b, at = b[n:], at+int64(n)
	}
}

// fromTail copies the n=len(dst) bytes at off into dst if the cursor has passed them
// and still holds them.
func (c *cursor) fromTail(off int64, dst []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tail == nil || off < c.pos-int64(c.tailLen) || off+int64(len(dst)) > c.pos {
		return false
	}
	for len(dst) > 0 {
		i := int(off % int64(len(c.tail)))
		n := copy(dst, c.tail[i:])
		dst, off = dst[n:], off+int64(n)
	}
	return true
}

func (c *cursor) position() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

// skipTo moves forward to off by decompressing, keeping what it passes in the tail.
func (c *cursor) skipTo(off int64) error {
	for c.position() < off {
		b, err := c.r.Peek(int(min(off-c.position(), cursorBufSize)))
		c.passed(b)
		c.r.Discard(len(b))
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

func (c *cursor) close() error {
	return errors.Join(c.dec.Close(), c.rc.Close())
}

// cursorPool holds the open cursors of one layer: idle ones, so reading files in
// tar order is one pass over the blob instead of one pass per file, and busy ones,
// whose tails and positions let small reads avoid new passes.
type cursorPool struct {
	mu      sync.Mutex
	changed *sync.Cond // a cursor was handed back or closed; on mu
	idle    []*cursor
	busy    []*cursor
	waiting []int64 // the offsets small reads wait to reach
	opened  int     // cursors opened in all, for tests
}

// newCursorLocked opens a cursor for the pool and counts it as busy; p.mu is held.
func (p *cursorPool) newCursorLocked(src *source) (*cursor, error) {
	c, err := newCursor(src)
	if err != nil {
		return nil, err
	}
	c.tail = make([]byte, cursorTail)
	p.opened++
	p.busy = append(p.busy, c)
	return c, nil
}

// takeIdleLocked takes the idle cursor furthest along at or before off, or returns
// nil. With waitersFirst, it leaves a cursor to a small read waiting for an offset
// between it and off: that read would otherwise need a new pass.
func (p *cursorPool) takeIdleLocked(off int64, waitersFirst bool) *cursor {
	best := -1
	for i, c := range p.idle {
		if pos := c.position(); pos <= off && (best < 0 || pos > p.idle[best].position()) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	c := p.idle[best]
	if waitersFirst {
		pos := c.position()
		for _, w := range p.waiting {
			if w >= pos && w < off {
				return nil
			}
		}
	}
	p.idle = slices.Delete(p.idle, best, best+1)
	p.busy = append(p.busy, c)
	return c
}

// get returns a cursor at off for a read of unknown length: the idle one closest
// before off, else a new one from the start of the blob. The caller hands it back
// with put, or close on error.
func (p *cursorPool) get(src *source, off int64) (*cursor, error) {
	p.mu.Lock()
	c := p.takeIdleLocked(off, false)
	var err error
	if c == nil {
		c, err = p.newCursorLocked(src)
	}
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := c.skipTo(off); err != nil {
		p.discard(c)
		return nil, fmt.Errorf("seeking to offset %d in layer %s: %w", off, src.digest, err)
	}
	return c, nil
}

// readSmall reads the n <= smallRead bytes at off: from a cursor's tail if one has
// just passed them, else from an idle cursor before off, else, while a small read
// before off is under way, after waiting for its cursor; only when no cursor is or
// will be before off does it open a new one.
func (p *cursorPool) readSmall(src *source, off, n int64) ([]byte, error) {
	buf := make([]byte, n)
	p.mu.Lock()
	var c *cursor
	for registered := false; ; {
		if p.fromTailLocked(off, buf) {
			break
		}
		if c = p.takeIdleLocked(off, true); c != nil {
			break
		}
		if !p.behindLocked(off) {
			var err error
			if c, err = p.newCursorLocked(src); err != nil {
				p.unwaitLocked(registered, off)
				p.mu.Unlock()
				return nil, err
			}
			break
		}
		if !registered {
			p.waiting, registered = append(p.waiting, off), true
		}
		p.changed.Wait()
	}
	p.unwaitLocked(true, off)
	if c == nil {
		p.mu.Unlock()
		return buf, nil
	}
	c.small = true
	p.mu.Unlock()
	err := c.skipTo(off)
	if err == nil {
		_, err = io.ReadFull(c, buf)
	}
	if err != nil {
		p.discard(c)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading %d bytes at offset %d in layer %s: %w", n, off, src.digest, err)
	}
	return buf, p.put(c)
}

// unwaitLocked drops off from the waiting offsets if it was registered.
func (p *cursorPool) unwaitLocked(registered bool, off int64) {
	if !registered {
		return
	}
	if i := slices.Index(p.waiting, off); i >= 0 {
		p.waiting = slices.Delete(p.waiting, i, i+1)
	}
}

func (p *cursorPool) fromTailLocked(off int64, dst []byte) bool {
	for _, cs := range [][]*cursor{p.idle, p.busy} {
		for _, c := range cs {
			if c.fromTail(off, dst) {
				return true
			}
		}
	}
	return false
}

// behindLocked reports whether a cursor at or before off will be idle soon: an idle
// one (left to a waiter before it) or one a small read holds.
func (p *cursorPool) behindLocked(off int64) bool {
	for _, c := range p.idle {
		if c.position() <= off {
			return true
		}
	}
	for _, c := range p.busy {
		if c.small && c.position() <= off {
			return true
		}
	}
	return false
}

// put hands a cursor back; beyond maxIdle the one furthest behind goes.
func (p *cursorPool) put(c *cursor) error {
	p.mu.Lock()
	p.removeBusyLocked(c)
	c.small = false
	p.idle = append(p.idle, c)
	var drop *cursor
	if len(p.idle) > maxIdle {
		low := 0
		for i, c := range p.idle {
			if c.position() < p.idle[low].position() {
				low = i
			}
		}
		drop = p.idle[low]
		p.idle = slices.Delete(p.idle, low, low+1)
	}
	p.changed.Broadcast()
	p.mu.Unlock()
	if drop != nil {
		return drop.close()
	}
	return nil
}

// discard closes a busy cursor that failed or will not be reused.
func (p *cursorPool) discard(c *cursor) error {
	p.mu.Lock()
	p.removeBusyLocked(c)
	p.changed.Broadcast()
	p.mu.Unlock()
	return c.close()
}

func (p *cursorPool) removeBusyLocked(c *cursor) {
	if i := slices.Index(p.busy, c); i >= 0 {
		p.busy = slices.Delete(p.busy, i, i+1)
	}
}

func (p *cursorPool) closeIdle() error {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.changed.Broadcast()
	p.mu.Unlock()
	var errs []error
	for _, c := range idle {
		errs = append(errs, c.close())
	}
	return errors.Join(errs...)
}

func newCursorPool() *cursorPool {
	p := &cursorPool{}
	p.changed = sync.NewCond(&p.mu)
	return p
}
