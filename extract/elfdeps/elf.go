package elfdeps

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
)

const (
	// maxDynamic bounds what is read for PT_DYNAMIC and the string table: real objects need
	// a few KiB to a few MiB, and a hostile header must not make us allocate gigabytes.
	maxDynamic = 64 << 20
	// maxInterp is PATH_MAX: the kernel refuses longer PT_INTERP strings anyway.
	maxInterp = 4096
)

// object is what the loader reads from an ELF file to find its dependencies. It is taken
// from the program headers, as the loader does, so objects whose section headers were
// stripped (sstrip, some packers) are read correctly too.
type object struct {
	class   elf.Class
	data    elf.Data
	machine elf.Machine
	interp  string // PT_INTERP, "" for static and shared objects
	soname  string
	needed  []string
	rpath   []string // DT_RPATH, split at ':'
	runpath []string // DT_RUNPATH, split at ':'
	// hasRunpath is kept apart from len(runpath) because an empty DT_RUNPATH still
	// switches DT_RPATH off in glibc.
	hasRunpath bool
	nodeflib   bool // DF_1_NODEFLIB: skip ld.so.cache / ld.so.conf and the default directories
	// iconv is whether the object imports iconv_open, which loads gconv modules by name.
	iconv bool
	// unwind names an imported function for which glibc dlopens libgcc_s.so.1 to unwind
	// the stack (pthread_exit, pthread_cancel, backtrace), "" when there is none.
	unwind string
}

// isELF tells whether r starts with the ELF magic, so that non-ELF files (scripts, data)
// can be told from corrupt ELF files.
func isELF(r io.ReaderAt) bool {
	var magic [4]byte
	n, _ := r.ReadAt(magic[:], 0)
	return n == 4 && string(magic[:]) == elf.ELFMAG
}

// parseELF reads the loader-relevant parts of an ELF file of the given size. Errors wrap
// ErrNotELF.
func parseELF(r io.ReaderAt, size int64) (obj *object, err error) {
	if !isELF(r) {
		return nil, ErrNotELF
	}
	// debug/elf is hardened and fuzzed, but these bytes come from arbitrary images: a panic
	// in the parser must become an error for that file, not take slim down.
	defer func() {
		if p := recover(); p != nil {
			obj, err = nil, fmt.Errorf("%w: parser panic: %v", ErrNotELF, p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotELF, err)
	}
	obj = &object{class: f.Class, data: f.Data, machine: f.Machine}
	var dyn *elf.Prog
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			if p.Filesz > maxInterp {
				return nil, fmt.Errorf("%w: PT_INTERP of %d bytes", ErrNotELF, p.Filesz)
			}
			b, err := readSegment(p, p.Filesz, size)
			if err != nil {
				return nil, fmt.Errorf("%w: reading PT_INTERP: %v", ErrNotELF, err)
			}
			obj.interp = cString(b)
		case elf.PT_DYNAMIC:
			if dyn == nil { // the loader uses the first one
				dyn = p
			}
		}
	}
	if dyn != nil {
		if err := obj.readDynamic(f, dyn, size); err != nil {
			return nil, fmt.Errorf("%w: reading PT_DYNAMIC: %v", ErrNotELF, err)
		}
		// The symbol table needs section headers; without them iconv is not seen, which
		// costs only the gconv modules.
		if syms, err := f.ImportedSymbols(); err == nil {
			for _, s := range syms {
				obj.iconv = obj.iconv || s.Name == "iconv_open"
				switch s.Name {
				case "pthread_exit", "pthread_cancel", "backtrace":
					obj.unwind = s.Name
				}
			}
		}
	}
	return obj, nil
}

