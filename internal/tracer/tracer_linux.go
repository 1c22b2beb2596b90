//go:build amd64 || arm64

package tracer

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Main is the tracer's command line: "run -- ARGV..." traces ARGV, writing records
// to stdout as JSON lines and the command's stdout and stderr to stderr, and
// exits as the command did (128+N when signal N killed it); "exec [-noseccomp] --
// ARGV..." is the traced helper that installs the filter and execs ARGV.
func Main(args []string) int {
	mode, argv, seccomp, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "slim-tracer: %v\n", err)
		return 125
	}
	if mode == "exec" {
		return execHelper(argv, seccomp)
	}
	// Records are flushed every few milliseconds, not at every stop (a write per
	// stop would be a third of the tracer's syscalls), so a kill at the time limit
	// loses only what the last moments found.
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	done := make(chan struct{})
	defer func() {
		close(done)
		mu.Lock()
		w.Flush()
		mu.Unlock()
	}()
	go func() {
		tick := time.NewTicker(flushEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				mu.Lock()
				w.Flush()
				mu.Unlock()
			}
		}
	}()
	var opts []Option
	if !seccomp {
		opts = append(opts, WithoutSeccomp())
	}
	emit := func(r Record) {
		mu.Lock()
		enc.Encode(r)
		mu.Unlock()
	}
	code, err := Run(argv, emit, append(opts, WithFiles(os.Stdin, os.Stderr, os.Stderr))...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "slim-tracer: %v\n", err)
		return 125
	}
	return code
}

func parseArgs(args []string) (mode string, argv []string, seccomp bool, err error) {
	if len(args) == 0 || (args[0] != "run" && args[0] != "exec") {
		return "", nil, false, errors.New(`want "run" or "exec", then "--" and the command`)
	}
	mode, args, seccomp = args[0], args[1:], true
	if len(args) > 0 && args[0] == "-noseccomp" {
		args, seccomp = args[1:], false
	}
	if len(args) < 2 || args[0] != "--" {
		return "", nil, false, errors.New(`want "--" and the command`)
	}
	return mode, args[1:], seccomp, nil
}

// execHelper runs in the traced child: it finds the program as execvp does,
// installs the filter (falling back to full tracing when it cannot) and execs it.
func execHelper(argv []string, seccomp bool) int {
	runtime.LockOSThread()
	prog, err := exec.LookPath(argv[0])
	if err != nil && !errors.Is(err, exec.ErrDot) {
		fmt.Fprintf(os.Stderr, "slim-tracer: %v\n", err)
		return 127
	}
	if seccomp {
		if err := installFilter(syscalls()); err != nil {
			fmt.Fprintf(os.Stderr, "slim-tracer: %v; tracing every syscall instead\n", err)
		}
	}
	err = unix.Exec(prog, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "slim-tracer: executing %s: %v\n", prog, err)
	if errors.Is(err, unix.ENOENT) {
		return 127
	}
	return 126
}

// Option configures Run.
type Option func(*options)

type options struct {
	seccomp bool
	files   [3]*os.File
}

// flushEvery is how often Main writes out the records it buffered.
const flushEvery = 10 * time.Millisecond

// WithoutSeccomp stops the command at every syscall instead of at path syscalls
// only, as when seccomp is unavailable.
func WithoutSeccomp() Option { return func(o *options) { o.seccomp = false } }

// WithFiles gives the command its stdin, stdout and stderr (default: the tracer's).
func WithFiles(stdin, stdout, stderr *os.File) Option {
	return func(o *options) { o.files = [3]*os.File{stdin, stdout, stderr} }
}

