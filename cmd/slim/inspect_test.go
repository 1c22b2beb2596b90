package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/testimage"
)

// slimCLI runs a fresh root command as a user types it and returns its exit status and output.
func slimCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// wasteImage has exactly 1000+300+200+50 = 1550 wasted bytes: a file overwritten, a file
// deleted, a directory deleted with its files, and a directory made opaque.
func wasteImage(t *testing.T) (wasted int64, layers [][]testimage.Entry) {
	return 1550, testimage.WasteLayers()
}

func TestInspectSameNumbersFromEveryReferenceKind(t *testing.T) {
	want, layers := wasteImage(t)
	img := testimage.Image(t, layers)
	host := testimage.Registry(t)
	refs := map[string]string{
		"registry":       testimage.Push(t, host, "waste:v1", img),
		"oci-layout":     "oci-layout://" + testimage.WriteLayout(t, img) + ":latest",
		"docker-archive": "docker-archive://" + testimage.WriteDockerArchive(t, img, "waste:v1"),
	}
	var first *extract.Report
	for kind, ref := range refs {
		code, stdout, stderr := slimCLI(t, "inspect", "--json", ref)
		if code != 0 {
			t.Fatalf("%s: slim inspect exited %d: %s", kind, code, stderr)
		}
		var rep extract.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("%s: decoding --json output: %v\n%s", kind, err, stdout)
		}
		if rep.Totals.Wasted != want {
			t.Errorf("%s: wasted = %d, want %d", kind, rep.Totals.Wasted, want)
		}
		if len(rep.Layers) != 2 || rep.Layers[0].Wasted != want || rep.Layers[1].Wasted != 0 {
			t.Errorf("%s: per-layer waste = %+v, want [%d 0]", kind, rep.Layers, want)
		}
		if first == nil {
			first = &rep
			continue
		}
		// The docker-archive holds the same layers but a Docker manifest, so only the
		// layer figures must agree across the kinds.
		for i := range rep.Layers {
			a, b := rep.Layers[i], first.Layers[i]
			if a.Size != b.Size || a.UncompressedSize != b.UncompressedSize || a.Entries != b.Entries || a.Wasted != b.Wasted || a.DiffID != b.DiffID {
				t.Errorf("%s: layer %d = %+v, differs from %+v", kind, i, a, b)
			}
		}
	}
}

func TestInspectTable(t *testing.T) {
	_, layers := wasteImage(t)
	img := testimage.Image(t, layers)
	ref := "oci-layout://" + testimage.WriteLayout(t, img)
	code, stdout, stderr := slimCLI(t, "inspect", "--largest", "2", ref)
	if code != 0 {
		t.Fatalf("slim inspect exited %d: %s", code, stderr)
	}
	// dive's score on this image is 458/1758 (worked out in imagefs' TestEfficiencyAsDive).
	for _, want := range []string{"Efficiency 26.05% as dive computes it", "1.6 kB hidden by later layers", "/etc/config", "total",
		"COUNT  TOTAL SPACE  PATH", "2       1.0 kB  /etc/config", "2        300 B  /tmp/junk"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
}

func TestInspectBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.tar")
	if err := os.WriteFile(garbage, []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown scheme", []string{"inspect", "ftp://x/y"}, "ftp"},
		{"missing layout", []string{"inspect", "oci-layout://" + filepath.Join(dir, "nope")}, "nope"},
		{"missing archive", []string{"inspect", "docker-archive://" + filepath.Join(dir, "nope.tar")}, "nope.tar"},
		{"not an archive", []string{"inspect", "docker-archive://" + garbage}, "garbage.tar"},
		{"no argument", []string{"inspect"}, "arg"},
		{"bad platform", []string{"inspect", "--platform", "a/b/c/d", "oci-layout://" + dir}, "platform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := slimCLI(t, tc.args...)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want one line mentioning %q", stderr, tc.want)
			}
		})
	}
}

