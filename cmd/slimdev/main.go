// Command slimdev holds the developer tasks behind `make demo`, `make bench` and the
// slowest-tests list of `make test`: it makes their images offline and measures slim
// side by side with its peers. It is not shipped.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: slimdev demo|bench|image|slowest [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "demo":
		err = demo(ctx, os.Args[2:])
	case "bench":
		err = bench(ctx, os.Args[2:])
	case "slowest":
		err = slowest(os.Args[2:])
	case "image":
		err = image(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown task %q (want demo, bench, image or slowest)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "slimdev: %v\n", err)
		os.Exit(1)
	}
}