// Run runs argv (found through PATH as execvp finds it) under the tracer, calls
// emit once per path and kind it touched, and returns its exit status (128+N when
// signal N killed it). The helper it runs first is this binary again
// (/proc/self/exe), which must call Invoked.
func Run(argv []string, emit func(Record), opts ...Option) (int, error) {
	o := options{seccomp: true, files: [3]*os.File{os.Stdin, os.Stdout, os.Stderr}}
	for _, opt := range opts {
		opt(&o)
	}
	if len(argv) == 0 {
		return 0, errors.New("no command to trace")
	}
	// ptrace requests must come from the thread that started the tracee.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("finding the tracer binary: %w", err)
	}
	args := []string{self, Command, "exec"}
	if !o.seccomp {
		args = append(args, "-noseccomp")
	}
	args = append(append(args, "--"), argv...)
	p, err := os.StartProcess("/proc/self/exe", args, &os.ProcAttr{
		Files: o.files[:],
		Sys:   &syscall.SysProcAttr{Ptrace: true},
	})
	if err != nil {
		return 0, fmt.Errorf("starting the traced helper: %w", err)
	}
	t := &tracer{calls: syscalls(), tasks: map[int]*task{}, seen: map[seenKey]bool{}, emit: emit}
	return t.loop(p.Pid)
}

// task is one traced thread.
type task struct {
	started bool  // its first stop (SIGSTOP, or the helper's exec SIGTRAP) is past
	pend    *call // the execve it is in, read at entry
}

// call is a traced syscall read at entry.
type call struct {
	s     sysc
	paths []string
	flags int
}

// seenKey is a path and what was done with it: each is recorded once.
type seenKey struct {
	kind Kind
	path string
}

type tracer struct {
	calls map[uint64]sysc
	tasks map[int]*task
	seen  map[seenKey]bool
	emit  func(Record)
	buf   [4096]byte // one page of a tracee's memory
	// seccomp is set at the first seccomp stop: the filter is in place, so tasks
	// run on with PTRACE_CONT between path syscalls.
	seccomp bool
	// armed is set at the first exec after the helper's: what the helper did
	// before is not the command's.
	armed bool
}

const ptraceOptions = unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL | unix.PTRACE_O_TRACESECCOMP

func (t *tracer) loop(root int) (int, error) {
	for {
		var ws unix.WaitStatus
		tid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("waiting for the traced processes: %w", err)
		}
		if ws.Exited() || ws.Signaled() {
			delete(t.tasks, tid)
			if tid == root {
				if ws.Signaled() {
					return 128 + int(ws.Signal()), nil
				}
				return ws.ExitStatus(), nil
			}
			continue
		}
		if !ws.Stopped() {
			continue
		}
		tk := t.tasks[tid]
		if tk == nil {
			tk = &task{}
			t.tasks[tid] = tk
		}
		sig := ws.StopSignal()
		inject := 0
		switch {
		case tid == root && !tk.started:
			// The helper's exec stop: from now on it and its descendants are traced.
			tk.started = true
			if err := unix.PtraceSetOptions(tid, ptraceOptions); err != nil {
				return 0, fmt.Errorf("setting ptrace options: %w", err)
			}
		case sig == unix.SIGTRAP|0x80:
			t.syscallStop(tid, tk)
		case sig == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_SECCOMP:
			t.seccomp = true
			t.syscallStop(tid, tk)
		case sig == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXEC:
			tk = t.execStop(tid, tk)
		case sig == unix.SIGTRAP && ws.TrapCause() > 0:
			// fork, vfork, clone: the new task is traced and stops on its own.
		case sig == unix.SIGSTOP && !tk.started:
			tk.started = true
		default:
			tk.started = true
			var si unix.Siginfo
			if err := ptraceGetSiginfo(tid, &si); err == nil {
				inject = int(sig) // a signal for the process, not a group-stop
			}
		}
		t.resume(tid, inject)
	}
}

// resume lets a task run to its next stop: its next syscall when seccomp is not
// (yet) filtering, else the next traced syscall or event.
func (t *tracer) resume(tid int, sig int) {
	var err error
	if !t.seccomp {
		err = unix.PtraceSyscall(tid, sig)
	} else {
		err = unix.PtraceCont(tid, sig)
	}
	if err != nil && err != unix.ESRCH {
		// ESRCH: it was killed meanwhile; its exit is still to be waited for.
		fmt.Fprintf(os.Stderr, "slim-tracer: resuming %d: %v\n", tid, err)
	}
}

// syscallInfo is the entry part of struct ptrace_syscall_info.
type syscallInfo struct {
	op   uint8
	nr   uint64
	args [6]uint64
}

