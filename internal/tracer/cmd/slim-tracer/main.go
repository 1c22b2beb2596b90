// Command slim-tracer is the --trace tracer on its own (slim is one too): small
// and quick to build static, for tests and for tracing on a host.
//
//	slim-tracer run -- COMMAND [ARG...]
package main

import (
	"os"

	"github.com/slim-dev/slim/internal/tracer"
)

func main() {
	tracer.Invoked(os.Args)
	os.Exit(tracer.Main(os.Args[1:]))
}
