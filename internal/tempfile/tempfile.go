// Package tempfile owns slim's scratch files: spools of layer streams and tars
// that live only as long as the process holds them open, the temporary names files
// and directories are written under before they replace their destination, and the
// one rule that removes what killed runs left behind.
//
// Every temporary name starts with ".slim-tmp-<pid>-<start>-", the owner's process ID
// and start time: a run that finds such a name of a process that no longer exists (or
// of a pid reused by another process) removes it (RemoveDead), so a SIGKILL leaves
// nothing behind for longer than the next run.
package tempfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Prefix begins every temporary name slim gives.
const Prefix = ".slim-tmp-"

// pattern is the os.CreateTemp pattern for a name owned by this process; name, when
// given, follows the random part so a leftover still says what it was for.
func pattern(name string) string {
	p := fmt.Sprintf("%s%d-%d-*", Prefix, os.Getpid(), startTime(os.Getpid()))
	if name != "" {
		p += "-" + strings.ReplaceAll(name, "*", "")
	}
	return p
}

// Create creates a file with a temporary name owned by this process in dir (the
// default temporary directory when empty). name is only a hint for humans.
func Create(dir, name string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern(name))
	if err != nil {
		return nil, fmt.Errorf("creating temporary file: %w", err)
	}
	return f, nil
}

// Mkdir creates a directory with a temporary name owned by this process in dir.
func Mkdir(dir, name string) (string, error) {
	p, err := os.MkdirTemp(dir, pattern(name))
	if err != nil {
		return "", fmt.Errorf("creating temporary directory: %w", err)
	}
	return p, nil
}

// Unlinked creates a temporary file in dir (the default temporary directory when
// empty) and removes its name at once: the open file keeps its data until it is
// closed, and nothing is left behind however the process ends.
func Unlinked(dir, name string) (*os.File, error) {
	f, err := Create(dir, name)
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
// reader never sees half a file and concurrent writers never share a temporary name.
func WriteAtomic(path string, b []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// WriteFunc is WriteAtomic for what fn writes. The file is flushed to disk before the
// rename: a name must not be published with content a crash could still lose.
func WriteFunc(path string, fn func(io.Writer) error) error {
	f, err := Create(filepath.Dir(path), filepath.Base(path))
	if err != nil {
		return err
	}
	err = fn(f)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Owner reads the process ID and start time out of a temporary name; ok is false for
// a name that is not one of slim's.
func Owner(name string) (pid int, start uint64, ok bool) {
	rest, found := strings.CutPrefix(name, Prefix)
	if !found {
		return 0, 0, false
	}
	parts := strings.SplitN(rest, "-", 3)
	if len(parts) < 3 {
		return 0, 0, false
	}
	p, err := strconv.Atoi(parts[0])
	if err != nil || p <= 0 {
		return 0, 0, false
	}
	s, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return p, s, true
}

// Dead reports whether the run that gave a temporary name is over: no process has
// its pid, or the one that has it started at another time (the pid was reused).
// Where start times cannot be read they are not compared.
func Dead(pid int, start uint64) bool {
	if !alive(pid) {
		return true
	}
	now := startTime(pid)
	return now != 0 && start != 0 && now != start
}

// RemoveDead removes the temporary files and directories of dead runs directly in
// dir and returns their names. Errors are ignored: what cannot be removed now is
// tried again by the next run. A missing dir has nothing to remove.
func RemoveDead(dir string) []string {
	if dir == "" {
		dir = os.TempDir()
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range ents {
		pid, start, ok := Owner(e.Name())
		if !ok || !Dead(pid, start) {
			continue
		}
		if os.RemoveAll(filepath.Join(dir, e.Name())) == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed
}