const (
	infoEntry   = 1
	infoSeccomp = 3
)

func getSyscallInfo(tid int) (syscallInfo, error) {
	var b [88]byte
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GET_SYSCALL_INFO, uintptr(tid), uintptr(len(b)), uintptr(unsafe.Pointer(&b[0])), 0, 0)
	if errno != 0 {
		return syscallInfo{}, errno
	}
	le := binary.LittleEndian
	in := syscallInfo{op: b[0]}
	switch in.op {
	case infoEntry, infoSeccomp:
		in.nr = le.Uint64(b[24:])
		for i := range in.args {
			in.args[i] = le.Uint64(b[32+8*i:])
		}
	}
	return in, nil
}

func ptraceGetSiginfo(tid int, si *unix.Siginfo) error {
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(tid), 0, uintptr(unsafe.Pointer(si)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// syscallStop reads a traced syscall at entry. A path is recorded then, if it
// exists (the tracer shares the command's root): waiting for the syscall's exit to
// see its result would cost a second stop per call, and a call on an existing
// path fails only for reasons (permissions) that do not make the file less
// needed. An execve is recorded at its exec stop, which only success brings.
func (t *tracer) syscallStop(tid int, tk *task) {
	in, err := getSyscallInfo(tid)
	if err != nil || (in.op != infoEntry && in.op != infoSeccomp) {
		return
	}
	tk.pend = nil
	s, ok := t.calls[in.nr]
	if !ok {
		return
	}
	c := t.enter(tid, s, in.args)
	switch {
	case c == nil:
	case s.kind == Executed:
		tk.pend = c
	default:
		t.record(c)
	}
}

// execStop is a successful execve: the thread that called it is now tid (the
// process's leader), and the program the kernel ran is /proc/tid/exe.
func (t *tracer) execStop(tid int, tk *task) *task {
	if former, err := unix.PtraceGetEventMsg(tid); err == nil && int(former) != tid {
		if old := t.tasks[int(former)]; old != nil {
			tk.pend = old.pend
			delete(t.tasks, int(former))
		}
	}
	t.armed = true
	if c := tk.pend; c != nil && c.s.kind == Executed {
		t.record(c)
		for _, p := range c.paths {
			t.interpreters(tid, p)
		}
	}
	tk.pend = nil
	if exe, err := os.Readlink("/proc/" + strconv.Itoa(tid) + "/exe"); err == nil {
		t.add(exe, Executed, 0)
		t.interpreters(tid, exe)
	}
	return tk
}

// interpreters records what the kernel ran for an exec without a syscall the
// tracer sees: a script's #! interpreters, in turn, and an ELF program's loader.
// They are read through /proc/tid/root, the traced process's root.
func (t *tracer) interpreters(tid int, p string) {
	root := "/proc/" + strconv.Itoa(tid) + "/root"
	for range 4 { // the kernel follows at most 4 levels of #!
		f, err := os.Open(root + p)
		if err != nil {
			return
		}
		head := make([]byte, 256)
		n, _ := io.ReadFull(f, head)
		head = head[:n]
		if bytes.HasPrefix(head, []byte("\x7fELF")) {
			if ef, err := elf.NewFile(f); err == nil {
				for _, prog := range ef.Progs {
					if prog.Type == elf.PT_INTERP {
						b, err := io.ReadAll(prog.Open())
						if err == nil {
							t.add(path.Clean(string(bytes.TrimRight(b, "\x00"))), Executed, 0)
						}
					}
				}
			}
			f.Close()
			return
		}
		f.Close()
		line, _, _ := bytes.Cut(bytes.TrimPrefix(head, []byte("#!")), []byte("\n"))
		fields := strings.Fields(string(line))
		if !bytes.HasPrefix(head, []byte("#!")) || len(fields) == 0 || !path.IsAbs(fields[0]) {
			return
		}
		p = path.Clean(fields[0])
		t.add(p, Executed, 0)
	}
}

// enter reads a traced syscall's arguments.
func (t *tracer) enter(tid int, s sysc, args [6]uint64) *call {
	c := &call{s: s}
	for _, pa := range s.paths {
		p, err := readString(tid, uintptr(args[pa[1]]), t.buf[:])
		if err != nil {
			return nil
		}
		dirfd := int32(unix.AT_FDCWD)
		if pa[0] >= 0 {
			dirfd = int32(args[pa[0]])
		}
		if p == "" && s.kind == Stated {
			return nil // fstat of a descriptor already opened
		}
		if p = absolute(tid, dirfd, p); p != "" {
			c.paths = append(c.paths, p)
		}
	}
	if s.fd >= 0 {
		if fd := int32(args[s.fd]); fd >= 0 {
			if p := fdPath(tid, fd); p != "" {
				c.paths = append(c.paths, p)
			}
		}
	}
	switch {
	case s.flags >= 0:
		c.flags = int(int32(args[s.flags]))
	case s.how:
		var b [8]byte
		if readMem(tid, uintptr(args[2]), b[:]) == nil {
			c.flags = int(binary.LittleEndian.Uint64(b[:]))
		}
	}
	if len(c.paths) == 0 {
		return nil
	}
	return c
}

const writeFlags = unix.O_WRONLY | unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC

func (t *tracer) record(c *call) {
	kind := c.s.kind
	switch {
	case kind == Opened && c.flags&writeFlags != 0:
		kind = Written
	case kind == Opened && c.flags&unix.O_DIRECTORY != 0:
		kind = Listed
	}
	for _, p := range c.paths {
		if t.seen[seenKey{kind, p}] {
			continue
		}
		var st unix.Stat_t
		if kind == Written || unix.Lstat(p, &st) == nil {
			t.add(p, kind, c.flags)
		}
	}
}

func (t *tracer) add(p string, k Kind, flags int) {
	if !t.armed || !path.IsAbs(p) {
		return
	}
	key := seenKey{k, p}
	if t.seen[key] {
		return
	}
	t.seen[key] = true
	if k != Opened && k != Written {
		flags = 0
	}
	t.emit(Record{Path: p, Kind: k, Flags: flags})
}

// absolute makes p absolute from the task's working directory or dirfd; an empty
// p (AT_EMPTY_PATH) is dirfd's own path.
func absolute(tid int, dirfd int32, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	var base string
	if dirfd == unix.AT_FDCWD {
		base, _ = os.Readlink("/proc/" + strconv.Itoa(tid) + "/cwd")
	} else {
		base = fdPath(tid, dirfd)
	}
	if !path.IsAbs(base) {
		return ""
	}
	return path.Join(base, p)
}

// fdPath is the path of a task's file descriptor; "" for pipes, sockets and
// anonymous files.
func fdPath(tid int, fd int32) string {
	p, err := os.Readlink("/proc/" + strconv.Itoa(tid) + "/fd/" + strconv.Itoa(int(fd)))
	if err != nil || !path.IsAbs(p) {
		return ""
	}
	return p
}

// readString reads a NUL-terminated string from the task's memory, a page at a
// time (buf holds one) so a read never crosses into an unmapped page.
func readString(tid int, addr uintptr, buf []byte) (string, error) {
	if addr == 0 {
		return "", unix.EFAULT
	}
	var out []byte
	for len(out) < unix.PathMax {
		n := 4096 - int(addr%4096)
		if err := readMem(tid, addr, buf[:n]); err != nil {
			return "", err
		}
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			if out == nil {
				return string(buf[:i]), nil
			}
			return string(append(out, buf[:i]...)), nil
		}
		out = append(out, buf[:n]...)
		addr += uintptr(n)
	}
	return "", unix.ENAMETOOLONG
}

func readMem(tid int, addr uintptr, b []byte) error {
	n, err := unix.ProcessVMReadv(tid,
		[]unix.Iovec{{Base: &b[0], Len: uint64(len(b))}},
		[]unix.RemoteIovec{{Base: addr, Len: len(b)}}, 0)
	if err == nil && n == len(b) {
		return nil
	}
	if err != nil && err != unix.EPERM && err != unix.ENOSYS {
		return err
	}
	// process_vm_readv may be refused (seccomp profiles): peek word by word.
	_, err = unix.PtracePeekData(tid, addr, b)
	return err
}
