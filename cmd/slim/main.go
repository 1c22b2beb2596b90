// Command slim makes container images as small as they can be while they still run.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/slim-dev/slim/internal/tracer"
)

func main() { os.Exit(slimMain()) }

// slimMain is main less the exit, so a test can run the whole process and look at it
// before it ends.
func slimMain() int {
	// slim is also the tracer that --trace mounts into the run (see internal/tracer).
	tracer.Invoked(os.Args)
	// BuildKit's and containerd's client code log through logrus; their warnings (no
	// fsverity on this file system, say) are noise beside slim's own messages.
	logrus.SetLevel(logrus.ErrorLevel)
	// slim promises bounded memory. Its largest live allocation is one best-level zstd
	// encoder (about 170 MiB of window and tables); with the default GOGC the heap may
	// grow to twice the live size before a collection (measured: 370 MiB peak for
	// recompress --compression zstd), while a soft limit keeps it at 185 MiB at no cost
	// in time. GOMEMLIMIT still overrides it.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(224 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal cancels the run, which then removes what it began; a second
		// one ends the process at once, as the shell's default would.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	return code
}

// run executes one command line and maps its outcome to an exit status, so that tests can
// run the CLI exactly as a user types it without exiting the test process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if debug, _ := root.PersistentFlags().GetBool("debug"); debug {
		// The whole chain, as wrapped, with its line breaks: what a bug report needs.
		fmt.Fprintf(root.ErrOrStderr(), "slim: %v\n", err)
		for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
			fmt.Fprintf(root.ErrOrStderr(), "  caused by (%T): %v\n", e, e)
		}
	} else {
		fmt.Fprintf(root.ErrOrStderr(), "slim: %v\n", oneLine(err))
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

// exitCoder is implemented by errors that need a status other than 1 (a broken size budget,
// for example), so that CI can tell them apart from failures.
type exitCoder interface{ ExitCode() int }
