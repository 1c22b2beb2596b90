package elfdeps

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// maxPclntab bounds the function table read from a Go program: a larger one is no Go
// program's.
const maxPclntab = 256 << 20

// GoLoadsZonesIn is GoLoadsZones of the file name of fsys, read at random (a layer
// view seeks; a large library is not read whole to learn it is no Go program).
func GoLoadsZonesIn(fsys fs.FS, name string) (bool, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", name, err)
	}
	defer f.Close()
	ra, err := readerAt(f)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", name, err)
	}
	if !isELF(ra) {
		return false, nil
	}
	loads, err := GoLoadsZones(ra)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", name, err)
	}
	return loads, nil
}

// GoLoadsZones reports whether the ELF file r is a Go program that loads time zones by
// name at run time (time.LoadLocation is linked in) from the system's database: one
// built with time/tzdata (or -tags timetzdata) carries its own and needs none. Such a
// program runs on a base without /usr/share/zoneinfo until its first LoadLocation,
// which fails with "unknown time zone". The names are read from the function table
// (.gopclntab), which stripping keeps. Anything else is false, with no error.
func GoLoadsZones(r io.ReaderAt) (bool, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return false, nil // not ELF
	}
	defer f.Close()
	s := f.Section(".gopclntab")
	if s == nil || s.Type == elf.SHT_NOBITS || s.Size > maxPclntab {
		return false, nil
	}
	tab, err := s.Data()
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return false, nil
		}
		return false, fmt.Errorf("reading the Go function table: %w", err)
	}
	// Function names are NUL-terminated in the table's name section.
	return bytes.Contains(tab, []byte("\x00time.LoadLocation\x00")) && !bytes.Contains(tab, []byte("\x00time/tzdata.")), nil
}
