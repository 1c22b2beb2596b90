//go:build !linux

package extract

import (
	"errors"
	"io/fs"
	"os"
)

// fileID identifies a regular file in its source; without inode numbers only the
// path does.
func fileID(_ fs.FileInfo, src string) any { return "path:" + src }

func setXattr(*os.File, string, string) error { return errors.ErrUnsupported }
