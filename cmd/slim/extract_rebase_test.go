package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// TestExtractCLI copies a dynamically linked program out of an image of this machine's
// files, with its closure, and runs it from the directory; the tar form is reproducible.
func TestExtractCLI(t *testing.T) {
	needRoot(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the fixture lists amd64 paths; CI runs on amd64, where this test runs")
	}
	prog := testimage.GCCBuild(t, cProgram, "-lm")
	want := runHost(t, prog)
	libdir := "/usr/lib/" + map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH] + "-linux-gnu"
	_, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, "/lib", "/lib64", "/usr/lib64", libdir+"/libc.so.6", libdir+"/libm.so.6",
		libdir+"/ld-linux-x86-64.so.2", libdir+"/libnss_files.so.2", "/etc/nsswitch.conf", "usr/local/bin/hello="+prog)}, func(c *v1.Config) {})
	dir := filepath.Join(t.TempDir(), "root")
	stdout := slimOK(t, "extract", ref, "/usr/local/bin/hello", "-o", dir)
	if !strings.Contains(stdout, "libm.so.6") {
		t.Errorf("extract did not list the closure:\n%s", stdout)
	}
	if got := testimage.Chroot(t, dir, "", nil, "/usr/local/bin/hello"); got != want {
		t.Errorf("extracted program printed %q, want %q", got, want)
	}
	var tars [][]byte
	for range 2 {
		p := filepath.Join(t.TempDir(), "out.tar")
		slimOK(t, "extract", ref, "/usr/local/bin/hello", "-o", p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		tars = append(tars, b)
	}
	if string(tars[0]) != string(tars[1]) {
		t.Error("two extracts to a tar differ")
	}
	// A non-empty directory is refused, and nothing is written on error.
	if code, _, stderr := slimCLI(t, "extract", ref, "/no/such", "-o", filepath.Join(t.TempDir(), "x")); code != 1 || !strings.Contains(stderr, "no/such") {
		t.Errorf("missing path: exit %d, %q", code, stderr)
	}
}

// TestRebaseCLI slims a Go program onto scratch, then moves it onto the static base with
// slim rebase (the old base found from slim's own annotations), and runs it as nonroot.
func TestRebaseCLI(t *testing.T) {
	needRoot(t)
	prog := testimage.GoBuild(t, goNonroot, runtime.GOARCH)
	_, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, "usr/local/bin/probe="+prog)},
		func(c *v1.Config) { c.Entrypoint = []string{"/usr/local/bin/probe"} })
	first := filepath.Join(t.TempDir(), "first")
	// On scratch the probe cannot find its user: --force writes it all the same.
	slimOK(t, "--from", ref+":/usr/local/bin/probe", "--base", "scratch", "-t", "p:scratch", "-o", "type=oci,dest="+first)
	moved := filepath.Join(t.TempDir(), "moved")
	slimOK(t, "rebase", "oci-layout://"+first+":scratch", "--base", "static", "-t", "p:static", "-o", "type=oci,dest="+moved)
	got := testimage.Chroot(t, unpack(t, moved, "static"), "65532:65532", nil, "/usr/local/bin/probe")
	if !strings.Contains(got, "nonroot uid=65532 home=/home/nonroot certs=true running as uid 65532") {
		t.Errorf("rebased image printed %q", got)
	}
	// The program's layer is carried over byte for byte.
	a, b := layerDigests(t, first), layerDigests(t, moved)
	if len(b) != 2 || b[1] != a[len(a)-1] {
		t.Errorf("layers before %v, after %v: want the static base's layer then the same program layer", a, b)
	}
	rebasedSizesAreTheBlobs(t, moved, "static")
}

// rebasedSizesAreTheBlobs (issue 13: "rebase reports a size off by one from the real
// one"): every layer size inspect reports for the image tagged tag in the layout dir,
// and their total, in bytes and as printed, are those of the blob files.
func rebasedSizesAreTheBlobs(t *testing.T, dir, tag string) {
	t.Helper()
	var r struct {
		Layers []struct {
			Digest string `json:"digest"`
			Size   int64  `json:"size"`
		} `json:"layers"`
		Totals struct {
			Size int64 `json:"size"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(slimOK(t, "inspect", "--json", "oci-layout://"+dir+":"+tag)), &r); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, l := range r.Layers {
		st, err := os.Stat(filepath.Join(dir, "blobs", strings.Replace(l.Digest, ":", "/", 1)))
		if err != nil {
			t.Fatal(err)
		}
		if l.Size != st.Size() {
			t.Errorf("layer %s: inspect says %d bytes, the blob has %d", l.Digest, l.Size, st.Size())
		}
		total += st.Size()
	}
	if r.Totals.Size != total {
		t.Errorf("inspect's total is %d bytes, the blobs have %d", r.Totals.Size, total)
	}
	if table := slimOK(t, "inspect", "oci-layout://"+dir+":"+tag); !strings.Contains(table, humanSize(total)) {
		t.Errorf("inspect does not print the total %s:\n%s", humanSize(total), table)
	}
}

// TestHumanSize: the unit is picked after rounding, so a size just under a unit is
// not printed as 1000 of the unit below.
func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 1049: "1.0 kB", 1050: "1.1 kB",
		999_949: "999.9 kB", 999_950: "1.0 MB", 999_999: "1.0 MB", 1_000_000: "1.0 MB", 999_950_000: "1.0 GB",
		1_500_000_000: "1.5 GB", 1 << 62: "4.6 EB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func layerDigests(t *testing.T, dir string) []string {
	t.Helper()
	img := layoutImage(t, dir)
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}
