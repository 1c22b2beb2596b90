//go:build ignore

// gen_zoneinfo copies the IANA time zone database that the Go team maintains and ships
// with every Go release ($GOROOT/lib/time/zoneinfo.zip, built by lib/time/update.bash from
// the IANA tzcode and tzdata releases) into this package, with its tzdata version.
//
// Refresh it after a Go upgrade with `go generate ./rebase/static`, then refresh the
// golden digest with `go test ./rebase/static -update`.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		log.Fatalf("finding GOROOT: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "lib", "time")
	zip, err := os.ReadFile(filepath.Join(dir, "zoneinfo.zip"))
	if err != nil {
		log.Fatalf("reading zoneinfo.zip: %v", err)
	}
	script, err := os.ReadFile(filepath.Join(dir, "update.bash"))
	if err != nil {
		log.Fatalf("reading update.bash for the tzdata version: %v", err)
	}
	version := ""
	sc := bufio.NewScanner(bytes.NewReader(script))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "DATA="); ok {
			version = strings.TrimSpace(v)
		}
	}
	if version == "" {
		log.Fatalf("no DATA= line in %s", filepath.Join(dir, "update.bash"))
	}
	if err := os.WriteFile("zoneinfo.zip", zip, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("zoneinfo.version", []byte(version+"\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("zoneinfo.zip: tzdata %s, %d bytes\n", version, len(zip))
}
