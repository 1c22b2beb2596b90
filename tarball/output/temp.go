package output

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/slim-dev/slim/internal/tempfile"
)

// Outputs are written under a hidden temporary name in the destination's own directory
// (so the final rename stays on one file system and is atomic) and renamed into place
// only when everything succeeded. A killed process can leave a temporary file or
// directory behind (named by internal/tempfile, which the next run's Write removes),
// never a half-written file under the name the user asked for.

// makeParents creates the missing parents of dest, as buildx does for its dest, and
// returns the ones it created so a failed run can take them away again.
func makeParents(dest string) ([]string, error) {
	var created []string
	for p := filepath.Dir(dest); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		created = append(created, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if len(created) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(dest), err)
	}
	return created, nil
}

// removeParents removes the directories makeParents created, deepest first; os.Remove
// only takes empty ones, so anything someone else put there meanwhile stays.
func removeParents(created []string) {
	for _, p := range created {
		_ = os.Remove(p)
	}
}

type tempFile struct {
	f       *os.File
	tmp     string
	dest    string
	parents []string
}

func newTempFile(dest string) (*tempFile, error) {
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory (for a layout directory leave out tar=true and the .tar suffix): %w", dest, ErrBadOutput)
	}
	parents, err := makeParents(dest)
	if err != nil {
		return nil, err
	}
	f, err := tempfile.Create(filepath.Dir(dest), filepath.Base(dest))
	if err != nil {
		removeParents(parents)
		return nil, err
	}
	return &tempFile{f: f, tmp: f.Name(), dest: dest, parents: parents}, nil
}

// close flushes the file to disk: the rename that follows must not publish a name whose
// content a crash could still lose.
func (t *tempFile) close() error {
	if err := t.f.Chmod(0o644); err != nil {
		t.f.Close()
		return err
	}
	if err := t.f.Sync(); err != nil {
		t.f.Close()
		return err
	}
	return t.f.Close()
}

func (t *tempFile) commit() error {
	if err := os.Rename(t.tmp, t.dest); err != nil {
		t.abort()
		return fmt.Errorf("renaming %s to %s: %w", t.tmp, t.dest, err)
	}
	return nil
}

func (t *tempFile) abort() {
	_ = t.f.Close()
	_ = os.Remove(t.tmp)
	removeParents(t.parents)
}

type tempDir struct {
	tmp     string
	dest    string
	parents []string
}

func newTempDir(dest string) (*tempDir, error) {
	parents, err := makeParents(dest)
	if err != nil {
		return nil, err
	}
	tmp, err := tempfile.Mkdir(filepath.Dir(dest), filepath.Base(dest))
	if err != nil {
		removeParents(parents)
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		_ = os.RemoveAll(tmp)
		removeParents(parents)
		return nil, err
	}
	return &tempDir{tmp: tmp, dest: dest, parents: parents}, nil
}

// commit moves the new directory into place. An existing dest (already checked to be
// empty or an OCI layout) is first moved aside and removed only once the new one is in
// place, so a failure in between puts the old one back.
func (t *tempDir) commit() error {
	old := ""
	if _, err := os.Lstat(t.dest); err == nil {
		// Not a temporary name: until the new one is in place this is the user's
		// only copy, which no cleanup of dead runs may take.
		o, err := os.MkdirTemp(filepath.Dir(t.dest), "."+filepath.Base(t.dest)+".old-*")
		if err != nil {
			t.abort()
			return fmt.Errorf("replacing %s: %w", t.dest, err)
		}
		// MkdirTemp only reserved a unique name; not every file system lets a rename
		// replace an empty directory.
		_ = os.Remove(o)
		if err := os.Rename(t.dest, o); err != nil {
			t.abort()
			return fmt.Errorf("replacing %s: %w", t.dest, err)
		}
		old = o
	}
	if err := os.Rename(t.tmp, t.dest); err != nil {
		if old != "" {
			_ = os.Rename(old, t.dest)
		}
		t.abort()
		return fmt.Errorf("renaming %s to %s: %w", t.tmp, t.dest, err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("removing the replaced %s (now %s): %w", t.dest, old, err)
		}
	}
	return nil
}

func (t *tempDir) abort() {
	_ = os.RemoveAll(t.tmp)
	removeParents(t.parents)
}
