package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// TestIIDFileAndMetadata: --iidfile and --metadata-file as buildx writes them, on the
// main command and on recompress and rebase, agree with the image written.
func TestIIDFileAndMetadata(t *testing.T) {
	needRoot(t)
	_, ref := hostImage(t, [][]tarball.Entry{hostEntries(t, "bin/busybox=/bin/busybox")}, func(c *v1.Config) { c.Entrypoint = []string{"/bin/busybox"} })
	for _, tc := range []struct {
		name string
		args []string
	}{
		// A single image (its ID is its config digest) that umoci unpacks (see unpack).
		{"slim", []string{"--from", ref + ":/bin/busybox", "--base", "static", "--entrypoint", "/bin/busybox", "--sbom=false", "--provenance=false"}},
		{"recompress", []string{"recompress", ref}},
		{"rebase", []string{"rebase", ref, "--old-base", "scratch", "--base", "static"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out, iid, meta := filepath.Join(dir, "out"), filepath.Join(dir, "iid"), filepath.Join(dir, "meta.json")
			slimOK(t, append(tc.args, "-t", "ci:one", "-o", "type=oci,dest="+out, "--iidfile", iid, "--metadata-file", meta)...)
			img := layoutImage(t, out)
			cfgDigest, err := img.ConfigName()
			if err != nil {
				t.Fatal(err)
			}
			d, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(iid); err != nil || string(b) != cfgDigest.String() {
				t.Errorf("--iidfile holds %q (%v), want the config digest %s", b, err, cfgDigest)
			}
			b, err := os.ReadFile(meta)
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				Digest     string `json:"containerimage.digest"`
				Config     string `json:"containerimage.config.digest"`
				Name       string `json:"image.name"`
				Descriptor struct {
					MediaType string `json:"mediaType"`
					Digest    string `json:"digest"`
					Size      int64  `json:"size"`
				} `json:"containerimage.descriptor"`
			}
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			mt, _ := img.MediaType()
			if m.Digest != d.String() || m.Config != cfgDigest.String() || m.Name != "ci:one" ||
				m.Descriptor.Digest != d.String() || m.Descriptor.MediaType != string(mt) || m.Descriptor.Size == 0 {
				t.Errorf("--metadata-file %s: want digest %s, config %s, the tag", b, d, cfgDigest)
			}
			if tc.name == "slim" {
				if got := testimage.Chroot(t, unpack(t, out, "one"), "", nil, "/bin/busybox", "echo", "ok"); strings.TrimSpace(got) != "ok" {
					t.Errorf("the result printed %q", got)
				}
			}
		})
	}
}

// TestFlagValueCompletion: the shell completion of --base, --compression and --progress
// offers their values, through cobra's __complete as a shell calls it.
func TestFlagValueCompletion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "--base", ""}, []string{"scratch", "static", "alpine", "distroless/cc"}},
		{[]string{"__complete", "--base", "dis"}, []string{"distroless", "distroless/static"}},
		{[]string{"__complete", "recompress", "--compression", ""}, []string{"gzip", "zstd", "uncompressed"}},
		{[]string{"__complete", "build", "--progress", ""}, []string{"auto", "tty", "plain", "quiet", "rawjson"}},
		{[]string{"__complete", "rebase", "--base", "st"}, []string{"static"}},
	} {
		code, stdout, stderr := slimCLI(t, tc.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		for _, w := range tc.want {
			if !slices.Contains(lines, w) {
				t.Errorf("%v offers %q, want %q among them", tc.args, lines, w)
			}
		}
		if got := lines[len(lines)-1]; got != ":4" { // ShellCompDirectiveNoFileComp
			t.Errorf("%v: directive %q, want :4 (no file names)", tc.args, got)
		}
	}
}

// TestBuildIIDFile: slim build writes --iidfile and --metadata-file for the one stage it
// writes, as buildx build does; with several stages it refuses before building.
func TestBuildIIDFile(t *testing.T) {
	needBuildkit(t)
	dir := project(t, map[string]string{"Dockerfile": "FROM busybox AS b\nRUN echo built > /x\nFROM b AS c\n"})
	out, iid, meta := filepath.Join(t.TempDir(), "stages"), filepath.Join(t.TempDir(), "iid"), filepath.Join(t.TempDir(), "meta.json")
	slimOK(t, append([]string{"build"}, buildArgs("--target", "b", "-o", out, "--iidfile", iid, "--metadata-file", meta, dir)...)...)
	img := layoutImage(t, filepath.Join(out, "b"))
	cfgDigest, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(iid); err != nil || string(b) != cfgDigest.String() {
		t.Errorf("--iidfile holds %q (%v), want the stage's config digest %s", b, err, cfgDigest)
	}
	var m struct {
		Digest string `json:"containerimage.digest"`
		Config string `json:"containerimage.config.digest"`
	}
	if b, err := os.ReadFile(meta); err != nil || json.Unmarshal(b, &m) != nil || m.Digest != d.String() || m.Config != cfgDigest.String() {
		t.Errorf("--metadata-file %+v (%v), want digest %s and config %s", m, err, d, cfgDigest)
	}
	code, _, stderr := slimCLI(t, append([]string{"build"}, buildArgs("--all-stages", "-o", out, "--iidfile", iid, dir)...)...)
	if code == 0 || !strings.Contains(stderr, "--iidfile and --metadata-file name one image") {
		t.Errorf("--iidfile with --all-stages: exit %d, want a refusal:\n%s", code, stderr)
	}
}
