package elfdeps

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/slim-dev/slim/internal/testimage"
)

// TestGoLoadsZones: a Go program that calls time.LoadLocation loads zones, stripped or
// not; one built with time/tzdata, or that never calls it, does not; a C program and
// garbage are no Go programs.
func TestGoLoadsZones(t *testing.T) {
	t.Parallel()
	const loads = "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\t\"time\"\n)\n\nfunc main() {\n\tl, err := time.LoadLocation(os.Args[1])\n\tfmt.Println(l, err)\n}\n"
	embedded := strings.Replace(loads, "\t\"time\"\n", "\t\"time\"\n\t_ \"time/tzdata\"\n", 1)
	const plain = "package main\n\nimport (\n\t\"fmt\"\n\t\"time\"\n)\n\nfunc main() { fmt.Println(time.Now().UTC()) }\n"
	for _, tc := range []struct {
		name, src string
		want      bool
	}{{"LoadLocation", loads, true}, {"time/tzdata", embedded, false}, {"no LoadLocation", plain, false}} {
		prog := testimage.GoBuild(t, tc.src, runtime.GOARCH) // stripped: -s -w
		got, err := GoLoadsZonesIn(os.DirFS(filepath.Dir(prog)), filepath.Base(prog))
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	for _, name := range []string{"bin/sh", "etc/passwd"} {
		got, err := GoLoadsZonesIn(os.DirFS("/"), name)
		if got || err != nil {
			t.Errorf("%s: %v, %v; want false, nil", name, got, err)
		}
	}
}
