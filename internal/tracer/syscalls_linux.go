//go:build amd64 || arm64

package tracer

import "golang.org/x/sys/unix"

// sysc says how to read one traced syscall.
type sysc struct {
	kind Kind
	// paths are the (dirfd argument or -1 for the working directory, path
	// argument) pairs of the paths the call names.
	paths [][2]int
	// fd is the argument holding the file descriptor the call is about, or -1.
	fd int
	// flags is the argument holding open's flags, or -1; how is openat2's
	// struct open_how (its first field is the flags).
	flags int
	how   bool
}

func named(k Kind, paths ...[2]int) sysc { return sysc{kind: k, paths: paths, fd: -1, flags: -1} }
func onFD(k Kind, fd int) sysc           { return sysc{kind: k, fd: fd, flags: -1} }
func opener(dirfd, path, flags int) sysc {
	return sysc{kind: Opened, paths: [][2]int{{dirfd, path}}, fd: -1, flags: flags}
}
func cwd(path int) [2]int       { return [2]int{-1, path} }
func at(dirfd, path int) [2]int { return [2]int{dirfd, path} }

// syscalls are the traced syscalls of this architecture, by number: the ones both
// architectures have, and the legacy ones of amd64.
func syscalls() map[uint64]sysc {
	m := map[uint64]sysc{
		unix.SYS_OPENAT:     opener(0, 1, 2),
		unix.SYS_OPENAT2:    {kind: Opened, paths: [][2]int{at(0, 1)}, fd: -1, flags: -1, how: true},
		unix.SYS_EXECVE:     named(Executed, cwd(0)),
		unix.SYS_EXECVEAT:   named(Executed, at(0, 1)),
		unix.SYS_NEWFSTATAT: named(Stated, at(0, 1)),
		unix.SYS_STATX:      named(Stated, at(0, 1)),
		unix.SYS_FACCESSAT:  named(Accessed, at(0, 1)),
		unix.SYS_FACCESSAT2: named(Accessed, at(0, 1)),
		unix.SYS_READLINKAT: named(ReadLink, at(0, 1)),
		unix.SYS_MMAP:       onFD(Mapped, 4),
		unix.SYS_CHDIR:      named(Entered, cwd(0)),
		unix.SYS_FCHDIR:     onFD(Entered, 0),
		unix.SYS_MKDIRAT:    named(Written, at(0, 1)),
		unix.SYS_MKNODAT:    named(Written, at(0, 1)),
		unix.SYS_RENAMEAT:   named(Written, at(0, 1), at(2, 3)),
		unix.SYS_RENAMEAT2:  named(Written, at(0, 1), at(2, 3)),
		unix.SYS_LINKAT:     named(Written, at(2, 3)),
		unix.SYS_SYMLINKAT:  named(Written, at(1, 2)),
		unix.SYS_UNLINKAT:   named(Written, at(0, 1)),
		unix.SYS_TRUNCATE:   named(Written, cwd(0)),
	}
	legacy(m)
	return m
}
