package main

import (
	"strings"
	"testing"
)

// TestSections: a subset run (-only) keeps every other workload's section as it was,
// marker and all, so that putting them back together gives the file again.
func TestSections(t *testing.T) {
	a := "\n" + sectionMarker + "index 2026-11-29: 2 cores -->\n## Indexing\n\n| a | b |\n"
	b := "\n" + sectionMarker + "memory 2026-12-04: 2 cores -->\n## Peak memory\n\ntext with <!-- a comment -->\n"
	got := sections("# Benchmarks\n\nheader\n" + a + b)
	if len(got) != 2 || got["index"] != a || got["memory"] != b {
		t.Fatalf("sections = %q, want index %q and memory %q", got, a, b)
	}
	if s := sections("# Benchmarks\n\nno markers\n## index\n"); len(s) != 0 {
		t.Errorf("a file without markers gave sections %q", s)
	}
	if !strings.HasPrefix(got["memory"], "\n"+sectionMarker+"memory ") {
		t.Errorf("memory section %q does not start with its marker", got["memory"])
	}
}
