// Package tracer is the program behind --trace: it runs a command under ptrace,
// following its forks, threads and execs, and writes one JSON Record per file the
// process tree touched successfully (opened, executed, mapped, stat'ed, accessed,
// readlink'ed, listed, entered) or wrote.
//
// It runs inside the container BuildKit starts, whose root is the image's, so it
// must be a static binary of the image's architecture. It is not a program of its
// own: every binary that calls Invoked first thing in main is a tracer, and slim
// does (built with CGO_ENABLED=0, as make build does, slim is static), so the slim
// that runs the job is the tracer it mounts into the run: users need no second
// binary and no Go toolchain, and the tracer always matches slim's version. A
// separate embedded tracer would have to be built before slim by a step that `go
// install` does not run. cmd/slim-tracer is the same tracer on its own, small and
// quick to build, for tests.
//
// Path syscalls are found with a seccomp-bpf filter that returns SECCOMP_RET_TRACE
// only for them, so every other syscall runs at full speed; where seccomp cannot be
// installed, every syscall stops (PTRACE_SYSCALL). The filter needs no_new_privs,
// which a traced process has in effect anyway (ptrace drops setuid on exec).
// Each traced call stops once, at entry: its path is read then (relative ones
// resolved against /proc/TID/cwd or /proc/TID/fd/DIRFD) and recorded if it exists,
// instead of stopping again at exit for the result, which would double the cost;
// an execve is recorded at the exec stop that only success brings.
// PTRACE_GET_SYSCALL_INFO (Linux 5.3) gives the syscall number and arguments the
// same way on amd64 and arm64.
//
// The records go to the tracer's stdout, and the command's stdout to the tracer's
// stderr, so the two never mix: a caller that wants the command's output reads
// stderr.
package tracer
