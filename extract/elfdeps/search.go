package elfdeps

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
)

// maxConfDepth bounds ld.so.conf include nesting: ldconfig has no limit, but an include
// cycle in an image must not hang slim.
const maxConfDepth = 16

// multiarch returns the Debian multiarch triplets for the object's ABI, used for the
// default directories and for $LIB.
func multiarch(o *object) []string {
	le := o.data == elf.ELFDATA2LSB
	is64 := o.class == elf.ELFCLASS64
	switch o.machine {
	case elf.EM_X86_64:
		if !is64 {
			return []string{"x86_64-linux-gnux32"}
		}
		return []string{"x86_64-linux-gnu"}
	case elf.EM_386:
		return []string{"i386-linux-gnu"}
	case elf.EM_AARCH64:
		return []string{"aarch64-linux-gnu"}
	case elf.EM_ARM:
		return []string{"arm-linux-gnueabihf", "arm-linux-gnueabi"}
	case elf.EM_PPC64:
		if le {
			return []string{"powerpc64le-linux-gnu"}
		}
		return []string{"powerpc64-linux-gnu"}
	case elf.EM_PPC:
		return []string{"powerpc-linux-gnu"}
	case elf.EM_S390:
		return []string{"s390x-linux-gnu"}
	case elf.EM_RISCV:
		return []string{"riscv64-linux-gnu"}
	case elf.EM_LOONGARCH:
		return []string{"loongarch64-linux-gnu"}
	case elf.EM_SPARCV9:
		return []string{"sparc64-linux-gnu"}
	case elf.EM_MIPS:
		switch {
		case is64 && le:
			return []string{"mips64el-linux-gnuabi64"}
		case is64:
			return []string{"mips64-linux-gnuabi64"}
		case le:
			return []string{"mipsel-linux-gnu"}
		default:
			return []string{"mips-linux-gnu"}
		}
	}
	return nil
}

// platform is what the kernel puts in AT_PLATFORM for the machine, which glibc uses for
// $PLATFORM. "" where it depends on the exact CPU: such path elements are dropped, as glibc
// drops elements whose token has no value.
func platform(o *object) string {
	switch o.machine {
	case elf.EM_X86_64:
		return "x86_64"
	case elf.EM_386:
		return "i686"
	case elf.EM_AARCH64:
		return "aarch64"
	case elf.EM_ARM:
		return "v7l"
	}
	return ""
}

// libDirs are the candidate expansions of $LIB: glibc builds it from its configured slibdir,
// which is lib/<triplet> on Debian and Ubuntu (checked with ld.so --list-diagnostics),
// lib64 on Fedora, RHEL and SUSE, lib32/libx32 for Debian's biarch packages, and lib on
// Arch and on 32-bit distributions. The image does not say which glibc build it has, so
// each is tried in turn; the ELF class check rejects what does not fit.
func libDirs(o *object) []string {
	var dirs []string
	for _, t := range multiarch(o) {
		dirs = append(dirs, "lib/"+t)
	}
	switch {
	case o.class == elf.ELFCLASS64:
		dirs = append(dirs, "lib64")
	case o.machine == elf.EM_X86_64:
		dirs = append(dirs, "libx32")
	default:
		dirs = append(dirs, "lib32")
	}
	return append(dirs, "lib")
}

