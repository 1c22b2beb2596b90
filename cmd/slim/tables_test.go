package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/rebase/job"
)

// Issue 13, item 7: tabwriter pads a column to its longest cell, so the files of one
// chain 1000 directories deep made a report of megabytes.
func TestReportShortensDeepPaths(t *testing.T) {
	r := &job.Report{Base: "scratch"}
	p := ""
	for i := range 1000 {
		p += "/a"
		r.Files = append(r.Files, extract.File{Path: p, Reason: "--from src:" + p, Size: int64(i)})
	}
	var out bytes.Buffer
	printReport(&out, r)
	if out.Len() > 400<<10 { // under 400 bytes a row (path and reason cut); 4 MB before
		t.Fatalf("the report of 1000 files is %d bytes", out.Len())
	}
	if !strings.Contains(out.String(), "/a/a/a…/a/a/a") {
		t.Errorf("deep paths are not shortened in the middle:\n%.400s", out.String())
	}
}
