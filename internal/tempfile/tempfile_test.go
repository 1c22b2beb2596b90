package tempfile

import (
	"io"
	"os"
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
