package imagefs

import (
	"os"
	"syscall"
)

// diskSpace reports the free (to unprivileged users) and total bytes of the file
// system holding f.
func diskSpace(f *os.File) (free, total uint64, ok bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var st syscall.Statfs_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstatfs(int(fd), &st) }); err != nil || serr != nil {
		return 0, 0, false
	}
	bs := uint64(st.Bsize)
	return st.Bavail * bs, st.Blocks * bs, true
}
