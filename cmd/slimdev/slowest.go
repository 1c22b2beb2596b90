package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// testEvent is one line of `go test -json` (cmd/test2json's TestEvent).
type testEvent struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// slowest reads `go test -json` on stdin and prints what plain `go test` would (each
// package's result line, the output of failed tests only), then the N slowest tests;
// it fails when a test or package failed (a build too), so a pipe keeps go test's
// verdict.
func slowest(args []string) error {
	fs := flag.NewFlagSet("slowest", flag.ContinueOnError)
	n := fs.Int("n", 10, "how many tests to list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	failed, times, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		return err
	}
	printSlowest(os.Stdout, times, *n)
	if failed {
		return errors.New("tests failed")
	}
	return nil
}

// testTime is how long one top-level test or subtest took.
type testTime struct {
	pkg, test string
	elapsed   float64
}

// summarize copies r's events to w as go test without -v prints them and returns
// whether anything failed and every test's time.
func summarize(r io.Reader, w io.Writer) (bool, []testTime, error) {
	// A test's output is held until its verdict: shown on failure, dropped on success.
	held := map[string][]string{}
	var times []testTime
	failed := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e testEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			// Not an event (a build error go test printed as is): show it.
			fmt.Fprintln(w, sc.Text())
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "output" && e.Test == "":
			if !strings.HasPrefix(e.Output, "=== ") && !strings.HasPrefix(e.Output, "PASS\n") {
				fmt.Fprint(w, e.Output)
			}
		case e.Action == "output":
			held[key] = append(held[key], e.Output)
		case e.Action == "pass" || e.Action == "fail" || e.Action == "skip":
			if e.Test != "" {
				times = append(times, testTime{e.Package, e.Test, e.Elapsed})
			}
			if e.Action == "fail" {
				failed = true
				fmt.Fprint(w, strings.Join(held[key], ""))
			}
			delete(held, key)
		}
	}
	return failed, times, sc.Err()
}

func printSlowest(w io.Writer, times []testTime, n int) {
	// Subtests are counted in their parent: list top-level tests only.
	var top []testTime
	for _, t := range times {
		if !strings.Contains(t.test, "/") {
			top = append(top, t)
		}
	}
	sort.SliceStable(top, func(i, j int) bool { return top[i].elapsed > top[j].elapsed })
	if len(top) > n {
		top = top[:n]
	}
	fmt.Fprintf(w, "\nslowest %d tests:\n", len(top))
	for _, t := range top {
		fmt.Fprintf(w, "%8.1fs  %s %s\n", t.elapsed, t.pkg, t.test)
	}
}
