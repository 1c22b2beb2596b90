//go:build amd64 || arm64

package tracer

import (
	"fmt"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccomp_data offsets (little endian): the syscall number, the architecture, and
// the low 32 bits of argument i.
const (
	offNr   = 0
	offArch = 4
)

func offArg(i int) uint32 { return 16 + 8*uint32(i) }

// argTest narrows a traced syscall to calls whose argument arg, masked, is
// (set) or is not (!set) non-zero; notMinus1 also skips the value -1.
type argTest struct {
	arg       int
	mask      uint32
	set       bool
	notMinus1 int // an argument that must not be -1 (mmap's fd), or -1
}

// narrowed are the syscalls traced only for some arguments: mmap of a file with
// PROT_EXEC (a library being loaded); newfstatat and statx without AT_EMPTY_PATH
// (with it they are fstat on a descriptor already opened, which every read of a
// file does, and there is no path to take).
var narrowed = map[uint64]argTest{
	unix.SYS_MMAP:       {arg: 2, mask: unix.PROT_EXEC, set: true, notMinus1: 4},
	unix.SYS_NEWFSTATAT: {arg: 3, mask: unix.AT_EMPTY_PATH, notMinus1: -1},
	unix.SYS_STATX:      {arg: 2, mask: unix.AT_EMPTY_PATH, notMinus1: -1},
}

// asm is a BPF program whose jumps name labels, resolved by assemble.
type asm struct {
	prog   []unix.SockFilter
	labels map[string]int
	jumps  map[int][2]string // instruction → (jt, jf) labels
}

func (a *asm) label(l string)              { a.labels[l] = len(a.prog) }
func (a *asm) ld(off uint32)               { a.emit(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off, "", "") }
func (a *asm) ret(k uint32)                { a.emit(unix.BPF_RET|unix.BPF_K, k, "", "") }
func (a *asm) jeq(k uint32, jt, jf string) { a.emit(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, k, jt, jf) }
func (a *asm) jset(k uint32, jt, jf string) {
	a.emit(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, k, jt, jf)
}

func (a *asm) emit(code uint16, k uint32, jt, jf string) {
	if jt != "" || jf != "" {
		a.jumps[len(a.prog)] = [2]string{jt, jf}
	}
	a.prog = append(a.prog, unix.SockFilter{Code: code, K: k})
}

func (a *asm) assemble() []unix.SockFilter {
	for pc, j := range a.jumps {
		rel := func(l string) uint8 {
			if l == "" {
				return 0 // the next instruction
			}
			return uint8(a.labels[l] - pc - 1) // jumps are relative to the next instruction
		}
		a.prog[pc].Jt, a.prog[pc].Jf = rel(j[0]), rel(j[1])
	}
	return a.prog
}

// filter is a seccomp-bpf program that stops (SECCOMP_RET_TRACE) the traced
// syscalls of this architecture (narrowed ones only for the arguments that name a
// file) and lets everything else run untouched, another architecture's syscalls
// too: a 32-bit program is not traced, rather than killed.
func filter(calls map[uint64]sysc) []unix.SockFilter {
	var nrs []uint64
	for nr := range calls {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)
	a := &asm{labels: map[string]int{}, jumps: map[int][2]string{}}
	a.ld(offArch)
	a.jeq(auditArch, "", "allow")
	a.ld(offNr)
	for _, nr := range nrs {
		to := "trace"
		if _, ok := narrowed[nr]; ok {
			to = fmt.Sprint(nr)
		}
		a.jeq(uint32(nr), to, "")
	}
	a.ret(unix.SECCOMP_RET_ALLOW)
	for _, nr := range nrs {
		n, ok := narrowed[nr]
		if !ok {
			continue
		}
		a.label(fmt.Sprint(nr))
		a.ld(offArg(n.arg))
		next := "trace"
		if n.notMinus1 >= 0 {
			next = ""
		}
		if n.set {
			a.jset(n.mask, next, "allow")
		} else {
			a.jset(n.mask, "allow", next)
		}
		if n.notMinus1 >= 0 {
			a.ld(offArg(n.notMinus1))
			a.jeq(0xffffffff, "allow", "trace")
		}
	}
	// The kernel wants a return last.
	a.label("allow")
	a.ret(unix.SECCOMP_RET_ALLOW)
	a.label("trace")
	a.ret(unix.SECCOMP_RET_TRACE)
	return a.assemble()
}

// installFilter sets no_new_privs (which an unprivileged filter needs) and the
// filter on every thread of this process; execve keeps both.
func installFilter(calls map[uint64]sysc) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	prog := filter(calls)
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fp))); errno != 0 {
		return fmt.Errorf("installing the seccomp filter: %w", errno)
	}
	return nil
}
