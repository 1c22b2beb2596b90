// Package tempfile owns slim's scratch files: spools of layer streams and tars
// that live only as long as the process holds them open.
package tempfile

import (
	"fmt"
	"os"
)

// Unlinked creates a temporary file in dir (the default temporary directory when
// empty) and removes its name at once: the open file keeps its data until it is
// closed, and nothing is left behind however the process ends.
func Unlinked(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("creating spool file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("creating spool file: %w", err)
	}
	return f, nil
}