// readSegment reads n bytes of p, refusing sizes the file cannot hold so that a lying
// header costs nothing.
func readSegment(p *elf.Prog, n uint64, fileSize int64) ([]byte, error) {
	if n > maxDynamic || p.Off > uint64(fileSize) || n > uint64(fileSize)-p.Off {
		return nil, fmt.Errorf("segment of %d bytes at %d does not fit in %d bytes", n, p.Off, fileSize)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(p.Open(), b); err != nil {
		return nil, err
	}
	return b, nil
}

// readDynamic decodes the dynamic array itself rather than using (*elf.File).DynString,
// which needs the section headers that the loader never looks at.
func (o *object) readDynamic(f *elf.File, dyn *elf.Prog, fileSize int64) error {
	b, err := readSegment(dyn, dyn.Filesz, fileSize)
	if err != nil {
		return err
	}
	var (
		order   = f.ByteOrder
		entSize = 16
		strtab  uint64
		strsz   uint64
		haveTab bool
		needed  []uint64
		rpath   = noString
		runpath = noString
		soname  = noString
	)
	if f.Class == elf.ELFCLASS32 {
		entSize = 8
	}
	for off := 0; off+entSize <= len(b); off += entSize {
		var tag int64
		var val uint64
		if entSize == 16 {
			tag = int64(order.Uint64(b[off:]))
			val = order.Uint64(b[off+8:])
		} else {
			tag = int64(int32(order.Uint32(b[off:])))
			val = uint64(order.Uint32(b[off+4:]))
		}
		switch elf.DynTag(tag) {
		case elf.DT_NULL:
			off = len(b) // the array ends here; what follows is padding
		case elf.DT_NEEDED:
			needed = append(needed, val)
		case elf.DT_STRTAB:
			strtab, haveTab = val, true
		case elf.DT_STRSZ:
			strsz = val
		case elf.DT_RPATH:
			rpath = val
		case elf.DT_RUNPATH:
			runpath = val
			o.hasRunpath = true
		case elf.DT_SONAME:
			soname = val
		case elf.DT_FLAGS_1:
			o.nodeflib = val&uint64(elf.DF_1_NODEFLIB) != 0
		}
	}
	if len(needed) == 0 && rpath == noString && runpath == noString && soname == noString {
		return nil // a static PIE has PT_DYNAMIC but nothing to look up
	}
	if !haveTab {
		return errors.New("no DT_STRTAB")
	}
	strs, err := readVaddr(f, strtab, strsz, fileSize)
	if err != nil {
		return fmt.Errorf("reading DT_STRTAB: %w", err)
	}
	str := func(off uint64) (string, error) {
		if off >= uint64(len(strs)) {
			return "", fmt.Errorf("string offset %d outside DT_STRTAB of %d bytes", off, len(strs))
		}
		return cString(strs[off:]), nil
	}
	for _, n := range needed {
		s, err := str(n)
		if err != nil {
			return err
		}
		o.needed = append(o.needed, s)
	}
	if soname != noString {
		if o.soname, err = str(soname); err != nil {
			return err
		}
	}
	if rpath != noString {
		s, err := str(rpath)
		if err != nil {
			return err
		}
		o.rpath = strings.Split(s, ":")
	}
	if runpath != noString {
		s, err := str(runpath)
		if err != nil {
			return err
		}
		o.runpath = strings.Split(s, ":")
	}
	return nil
}

// noString marks a dynamic tag that was not present.
const noString = ^uint64(0)

// readVaddr reads size bytes at a virtual address, mapped to the file through the PT_LOAD
// segment that holds it, the same translation the loader does when it maps the object.
// A size of 0 (no DT_STRSZ) reads to the end of the segment, as the loader does not check.
func readVaddr(f *elf.File, addr, size uint64, fileSize int64) ([]byte, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || addr < p.Vaddr || addr-p.Vaddr >= p.Filesz {
			continue
		}
		start := addr - p.Vaddr
		if size == 0 || size > p.Filesz-start {
			size = p.Filesz - start
		}
		if size > maxDynamic || p.Off > uint64(fileSize) || start > uint64(fileSize)-p.Off ||
			size > uint64(fileSize)-p.Off-start {
			return nil, fmt.Errorf("%d bytes at %#x do not fit in %d bytes", size, addr, fileSize)
		}
		b := make([]byte, size)
		n, err := p.ReadAt(b, int64(start))
		if err != nil && !(errors.Is(err, io.EOF) && uint64(n) == size) {
			return nil, err
		}
		return b, nil
	}
	return nil, fmt.Errorf("address %#x is in no PT_LOAD segment", addr)
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// UsesOrigin reports whether the ELF file at name (a real path in fsys) searches for
// libraries relative to $ORIGIN, its own directory as the kernel hands it to the loader:
// such a program only works under its real path, so a copy under a symlink's name breaks.
// A file that is not ELF does not.
func UsesOrigin(fsys fs.FS, name string) (bool, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return false, err
	}
	ra, err := readerAt(f)
	if err != nil {
		return false, err
	}
	obj, err := parseELF(ra, info.Size())
	if err != nil {
		return false, nil
	}
	for _, p := range append(slices.Clone(obj.rpath), obj.runpath...) {
		if strings.Contains(p, "$ORIGIN") || strings.Contains(p, "${ORIGIN}") {
			return true, nil
		}
	}
	return false, nil
}