// glibcDefaultDirs are the loader's built-in system directories: Debian's
// (/lib/<triplet>, /usr/lib/<triplet>, /lib, /usr/lib) and the lib64 ones of Fedora-style
// builds.
func glibcDefaultDirs(o *object) []string {
	var dirs []string
	for _, t := range multiarch(o) {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	switch {
	case o.class == elf.ELFCLASS64:
		dirs = append(dirs, "/lib64", "/usr/lib64")
	case o.machine == elf.EM_X86_64:
		dirs = append(dirs, "/libx32", "/usr/libx32")
	default:
		dirs = append(dirs, "/lib32", "/usr/lib32")
	}
	return append(dirs, "/lib", "/usr/lib")
}

// muslDefaultPath is musl's built-in search path when /etc/ld-musl-$ARCH.path is absent.
func muslDefaultPath() []string { return []string{"/lib", "/usr/local/lib", "/usr/lib"} }

// splitSearchPath splits LD_LIBRARY_PATH or a musl path file. glibc accepts ':' and ';',
// musl ':' and newlines. Empty elements mean the working directory, which does not exist
// for a program started by a container runtime in the general case, so they are dropped.
func splitSearchPath(s string, musl bool) []string {
	seps := ":;"
	if musl {
		seps = ":\n"
	}
	return strings.FieldsFunc(s, func(c rune) bool { return strings.ContainsRune(seps, c) })
}

// dstValues holds what the dynamic string tokens expand to for one object.
type dstValues struct {
	origin   string   // root-absolute directory of the object
	lib      []string // candidates for $LIB; nil for musl, which knows only $ORIGIN
	platform string
	musl     bool
}

// expandDST expands $ORIGIN, $LIB and $PLATFORM (also in ${} form) in s, giving one result
// per $LIB candidate (every $LIB of one element takes the same value, as a real loader has
// one). Unknown tokens stay as they are, as in glibc's _dl_dst_substitute; a token without
// a value drops the element.
func expandDST(s string, v dstValues) []string {
	if !strings.Contains(s, "$") {
		return []string{s}
	}
	libs := v.lib
	if len(libs) == 0 {
		libs = []string{""}
	}
	var out []string
	for _, lib := range libs {
		if e, ok := substituteDST(s, v, lib); ok && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// substituteDST expands the tokens of s with lib as $LIB; ok is false when a token has
// no value.
func substituteDST(s string, v dstValues, lib string) (string, bool) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		s = s[i+1:]
		name, n := dstToken(s)
		var val string
		switch {
		case name == "ORIGIN":
			val = v.origin
		case name == "LIB" && !v.musl:
			val = lib
		case name == "PLATFORM" && !v.musl:
			val = v.platform
		default:
			b.WriteByte('$')
			continue
		}
		if val == "" {
			return "", false
		}
		b.WriteString(val)
		s = s[n:]
	}
}

// dstToken returns the token name after a '$' and how many bytes it takes. A bare name
// must end at a character that cannot continue an identifier ("$ORIGINAL" is no token).
func dstToken(s string) (string, int) {
	if strings.HasPrefix(s, "{") {
		if j := strings.IndexByte(s, '}'); j > 0 {
			return s[1:j], j + 1
		}
		return "", 0
	}
	j := 0
	for j < len(s) && (s[j] == '_' || 'a' <= s[j] && s[j] <= 'z' || 'A' <= s[j] && s[j] <= 'Z' || '0' <= s[j] && s[j] <= '9') {
		j++
	}
	return s[:j], j
}

// readLdSoConf returns the directories of /etc/ld.so.conf in ldconfig's order, following
// include lines (globs, relative ones taken from the including file's directory). The
// loader really reads /etc/ld.so.cache, which ldconfig builds from these directories; the
// cache in an image can be stale, the configuration says what the image means.
// It also returns the configuration files that exist, in the order read.
func (r *Resolver) readLdSoConf() (dirs, files []string, err error) {
	c := &confReader{r: r, seenDir: map[string]bool{}, seenFile: map[string]bool{}}
	if err := c.read("/etc/ld.so.conf", 0); err != nil {
		return nil, nil, err
	}
	return c.dirs, c.files, nil
}

// confReader collects directories across ld.so.conf and its includes.
type confReader struct {
	r        *Resolver
	dirs     []string
	files    []string
	seenDir  map[string]bool
	seenFile map[string]bool
}

func (c *confReader) read(name string, depth int) error {
	// ldconfig would recurse forever on an include cycle; reading each file once gives the
	// same directories without the hang.
	if c.seenFile[name] {
		return nil
	}
	c.seenFile[name] = true
	if depth > maxConfDepth {
		return fmt.Errorf("reading %s: includes nested more than %d deep", name, maxConfDepth)
	}
	data, err := c.r.readFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	c.files = append(c.files, name)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "include":
			for _, pattern := range fields[1:] {
				if !path.IsAbs(pattern) {
					pattern = path.Join(path.Dir(name), pattern)
				}
				matches, err := c.r.glob(pattern)
				if err != nil {
					return fmt.Errorf("reading %s: %w", name, err)
				}
				for _, m := range matches {
					if err := c.read(m, depth+1); err != nil {
						return err
					}
				}
			}
		case "hwcap":
			// Obsolete hwcap subdirectory declarations: nothing to search.
		default:
			// Old ldconfig also split entries at commas and colons.
			for _, f := range strings.FieldsFunc(line, func(c rune) bool {
				return c == ',' || c == ':' || c == ' ' || c == '\t'
			}) {
				// "dir=TYPE" forced a library type in old ldconfig.
				if i := strings.IndexByte(f, '='); i > 0 {
					f = f[:i]
				}
				if !c.seenDir[f] {
					c.seenDir[f] = true
					c.dirs = append(c.dirs, f)
				}
			}
		}
	}
	return sc.Err()
}

