package elfdeps

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
)

// elfSpec describes a synthetic ELF object: just the headers the loader reads, so search
// rules can be tested for any ABI without a cross toolchain.
type elfSpec struct {
	class    elf.Class   // default ELFCLASS64
	machine  elf.Machine // default EM_X86_64
	interp   string
	needed   []string
	soname   string
	rpath    *string
	runpath  *string
	nodeflib bool
	noDyn    bool // a static binary: no PT_DYNAMIC at all
}

func ptr(s string) *string { return &s }

// mkELF lays out ELF header, program headers (PT_LOAD over the whole file, PT_INTERP,
// PT_DYNAMIC), the interpreter string, the string table and the dynamic array, with
// virtual addresses equal to file offsets. It has no section headers, like a sstripped
// binary, which the loader does not need either.
func mkELF(t testing.TB, s elfSpec) []byte {
	t.Helper()
	if s.class == elf.ELFCLASSNONE {
		s.class = elf.ELFCLASS64
	}
	if s.machine == elf.EM_NONE {
		s.machine = elf.EM_X86_64
	}
	is64 := s.class == elf.ELFCLASS64
	ehSize, phSize, dynSize := 52, 32, 8
	if is64 {
		ehSize, phSize, dynSize = 64, 56, 16
	}

	var strtab bytes.Buffer
	strtab.WriteByte(0)
	str := func(v string) uint64 {
		off := uint64(strtab.Len())
		strtab.WriteString(v)
		strtab.WriteByte(0)
		return off
	}
	type dyn struct {
		tag elf.DynTag
		val uint64
	}
	var dyns []dyn
	for _, n := range s.needed {
		dyns = append(dyns, dyn{elf.DT_NEEDED, str(n)})
	}
	if s.soname != "" {
		dyns = append(dyns, dyn{elf.DT_SONAME, str(s.soname)})
	}
	if s.rpath != nil {
		dyns = append(dyns, dyn{elf.DT_RPATH, str(*s.rpath)})
	}
	if s.runpath != nil {
		dyns = append(dyns, dyn{elf.DT_RUNPATH, str(*s.runpath)})
	}
	if s.nodeflib {
		dyns = append(dyns, dyn{elf.DT_FLAGS_1, uint64(elf.DF_1_NODEFLIB)})
	}

	nph := 1
	if s.interp != "" {
		nph++
	}
	if !s.noDyn {
		nph++
	}
	interpOff := uint64(ehSize + nph*phSize)
	interpLen := uint64(0)
	if s.interp != "" {
		interpLen = uint64(len(s.interp) + 1)
	}
	strOff := interpOff + interpLen
	dynOff := (strOff + uint64(strtab.Len()) + 7) &^ 7
	dyns = append(dyns, dyn{elf.DT_STRTAB, strOff}, dyn{elf.DT_STRSZ, uint64(strtab.Len())}, dyn{elf.DT_NULL, 0})
	dynLen := uint64(len(dyns) * dynSize)
	total := dynOff + dynLen

	type ph struct {
		typ       elf.ProgType
		off, size uint64
	}
	phs := []ph{{elf.PT_LOAD, 0, total}}
	if s.interp != "" {
		phs = append(phs, ph{elf.PT_INTERP, interpOff, interpLen})
	}
	if !s.noDyn {
		phs = append(phs, ph{elf.PT_DYNAMIC, dynOff, dynLen})
	}

	var b bytes.Buffer
	le := binary.LittleEndian
	w := func(v any) {
		if err := binary.Write(&b, le, v); err != nil {
			t.Fatal(err)
		}
	}
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS] = byte(s.class)
	ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	typ := uint16(elf.ET_DYN)
	if is64 {
		w(elf.Header64{Ident: ident, Type: typ, Machine: uint16(s.machine), Version: uint32(elf.EV_CURRENT),
			Phoff: uint64(ehSize), Ehsize: uint16(ehSize), Phentsize: uint16(phSize), Phnum: uint16(nph)})
		for _, p := range phs {
			w(elf.Prog64{Type: uint32(p.typ), Off: p.off, Vaddr: p.off, Paddr: p.off, Filesz: p.size, Memsz: p.size, Align: 8})
		}
	} else {
		w(elf.Header32{Ident: ident, Type: typ, Machine: uint16(s.machine), Version: uint32(elf.EV_CURRENT),
			Phoff: uint32(ehSize), Ehsize: uint16(ehSize), Phentsize: uint16(phSize), Phnum: uint16(nph)})
		for _, p := range phs {
			w(elf.Prog32{Type: uint32(p.typ), Off: uint32(p.off), Vaddr: uint32(p.off), Paddr: uint32(p.off),
				Filesz: uint32(p.size), Memsz: uint32(p.size), Align: 4})
		}
	}
	if s.interp != "" {
		b.WriteString(s.interp)
		b.WriteByte(0)
	}
	b.Write(strtab.Bytes())
	for uint64(b.Len()) < dynOff {
		b.WriteByte(0)
	}
	for _, d := range dyns {
		if is64 {
			w(elf.Dyn64{Tag: int64(d.tag), Val: d.val})
		} else {
			w(elf.Dyn32{Tag: int32(d.tag), Val: uint32(d.val)})
		}
	}
	return b.Bytes()
}

func file(data []byte) *fstest.MapFile { return &fstest.MapFile{Data: data, Mode: 0o755} }
func text(s string) *fstest.MapFile    { return &fstest.MapFile{Data: []byte(s), Mode: 0o644} }
func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

// copyHost adds host files to m with every symlink on their way, exactly as they are on
// this machine (Debian: lib -> usr/lib, absolute links in usr/lib64, soname links).
// It returns, for each path, the entries that a correct closure must contain: the crossed
// symlinks and the real file, root-relative.
func copyHost(t testing.TB, m fstest.MapFS, paths ...string) map[string]bool {
	t.Helper()
	want := map[string]bool{}
	for _, p := range paths {
		todo := strings.FieldsFunc(p, func(c rune) bool { return c == '/' })
		cur := ""
		for hops := 0; len(todo) > 0; {
			comp := todo[0]
			todo = todo[1:]
			if comp == "." {
				continue
			}
			if comp == ".." {
				cur = filepath.Dir(cur)
				if cur == "." {
					cur = ""
				}
				continue
			}
			next := strings.TrimPrefix(cur+"/"+comp, "/")
			fi, err := os.Lstat("/" + next)
			if err != nil {
				t.Fatalf("copying %s from the host: %v", p, err)
			}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				if hops++; hops > 40 {
					t.Fatalf("symlink loop at %s", next)
				}
				target, err := os.Readlink("/" + next)
				if err != nil {
					t.Fatal(err)
				}
				m[next] = link(target)
				want[next] = true
				if strings.HasPrefix(target, "/") {
					cur = ""
				}
				todo = append(strings.FieldsFunc(target, func(c rune) bool { return c == '/' }), todo...)
			case fi.IsDir():
				cur = next
			default:
				data, err := os.ReadFile("/" + next)
				if err != nil {
					t.Fatal(err)
				}
				m[next] = &fstest.MapFile{Data: data, Mode: fi.Mode().Perm()}
				want[next] = true
				cur = next
			}
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatal(err)
		}
		if !want[strings.TrimPrefix(real, "/")] {
			t.Fatalf("copying %s: real path %s not reached", p, real)
		}
	}
	return want
}

// depPaths returns the paths of deps, sorted, with symlinks marked by a trailing " ->".
func depPaths(deps []Dep) []string {
	var out []string
	for _, d := range deps {
		p := d.Path
		if d.Symlink {
			p += " ->"
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
