package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/tarball"
)

// textReader gives n bytes of pseudo-random words: compressible as text is (about 3:1),
// so that compressing takes its real time, and made at memory speed.
type textReader struct {
	r    *rand.Rand
	left int64
	buf  []byte
}

var words = strings.Fields("the quick brown fox jumps over lazy dogs while seven wizards box jolly kings of zinc quartz and lemon")

func (t *textReader) Read(p []byte) (int, error) {
	if t.left <= 0 {
		return 0, io.EOF
	}
	for len(t.buf) < len(p) && int64(len(t.buf)) < t.left {
		t.buf = append(t.buf, words[t.r.IntN(len(words))]...)
		t.buf = fmt.Appendf(t.buf, " %d\n"[:1+t.r.IntN(2)*3], t.r.IntN(1000))
	}
	n := copy(p, t.buf)
	n = int(min(int64(n), t.left))
	t.buf = t.buf[:copy(t.buf, t.buf[n:])]
	t.left -= int64(n)
	return n, nil
}

// fatImage is an image of layers×size bytes of text, one file per layer, and its
// oci-layout reference.
func fatImage(t *testing.T, layers int, size int64) string {
	t.Helper()
	var ls [][]tarball.Entry
	for i := range layers {
		seed := uint64(i)
		ls = append(ls, []tarball.Entry{{
			Header: &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("data/%d.txt", i), Mode: 0o644, Size: size},
			Open: func() (io.ReadCloser, error) {
				return io.NopCloser(&textReader{r: rand.New(rand.NewPCG(seed, 1)), left: size}), nil
			},
		}})
	}
	_, ref := hostImage(t, ls, func(c *v1.Config) {})
	return ref
}

// TestRecompressProgressPlain: with --progress plain every step of a recompress is a
// line, ended with its duration, and the report comes after the display.
func TestRecompressProgressPlain(t *testing.T) {
	ref := fatImage(t, 3, 2<<20)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := slimCLI(t, "recompress", ref, "--compression-level", "1", "--progress", "plain", "-o", out)
	if code != 0 {
		t.Fatalf("recompress: %d\n%s", code, stderr)
	}
	for _, step := range []string{"reading layer 1 of 3 sha256:", "reading layer 2 of 3", "reading layer 3 of 3",
		"packing layer 1 of 3 (gzip)", "packing layer 2 of 3 (gzip)", "packing layer 3 of 3 (gzip)", "writing oci layout " + out} {
		re := regexp.MustCompile(`(?m)^#(\d+) ` + regexp.QuoteMeta(step))
		m := re.FindStringSubmatch(stderr)
		if m == nil {
			t.Errorf("no step line %q in:\n%s", step, stderr)
			continue
		}
		if !regexp.MustCompile(`(?m)^#` + m[1] + ` DONE \d+\.\ds$`).MatchString(stderr) {
			t.Errorf("step %q (#%s) has no DONE line with its duration:\n%s", step, m[1], stderr)
		}
	}
	if !regexp.MustCompile(`(?m)^#\d+ read \d`).MatchString(stderr) || !regexp.MustCompile(`(?m)^#\d+ gzip out \d`).MatchString(stderr) {
		t.Errorf("no byte counts (read, gzip out) in:\n%s", stderr)
	}
	if !strings.Contains(stdout, "smaller compressed") || strings.Contains(stderr, "smaller compressed") {
		t.Errorf("the report is not on stdout after the display:\n%s", stdout)
	}

	// BUILDKIT_PROGRESS is the default, as in buildx; the flag wins over it.
	t.Setenv("BUILDKIT_PROGRESS", "quiet")
	if _, _, stderr := slimCLI(t, "recompress", ref, "--compression-level", "1", "-o", filepath.Join(t.TempDir(), "q")); strings.Contains(stderr, "#1 ") {
		t.Errorf("BUILDKIT_PROGRESS=quiet still drew:\n%s", stderr)
	}
	if _, _, stderr := slimCLI(t, "recompress", ref, "--compression-level", "1", "--progress", "plain", "-o", filepath.Join(t.TempDir(), "p")); !strings.Contains(stderr, "#1 ") {
		t.Errorf("--progress plain did not win over BUILDKIT_PROGRESS:\n%s", stderr)
	}
	t.Setenv("BUILDKIT_PROGRESS", "fancy")
	if code, _, stderr := slimCLI(t, "recompress", ref, "-o", filepath.Join(t.TempDir(), "f")); code == 0 || !strings.Contains(stderr, `BUILDKIT_PROGRESS "fancy"`) {
		t.Errorf("a bad BUILDKIT_PROGRESS: %d %q", code, stderr)
	}
}