// glob matches a root-absolute pattern whose wildcards are in the last element (the only
// form ld.so.conf uses in practice) inside the image, following symlinked directories on
// the way. Matches are sorted, as glob(3) sorts them.
func (r *Resolver) glob(pattern string) ([]string, error) {
	dir, base := path.Split(pattern)
	if _, err := path.Match(base, ""); err != nil {
		return nil, fmt.Errorf("bad include pattern %q: %w", pattern, err)
	}
	w, err := r.walk(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(r.fsys, w.real)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if ok, _ := path.Match(base, e.Name()); ok {
			out = append(out, path.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// muslPath is the system search path of musl for the given arch.
func (r *Resolver) muslPath(arch string) ([]string, error) {
	if p, ok := r.muslPaths[arch]; ok {
		return p, nil
	}
	p := muslDefaultPath()
	data, err := r.readFile("/etc/ld-musl-" + arch + ".path")
	switch {
	case err == nil:
		p = splitSearchPath(string(data), true)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	r.muslPaths[arch] = p
	return p, nil
}

// detectMusl finds musl's loader in the image (Alpine: /lib/ld-musl-x86_64.so.1) and
// returns its arch, or "" for a glibc (or loader-less) image. It decides for objects that
// have no PT_INTERP of their own, such as a shared library passed to Closure.
func (r *Resolver) detectMusl() (string, error) {
	for _, dir := range []string{"/lib", "/usr/lib"} {
		w, err := r.walk(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		entries, err := fs.ReadDir(r.fsys, w.real)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("listing %s: %w", dir, err)
		}
		for _, e := range entries {
			if arch, ok := muslArch(e.Name()); ok {
				return arch, nil
			}
		}
	}
	return "", nil
}

// muslArch tells whether a loader name is musl's (ld-musl-$ARCH.so.1) and returns ARCH.
func muslArch(interp string) (string, bool) {
	base := path.Base(interp)
	arch, ok := strings.CutPrefix(base, "ld-musl-")
	if !ok {
		return "", false
	}
	arch, ok = strings.CutSuffix(arch, ".so.1")
	return arch, ok && arch != ""
}

// muslReserved reports names musl's loader answers with itself, without a search, because
// libc, libm, libpthread and friends are all one file in musl (see load_library in musl's
// ldso/dynlink.c). Alpine's libc.musl-x86_64.so.1 is one of them.
func muslReserved(name string) bool {
	rest, ok := strings.CutPrefix(name, "lib")
	if !ok {
		return false
	}
	for _, r := range []string{"c", "pthread", "rt", "m", "dl", "util", "xnet"} {
		if tail, ok := strings.CutPrefix(rest, r); ok && strings.HasPrefix(tail, ".") {
			return true
		}
	}
	return false
}
