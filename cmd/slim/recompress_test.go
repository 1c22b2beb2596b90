package main

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// TestRecompressCLI removes an image's waste through the CLI, then runs the result and
// checks slim inspect finds nothing left to remove.
func TestRecompressCLI(t *testing.T) {
	needRoot(t)
	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(junk, []byte(strings.Repeat("waste ", 200_000)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ref := hostImage(t, [][]tarball.Entry{
		hostEntries(t, "bin/busybox=/bin/busybox", "var/cache/junk="+junk),
		{{Header: &tar.Header{Typeflag: tar.TypeReg, Name: "var/cache/.wh.junk", Mode: 0o644}}},
	}, func(c *v1.Config) { c.Entrypoint = []string{"/bin/busybox"} })
	before := inspectJSON(t, ref)
	if before.Totals.Wasted != 1_200_000 {
		t.Fatalf("the input wastes %d bytes, want 1200000", before.Totals.Wasted)
	}
	out := filepath.Join(t.TempDir(), "out")
	stdout := slimOK(t, "recompress", ref, "-t", "r:slim", "-o", "type=oci,dest="+out)
	if !strings.Contains(stdout, "smaller compressed") {
		t.Errorf("no report:\n%s", stdout)
	}
	after := inspectJSON(t, "oci-layout://"+out+":slim")
	if after.Totals.Wasted != 0 || after.Totals.UncompressedSize > before.Totals.UncompressedSize-1_200_000 {
		t.Errorf("after recompress: wasted %d, uncompressed %d (before %d)", after.Totals.Wasted, after.Totals.UncompressedSize, before.Totals.UncompressedSize)
	}
	if got := testimage.Chroot(t, unpack(t, out, "slim"), "", nil, "/bin/busybox", "echo", "still runs"); got != "still runs\n" {
		t.Errorf("recompressed image printed %q", got)
	}
}

func TestRecompressBadInput(t *testing.T) {
	_, layers := wasteImage(t)
	ref := "oci-layout://" + testimage.WriteLayout(t, testimage.Image(t, layers))
	other := "oci-layout://" + testimage.WriteLayout(t, testimage.Image(t, [][]testimage.Entry{{testimage.File("x", "y")}}))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown compression", []string{"--compression", "brotli"}, "brotli"},
		{"bad level", []string{"--compression-level", "99"}, "99"},
		{"keep-base not a prefix", []string{"--keep-base", other}, "not a prefix"},
		{"keep-base auto without annotations", []string{"--keep-base", "auto"}, "annotation"},
		{"bad strip glob", []string{"--strip", "[a"}, "[a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := slimCLI(t, append(append([]string{"recompress", ref}, tc.args...), "-o", out)...)
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q: want 1 and a message mentioning %q", code, stderr, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output written despite the error")
			}
		})
	}
}

func inspectJSON(t *testing.T, ref string) extract.Report {
	t.Helper()
	var r extract.Report
	if err := json.Unmarshal([]byte(slimOK(t, "inspect", "--json", ref)), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRecompressReportJSON: a Docker-typed image recompressed into an OCI layout reports
// the OCI media types the layout holds, and a removed layer has no new digest (it said
// "newDigest": ":" before) but says it was removed.
func TestRecompressReportJSON(t *testing.T) {
	img := testimage.Image(t, [][]testimage.Entry{
		{testimage.File("keep", "kept")},
		{testimage.File("junk", strings.Repeat("j", 5000))},
		{testimage.Whiteout("junk")},
	}, testimage.WithDocker())
	ref := "oci-layout://" + testimage.WriteLayout(t, img)
	out := filepath.Join(t.TempDir(), "out")
	report := filepath.Join(t.TempDir(), "recompress.json")
	slimOK(t, "recompress", ref, "-t", "r:slim", "-o", "type=oci,dest="+out, "--report", report)
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Layers []map[string]any `json:"layers"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != 3 {
		t.Fatalf("report has %d layers, want 3:\n%s", len(rep.Layers), b)
	}
	written := layoutImage(t, out)
	m, err := written.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("the layout's image has %d layers, want 1", len(m.Layers))
	}
	l0 := rep.Layers[0]
	if l0["newMediaType"] != string(m.Layers[0].MediaType) || l0["newDigest"] != m.Layers[0].Digest.String() {
		t.Errorf("layer 0 reported as %v %v, the layout holds %s %s", l0["newMediaType"], l0["newDigest"], m.Layers[0].MediaType, m.Layers[0].Digest)
	}
	for _, l := range rep.Layers[1:] {
		if _, ok := l["newDigest"]; ok || l["removed"] != true {
			t.Errorf("a removed layer is reported as %v: want removed and no newDigest", l)
		}
		if _, ok := l["newMediaType"]; ok {
			t.Errorf("a removed layer has a newMediaType: %v", l)
		}
	}
}