// TestRecompressProgressLive drives a recompress of a 200 MB image in a 160-column
// tmux pane, as a person sees it: the display is up within a second, and the screen
// changes at least every second until the report.
func TestRecompressProgressLive(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: recompresses 200 MB")
	}
	if raceEnabled {
		// make test runs it in its invocation without -race (NORACE_TESTS): under the race
		// detector the encoder's range checks stall every goroutine for a second, which
		// no user sees.
		t.Skip("-race: make test and CI run it in their invocation without the race detector (NORACE_TESTS)")
	}
	tmux := testimage.NeedTool(t, "tmux") // make deps installs it; under CI=true its absence fails
	ref := fatImage(t, 4, 50<<20)
	out := filepath.Join(t.TempDir(), "out")
	sock := fmt.Sprintf("slim-test-%d", os.Getpid())
	tm := func(args ...string) string {
		b, err := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	// zstd at its best level: gzip best takes klauspost's fast level 9 for text, which
	// recompresses this image in under 2 s, too quick to watch.
	script := fmt.Sprintf("%s=1 %s recompress %s --compression zstd --compression-level best -o %s; echo SLIM-EXIT=$?; sleep 600",
		asSlimEnv, os.Args[0], ref, out)
	start := time.Now()
	tm("new-session", "-d", "-s", "slim", "-x", "160", "-y", "50", "-e", "TERM=xterm-256color", "sh", "-c", script)
	t.Cleanup(func() { exec.Command(tmux, "-L", sock, "kill-server").Run() })

	var screens []string
	var times []time.Duration
	shown := time.Duration(-1)
	for time.Since(start) < 3*time.Minute {
		s := tm("capture-pane", "-p", "-t", "slim")
		now := time.Since(start)
		if shown < 0 && strings.Contains(s, "reading layer") {
			shown = now
		}
		if len(screens) == 0 || s != screens[len(screens)-1] {
			screens, times = append(screens, s), append(times, now)
		}
		if strings.Contains(s, "SLIM-EXIT=") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	last := screens[len(screens)-1]
	if !strings.Contains(last, "SLIM-EXIT=0") {
		t.Fatalf("recompress did not end well:\n%s", last)
	}
	if shown < 0 || shown > time.Second {
		t.Errorf("the display was up after %s, want within 1s", shown)
	}
	// From the display's first frame to its last (FINISHED: what follows is the report),
	// no second without a change.
	for i := 1; i < len(times); i++ {
		if gap := times[i] - times[i-1]; gap > time.Second && times[i-1] >= shown && !strings.Contains(screens[i-1], "FINISHED") {
			t.Errorf("the screen did not change for %s (from %s):\n%s", gap, times[i-1], screens[i-1])
		}
	}
	total := times[len(times)-1]
	if total < 2*time.Second {
		t.Errorf("recompress took %s: too quick to show the display working", total)
	}
	if !strings.Contains(last, "packing layer 4 of 4") || !bytes.Contains([]byte(last), []byte("smaller compressed")) ||
		strings.Index(last, "packing layer") > strings.Index(last, "smaller compressed") {
		t.Errorf("the last screen does not show the steps, then the report:\n%s", last)
	}
	t.Logf("%d distinct screens in %s, display up after %s", len(screens), total, shown)
}

// TestSlimProgressPlain: the main command on an image shows every step of its work in
// plain mode (before, one line at the start and nothing until the end), and -q prints
// the digest alone.
func TestSlimProgressPlain(t *testing.T) {
	ref := fatImage(t, 2, 1<<20)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := slimCLI(t, "--from", ref+":/data/1.txt", "--force", "--progress", "plain", "-o", out)
	if code != 0 {
		t.Fatalf("slim: %d\n%s", code, stderr)
	}
	for _, step := range []string{"[slim] resolving base scratch", "[slim] reading " + ref, "reading layer 1 of 2", "reading layer 2 of 2",
		"packing the new layer (gzip)", "writing oci layout " + out} {
		if !regexp.MustCompile(`(?m)^#\d+ ` + regexp.QuoteMeta(step)).MatchString(stderr) {
			t.Errorf("no step %q in:\n%s", step, stderr)
		}
	}
	if !strings.Contains(stdout, "Files taken (2)") {
		t.Errorf("no report on stdout:\n%s", stdout)
	}

	q := filepath.Join(t.TempDir(), "q")
	code, stdout, stderr = slimCLI(t, "--from", ref+":/data/1.txt", "--force", "-q", "-o", q)
	if code != 0 || strings.Contains(stderr, "#1") {
		t.Fatalf("-q: exit %d, stderr %q", code, stderr)
	}
	// -q prints what was written: the index of the image and its default attestations.
	qi, err := layout.ImageIndexFromPath(q)
	if err != nil {
		t.Fatal(err)
	}
	qm, err := qi.IndexManifest()
	if err != nil || len(qm.Manifests) != 1 {
		t.Fatalf("-q layout: %v, %+v", err, qm)
	}
	d := qm.Manifests[0].Digest
	if stdout != d.String()+"\n" {
		t.Errorf("-q printed %q, want the digest written, %s", stdout, d)
	}
	code, stdout, _ = slimCLI(t, "recompress", "-q", ref, "-o", filepath.Join(t.TempDir(), "r"))
	if code != 0 || !regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(stdout) {
		t.Errorf("recompress -q: exit %d, stdout %q; want the digest alone", code, stdout)
	}
}

// TestDebugShowsTheChain: --debug prints the error's whole chain, not one line.
func TestDebugShowsTheChain(t *testing.T) {
	missing := "oci-layout://" + filepath.Join(t.TempDir(), "none")
	_, _, plain := slimCLI(t, "inspect", missing)
	_, _, debug := slimCLI(t, "inspect", "--debug", missing)
	if strings.Contains(plain, "caused by") || !strings.Contains(debug, "caused by") || strings.Count(debug, "\n") < 2 {
		t.Errorf("without --debug %q; with it %q: want the chain only with --debug", plain, debug)
	}
}

// TestBuildProgressWritesAndPushes: with a Dockerfile, the outputs are written and pushed
// under the build's display, as steps with their bytes, not silently after it ended.
func TestBuildProgressWritesAndPushes(t *testing.T) {
	needBuildkit(t)
	dir := project(t, map[string]string{"Dockerfile": "FROM busybox AS b\nRUN head -c 300000 /dev/urandom > /blob\n"})
	out := filepath.Join(t.TempDir(), "out")
	pushed := testimage.Registry(t) + "/app:v1"
	code, _, stderr := slimCLI(t, append(buildArgs("--from", "b:/blob", "--force", "--progress", "plain", "--sbom=false", "--provenance=false",
		"-t", pushed, "--push", "-o", "type=oci,dest="+out), dir)...)
	if code != 0 {
		t.Fatalf("slim: %d\n%s", code, stderr)
	}
	for _, re := range []string{
		`(?m)^#(\d+) writing oci layout ` + regexp.QuoteMeta(out) + `$`,
		`(?m)^#(\d+) writing registry ` + regexp.QuoteMeta(pushed) + `$`,
	} {
		m := regexp.MustCompile(re).FindStringSubmatch(stderr)
		if m == nil {
			t.Errorf("no step %s in:\n%s", re, stderr)
			continue
		}
		if !regexp.MustCompile(`(?m)^#` + m[1] + ` DONE `).MatchString(stderr) {
			t.Errorf("step #%s is not shown done:\n%s", m[1], stderr)
		}
	}
	// The push's bytes: the blob is 300 kB, so the push step shows at least that much sent.
	sent := regexp.MustCompile(`(?m)^#\d+ push ` + regexp.QuoteMeta(strings.TrimSuffix(pushed, ":v1")) + ` ([0-9.]+)kB / ([0-9.]+)kB`).FindStringSubmatch(stderr)
	if sent == nil || sent[1] != sent[2] {
		t.Fatalf("no push progress with all bytes sent in:\n%s", stderr)
	}
	if kb, err := strconv.ParseFloat(sent[2], 64); err != nil || kb < 300 {
		t.Errorf("push sent %s kB (%v), want the 300 kB blob at least", sent[2], err)
	}
}
