package main

import (
	"bytes"
	"strings"
	"testing"
)

// A passing test's output is dropped, a failing one's shown, package lines kept, and
// the slowest top-level tests listed first.
func TestSlowestSummarize(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"quiet\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA","Elapsed":1.5}`,
		`{"Action":"output","Package":"p","Test":"TestB/sub","Output":"    b_test.go:3: broken\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB/sub","Elapsed":9}`,
		`{"Action":"fail","Package":"p","Test":"TestB","Elapsed":9.5}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t11.0s\n"}`,
		`# p [p.test]`,
	}, "\n")
	var out bytes.Buffer
	failed, times, err := summarize(strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	printSlowest(&out, times, 1)
	got := out.String()
	for _, want := range []string{"b_test.go:3: broken", "FAIL\tp\t11.0s", "# p [p.test]", "slowest 1 tests:\n     9.5s  p TestB\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if !failed || strings.Contains(got, "quiet") || strings.Contains(got, "TestA") {
		t.Errorf("failed %t; a passing test's output or name shown:\n%s", failed, got)
	}
}
