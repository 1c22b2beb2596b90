//go:build !unix

package output

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

var errLockMoved = errors.New("locked directory moved")

// lockDir takes a lock file inside dir, created exclusively. Without flock a killed
// run leaves it behind; its message says what to remove.
func lockDir(ctx context.Context, dir string) (func(), error) {
	p := filepath.Join(dir, ".slim.lock")
	for {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(p) }, nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, errLockMoved
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the lock on %s (remove %s if no slim runs): %w", dir, p, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
