package extract

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/slim-dev/slim/extract/elfdeps"
)

// TestSelectScriptDeps follows a "#!/usr/bin/env NAME" script through the PATH of the
// image config given with WithEnv, and reports what cannot be found.
func TestSelectScriptDeps(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"app/run.sh":         file("#!/usr/bin/env python3\nprint(1)\n", 0o755),
		"app/data.txt":       file("#!not a program: no execute bit\n", 0o644),
		"usr/bin/env":        file("env", 0o755),
		"opt/py/bin/python3": file("py", 0o755),
	}
	set, err := Select(fsys, []Spec{{Path: "/app/"}}, WithEnv([]string{"HOME=/", "PATH=/nope", "PATH=/opt/py/bin"}), WithSourceName("img"))
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, f := range set.Files() {
		reasons[f.Path] = f.Reason
	}
	for _, p := range []string{"/usr/bin/env", "/opt/py/bin/python3"} {
		if reasons[p] == "" || strings.HasPrefix(reasons[p], "--from") {
			t.Errorf("%s: reason %q, want one from the interpreter search", p, reasons[p])
		}
	}

	if set, err := Select(fsys, []Spec{{Path: "/app/"}}, WithDeps(DepsNone)); err != nil || len(set.Files()) != 3 {
		t.Errorf("--deps none: %v, %+v", err, set.Files())
	}

	delete(fsys, "opt/py/bin/python3")
	set, err = Select(fsys, []Spec{{Path: "/app/run.sh"}}, WithEnv([]string{"PATH=/opt/py/bin"}), WithSourceName("img"))
	if !errors.Is(err, elfdeps.ErrMissing) || !strings.Contains(err.Error(), "python3") || !strings.Contains(err.Error(), "img") {
		t.Fatalf("missing interpreter: %v, want elfdeps.ErrMissing naming python3 and the source", err)
	}
	if set == nil {
		t.Fatalf("missing interpreter: no FileSet of what was found")
	}
	found := false
	for _, f := range set.Files() {
		found = found || f.Path == "/usr/bin/env"
	}
	if !found {
		t.Errorf("the FileSet lacks what was found: %+v", set.Files())
	}
}

// TestSelectNamedDirectoryEntry: the directory a script appends a log to comes as its
// entry, without the files it holds.
func TestSelectNamedDirectoryEntry(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"app/run.sh":          file("#!/bin/sh\necho started >> /var/log/app/out.log\n", 0o755),
		"bin/sh":              file("sh", 0o755),
		"var/log/app":         &fstest.MapFile{Mode: fs.ModeDir | 0o750},
		"var/log/app/old.log": file("old\n", 0o644),
	}
	set, err := Select(fsys, []Spec{{Path: "/app/run.sh"}}, WithSourceName("img"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]File{}
	for _, f := range set.Files() {
		files[f.Path] = f
	}
	d, ok := files["/var/log/app"]
	if !ok || !strings.HasPrefix(d.Reason, "directory of /var/log/app/out.log") {
		t.Errorf("/var/log/app: %+v, want its entry for the log the script writes", d)
	}
	if _, ok := files["/var/log/app/old.log"]; ok {
		t.Errorf("the directory's contents came with it: %+v", set.Files())
	}
}

// TestSelectSpecReason: a spec's Reason is what the report says of every file it takes,
// a tree's included; without one, the --from it came from.
func TestSelectSpecReason(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"usr/share/zoneinfo/Asia/Tokyo": file("TZif", 0o644), "etc/x": file("x", 0o644)}
	set, err := Select(fsys, []Spec{{Path: "/usr/share/zoneinfo", Reason: "time zones"}, {Path: "/etc/x"}}, WithDeps(DepsNone), WithSourceName("img"))
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, f := range set.Files() {
		reasons[f.Path] = f.Reason
	}
	if reasons["/usr/share/zoneinfo/Asia/Tokyo"] != "time zones" || reasons["/usr/share/zoneinfo"] != "time zones" || reasons["/etc/x"] != "--from img:/etc/x" {
		t.Errorf("reasons %q", reasons)
	}
}
