package extract

import (
	"os"
	"testing"
)

// skipEnv skips a test whose machine lacks a feature (xattrs, hardlinks, a host
// program), but fails it under CI=true: CI's machine has them, so a skip there would
// hide a lost check.
func skipEnv(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI's machine has it, so this is a failure)", args...)
	}
	t.Skipf(format+" (under CI=true this fails)", args...)
}
