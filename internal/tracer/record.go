package tracer

import (
	"errors"
	"os"
	"strings"
)

// Command is the argv[1] that makes a binary calling Invoked the tracer.
const Command = "__slim-tracer"

// ErrUnsupported means this system or architecture cannot trace.
var ErrUnsupported = errors.New("tracing is supported on linux/amd64 and linux/arm64 only")

// Kind is what a process did with a path.
type Kind string

const (
	Executed Kind = "executed" // execve, and the program the kernel ran (/proc/PID/exe)
	Opened   Kind = "opened"   // open, openat, openat2 without a write flag
	Mapped   Kind = "mapped"   // mmap of a file with PROT_EXEC
	Stated   Kind = "stat"     // stat, lstat, newfstatat, statx
	Accessed Kind = "accessed" // access, faccessat, faccessat2
	ReadLink Kind = "readlink" // readlink, readlinkat
	// Listed is a directory opened with O_DIRECTORY, as opendir and fts open the
	// directories they list. getdents is not traced: it comes at least twice per
	// directory, and what it would add (the directory) is taken already.
	Listed  Kind = "listed"
	Entered Kind = "entered" // chdir, fchdir
	// Written is a path created, changed, renamed or removed: opened with
	// O_WRONLY, O_RDWR, O_CREAT or O_TRUNC, creat, mkdir, mknod, rename, link,
	// symlink, unlink, rmdir, truncate.
	Written Kind = "written"
)

// Record is one path a traced process touched, once per path and kind.
type Record struct {
	// Path is absolute; it is the path the process named (made absolute with its
	// working directory or the directory of its dirfd), so symlinks on the way are
	// kept, or the path of a file descriptor for fd-based calls.
	Path string `json:"path"`
	Kind Kind   `json:"kind"`
	// Flags are open's flags, for Opened and Written by open.
	Flags int `json:"flags,omitempty"`
}

// Invoked runs the tracer and exits when args (os.Args) ask for it
// ([prog, Command, "run"|"exec", "--", argv...]); otherwise it returns. Call it first
// thing in main.
func Invoked(args []string) {
	if len(args) > 1 && args[1] == Command {
		os.Exit(Main(args[2:]))
	}
}

// rank orders kinds by how much they say of a path, so a program that was
// stat'ed, then executed, is reported as executed.
var rank = map[Kind]int{Executed: 7, Listed: 6, Opened: 5, Mapped: 4, ReadLink: 3, Entered: 2, Accessed: 1, Stated: 0}

// Touched keeps, of a run's records, the files it found and did not change, once
// each, in the order first seen, with the kind that says most: nothing under
// /proc, /sys or /dev (the kernel's, not the image's), and no path the run wrote,
// created or removed.
func Touched(records []Record) []Record {
	written := map[string]bool{}
	for _, r := range records {
		if r.Kind == Written {
			written[r.Path] = true
		}
	}
	at := map[string]int{}
	var out []Record
	for _, r := range records {
		if written[r.Path] || kernelPath(r.Path) {
			continue
		}
		if i, ok := at[r.Path]; ok {
			if rank[r.Kind] > rank[out[i].Kind] {
				out[i] = r
			}
			continue
		}
		at[r.Path] = len(out)
		out = append(out, r)
	}
	return out
}

func kernelPath(p string) bool {
	for _, d := range [...]string{"/proc", "/sys", "/dev"} {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}
