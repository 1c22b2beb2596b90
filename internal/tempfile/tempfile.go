// Package tempfile owns slim's scratch files: spools of layer streams and tars
// that live only as long as the process holds them open, and the temporary name a
// small file (a report, an emitted Dockerfile) is written under before it replaces
// its destination.
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

// WriteAtomic writes b to a temporary name beside path and renames it over path, so a
// reader never sees half a file.
func WriteAtomic(path string, b []byte) error {
	tmp := path + ".tmp-slim"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
