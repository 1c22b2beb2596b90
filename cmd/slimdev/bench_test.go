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

// TestDependencyClosure: the distroless-style images of the runtime table hold the
// packages named and what they depend on, as dpkg records them: alternatives by the
// first installed, virtual packages through Provides, versions and :any ignored,
// packages not installed (config-files) left out.
func TestDependencyClosure(t *testing.T) {
	status := `Package: python3-yaml
Status: install ok installed
Depends: python3 (<< 3.12), python3:any, libyaml-0-2, libc6 (>= 2.14)

Package: python3
Status: install ok installed
Pre-Depends: python3-minimal (= 3.11.2-1+b1)
Depends: python3.11 (>= 3.11.2-1~),
 libpython3-stdlib (= 3.11.2-1+b1)

Package: python3-minimal
Status: install ok installed

Package: python3.11
Status: install ok installed
Depends: mime-support | media-types, awk

Package: media-types
Status: install ok installed

Package: mawk
Status: install ok installed
Provides: awk

Package: libpython3-stdlib
Status: install ok installed

Package: libyaml-0-2
Status: install ok installed
Depends: libc6

Package: libc6
Status: install ok installed
Depends: libgcc-s1

Package: libgcc-s1
Status: install ok installed

Package: old
Status: deinstall ok config-files
`
	got, missing, err := dependencyClosure(strings.NewReader(status), []string{"python3-yaml", "old", "netbase"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(missing, " ") != "old netbase" {
		t.Errorf("missing roots = %v, want old and netbase (not installed)", missing)
	}
	want := "libc6 libgcc-s1 libpython3-stdlib libyaml-0-2 mawk media-types python3 python3-minimal python3-yaml python3.11"
	if strings.Join(got, " ") != want {
		t.Errorf("closure = %v\nwant %s", got, want)
	}
	for p, doc := range map[string]bool{"/usr/share/doc/libc6/copyright": false, "/usr/share/doc/libc6/changelog.Debian.gz": true,
		"/usr/share/man/man1/python3.1.gz": true, "/usr/lib/python3.11/os.py": false} {
		if isDoc(p) != doc {
			t.Errorf("isDoc(%s) = %t, want %t", p, !doc, doc)
		}
	}
}
