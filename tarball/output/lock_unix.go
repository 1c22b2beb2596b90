//go:build unix

package output

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// errLockMoved says the directory was replaced or removed while the lock was awaited.
var errLockMoved = errors.New("locked directory moved")

// lockDir takes an exclusive flock on dir, waiting for other holders while ctx allows.
// The kernel releases it when the process dies, so a killed run never leaves a layout
// locked.
func lockDir(ctx context.Context, dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errLockMoved
		}
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the lock on %s: %w", dir, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	held, err1 := f.Stat()
	now, err2 := os.Stat(dir)
	if err1 != nil || err2 != nil || !os.SameFile(held, now) {
		f.Close() // closing releases the lock
		return nil, errLockMoved
	}
	return func() { f.Close() }, nil
}