// TestInspectDamagedLayers damages a layer blob inside an OCI layout the way disks and
// interrupted copies do; slim must name the layer in one line, never panic.
func TestInspectDamagedLayers(t *testing.T) {
	_, layers := wasteImage(t)
	img := testimage.Image(t, layers)
	l, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := l[1].Digest()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
		want   string
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, d.String()},
		{"corrupt gzip", func(b []byte) []byte {
			c := bytes.Clone(b)
			for i := 12; i < len(c)-8; i++ {
				c[i] ^= 0x5a
			}
			return c
		}, d.String()},
		{"digest mismatch", func(b []byte) []byte {
			c := bytes.Clone(b)
			c[len(c)-1] ^= 1 // the gzip trailer's size byte: still decodes up to the check
			return c
		}, d.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testimage.WriteLayout(t, img)
			blob := filepath.Join(dir, "blobs", d.Algorithm, d.Hex)
			b, err := os.ReadFile(blob)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(blob, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := slimCLI(t, "inspect", "--progress", "quiet", "oci-layout://"+dir)
			if code != 1 || stdout != "" {
				t.Errorf("exit status %d with output %q, want 1 and none", code, stdout)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want one line naming layer %s", stderr, tc.want)
			}
		})
	}
}

// TestInspectCI: dive's rules by dive's names, from flags and from .slim-ci.yaml in
// dive's .dive-ci form; a broken rule exits 3 and prints FAIL, the wasted files listed.
func TestInspectCI(t *testing.T) {
	ref := "oci-layout://" + testimage.WriteLayout(t, testimage.Image(t, testimage.WasteLayers()))
	var rep extract.Report
	if err := json.Unmarshal([]byte(slimOK(t, "inspect", "--json", ref)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Efficiency != 458.0/1758.0 || rep.Totals.WastedBytes != 1303 || rep.Totals.UserSize != 4 ||
		len(rep.WastedFiles) != 2 || rep.WastedFiles[0] != (extract.WastedFile{Path: "etc/config", Count: 2, Size: 1003}) {
		t.Errorf("inspect --json totals %+v, wasted files %+v", rep.Totals, rep.WastedFiles)
	}

	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		name, file string
		args       []string
		code       int
		want       []string
	}{
		{"dive's defaults", "", nil, 3, []string{"FAIL: lowestEfficiency", "SKIP: highestWastedBytes", "FAIL: highestUserWastedPercent", "Result: FAIL", "/etc/config"}},
		{"flags", "", []string{"--lowestEfficiency", "0.2", "--highestWastedBytes", "2kB", "--highestUserWastedPercent", "disabled"}, 0,
			[]string{"PASS: lowestEfficiency", "PASS: highestWastedBytes", "SKIP: highestUserWastedPercent", "Result: PASS"}},
		{"file", "rules:\n  lowestEfficiency: 0.2\n  highestWastedBytes: 1kb\n  highestUserWastedPercent: off\n  plugin1/rule1: error\n", nil, 3,
			[]string{"PASS: lowestEfficiency", "FAIL: highestWastedBytes: too many bytes wasted (wasted-bytes=1303 > threshold=1000)"}},
		{"flag over file", "rules:\n  lowest-efficiency: 0.99\n  highest-user-wasted-percent: off\n", []string{"--lowestEfficiency", "0.1"}, 0,
			[]string{"PASS: lowestEfficiency", "Result: PASS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(".slim-ci.yaml")
			if tc.file != "" {
				if err := os.WriteFile(".slim-ci.yaml", []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, stdout, stderr := slimCLI(t, append([]string{"inspect", "--ci", ref}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
	code, _, stderr := slimCLI(t, "inspect", "--ci", "--lowestEfficiency", "1.5", ref)
	if code != 1 || !strings.Contains(stderr, "lowestEfficiency") {
		t.Errorf("a ratio over 1: exit %d, %q", code, stderr)
	}
}
