package tracer

import "golang.org/x/sys/unix"

const auditArch = unix.AUDIT_ARCH_X86_64

// legacy adds the path syscalls that amd64 has and arm64 replaced by *at ones.
func legacy(m map[uint64]sysc) {
	m[unix.SYS_OPEN] = opener(-1, 0, 1)
	m[unix.SYS_CREAT] = named(Written, cwd(0))
	m[unix.SYS_STAT] = named(Stated, cwd(0))
	m[unix.SYS_LSTAT] = named(Stated, cwd(0))
	m[unix.SYS_ACCESS] = named(Accessed, cwd(0))
	m[unix.SYS_READLINK] = named(ReadLink, cwd(0))
	m[unix.SYS_MKDIR] = named(Written, cwd(0))
	m[unix.SYS_MKNOD] = named(Written, cwd(0))
	m[unix.SYS_RENAME] = named(Written, cwd(0), cwd(1))
	m[unix.SYS_LINK] = named(Written, cwd(1))
	m[unix.SYS_SYMLINK] = named(Written, cwd(1))
	m[unix.SYS_UNLINK] = named(Written, cwd(0))
	m[unix.SYS_RMDIR] = named(Written, cwd(0))
}
