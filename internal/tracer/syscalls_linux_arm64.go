package tracer

import "golang.org/x/sys/unix"

const auditArch = unix.AUDIT_ARCH_AARCH64

// legacy adds nothing: arm64 has only the *at path syscalls.
func legacy(map[uint64]sysc) {}
