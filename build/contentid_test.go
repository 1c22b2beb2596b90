package build

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
)

func defDigest(t *testing.T, st llb.State) digest.Digest {
	t.Helper()
	def, err := st.Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d, err := stableDefinitionDigest(def.Def)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A stage's definition digest ignores the session IDs that change every run, and
// nothing else.
func TestStableDefinitionDigest(t *testing.T) {
	stage := func(session, arg string, follow ...string) llb.State {
		ctx := llb.Local("context", llb.SessionID(session), llb.SharedKeyHint("context"), llb.FollowPaths(follow))
		base := llb.OCILayout("docker.io/library/busybox@sha256:"+digest.FromString("busybox").Encoded(), llb.OCIStore(session, "store"))
		return base.File(llb.Copy(ctx, "/main.go", "/src/")).
			Run(llb.Shlex("go build -o /app/server ."), llb.AddEnv("ARG", arg)).Root()
	}
	base := defDigest(t, stage("session-one", "a", "main.go"))
	if got := defDigest(t, stage("session-two", "a", "main.go")); got != base {
		t.Errorf("the same stage in another session: %s, want %s", got, base)
	}
	for name, st := range map[string]llb.State{
		"another build arg":   stage("session-one", "b", "main.go"),
		"other context paths": stage("session-one", "a", "main.go", "go.mod"),
		"one more step":       stage("session-one", "a", "main.go").File(llb.Mkdir("/x", 0o755)),
		"another base":        llb.Scratch().File(llb.Mkdir("/x", 0o755)),
	} {
		if got := defDigest(t, st); got == base {
			t.Errorf("%s: same digest %s as the first stage", name, got)
		}
	}
	if defDigest(t, llb.Scratch().File(llb.Mkdir("/x", 0o755))) == defDigest(t, llb.Scratch().File(llb.Mkdir("/y", 0o755))) {
		t.Error("two different mkdirs share a digest")
	}
}

func TestStageFSContentID(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string, mtime time.Time) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	ns := time.Unix(1_700_000_000, 123_456_789)
	write("bin", "binary", ns)
	write("whole", "normalised", time.Unix(1_700_000_000, 0))
	if err := os.Symlink("bin", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	stage := func(st llb.State) *StageFS {
		return newStageFS(t.Context(), Stage{Name: "s"}, "linux/amd64", &dirRef{root: root, state: st}, nil)
	}
	one := stage(llb.Scratch().File(llb.Mkdir("/one", 0o755)))
	id, ok := one.ContentID("bin")
	if !ok || id == "" {
		t.Fatalf("a file with a nanosecond mtime has no ID")
	}
	if got, ok := one.ContentID("link"); !ok || got != id {
		t.Errorf("through a symlink: %q %v, want the target's %q", got, ok, id)
	}
	for _, name := range []string{"whole", "dir", "missing"} {
		if got, ok := one.ContentID(name); ok {
			t.Errorf("%s has ID %q, want none", name, got)
		}
	}
	if got, _ := stage(llb.Scratch().File(llb.Mkdir("/two", 0o755))).ContentID("bin"); got == id {
		t.Error("the same file in a stage of another definition has the same ID")
	}
	// A rewrite of the same size shows in the mtime, and so in the ID.
	write("bin", "BINARY", ns.Add(time.Millisecond))
	if got, ok := stage(llb.Scratch().File(llb.Mkdir("/one", 0o755))).ContentID("bin"); !ok || got == id {
		t.Errorf("after a rewrite: %q %v, want a new ID", got, ok)
	}
}
