package extract

import (
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// devIno is a file's identity on a host file system.
type devIno struct{ dev, ino uint64 }

// fileID identifies a regular file in its source, so that two names of one inode
// (a hardlink pair read from a host directory) stay one file in the output.
func fileID(fi fs.FileInfo, src string) any {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return devIno{uint64(st.Dev), uint64(st.Ino)}
	}
	return "path:" + src
}

// setXattr sets an extended attribute on an open file. Going through /proc/self/fd
// keeps the os.Root guarantee: the name is never looked up again, so a symlink swapped
// in meanwhile cannot redirect the write.
func setXattr(f *os.File, name, value string) error {
	return syscall.Setxattr("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), name, []byte(value), 0)
}
