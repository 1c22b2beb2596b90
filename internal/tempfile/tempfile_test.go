package tempfile

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestUnlinked(t *testing.T) {
	dir := t.TempDir()
	f, err := Unlinked(dir, "x-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the file still has a name: %v", left)
	}
	if _, err := f.WriteString("kept while open"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 100))
	if err != nil || string(b) != "kept while open" {
		t.Errorf("read back %q, %v", b, err)
	}
	if _, err := Unlinked(dir+"/missing", "x-*"); err == nil {
		t.Error("no error for a missing directory")
	}
}

// deadPID is the pid of a process that has exited (and been reaped).
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestOwner(t *testing.T) {
	f, err := Create(t.TempDir(), "out.tar")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	pid, start, ok := Owner(filepath.Base(f.Name()))
	if !ok || pid != os.Getpid() || (runtime.GOOS == "linux" && start == 0) {
		t.Errorf("Owner(%s) = %d, %d, %v; want this process", filepath.Base(f.Name()), pid, start, ok)
	}
	if !strings.HasSuffix(f.Name(), "-out.tar") {
		t.Errorf("%s does not say what it was for", f.Name())
	}
	for _, name := range []string{"slim-tmp-1-2-x", ".slim-tmp-x-2-y", ".slim-tmp-1-2", ".slim-tmp-0-1-x", "layout"} {
		if _, _, ok := Owner(name); ok {
			t.Errorf("Owner(%q) took it for slim's", name)
		}
	}
	if Dead(pid, start) {
		t.Error("this process counts as dead")
	}
	if !Dead(deadPID(t), 1) {
		t.Error("an exited process counts as alive")
	}
	if runtime.GOOS == "linux" && !Dead(pid, start+1) {
		t.Error("a reused pid (another start time) counts as the owner")
	}
}

// What a dead run left is removed, files and directories alike; a live run's
// temporary files and anything not slim's stay.
func TestRemoveDead(t *testing.T) {
	dir := t.TempDir()
	dead := fmt.Sprintf("%s%d-%d-123-layer", Prefix, deadPID(t), 1)
	deadDir := fmt.Sprintf("%s%d-%d-456-layout", Prefix, deadPID(t), 1)
	live, err := Create(dir, "out")
	if err != nil {
		t.Fatal(err)
	}
	live.Close()
	for _, p := range []string{dead, "keep.txt"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, deadDir, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	removed := RemoveDead(dir)
	slices.Sort(removed)
	if want := []string{dead, deadDir}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	ents, _ := os.ReadDir(dir)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if want := []string{filepath.Base(live.Name()), "keep.txt"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}

func TestWriteAtomic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "report.json")
	for _, s := range []string{"first", "second"} {
		if err := WriteAtomic(p, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != s {
			t.Errorf("read back %q, want %q", b, s)
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("left %v", ents)
	}
}
