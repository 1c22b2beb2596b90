//go:build !(linux && (amd64 || arm64))

package tracer

import (
	"fmt"
	"os"
)

// Main refuses: this system cannot trace.
func Main([]string) int {
	fmt.Fprintf(os.Stderr, "slim-tracer: %v\n", ErrUnsupported)
	return 125
}
