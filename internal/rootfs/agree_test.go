package rootfs_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/extract/elfdeps"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/rootfs"
	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/rebase"
)

// TestPathUsersAgree drives the three places that find a program through PATH over the
// same table and checks they pick the same file: Dockerfile auto mode
// (build.EntrypointPath), the
// fidelity check (rebase.Check on an image whose entrypoint is the program) and elfdeps
// (the closure of a "#!/usr/bin/env PROG" script). Each answer is reduced to "run FILE",
// "not executable FILE" or "not found".
func TestPathUsersAgree(t *testing.T) {
	ctx := context.Background()
	for _, tt := range pathCases() {
		t.Run(tt.name, func(t *testing.T) {
			want := outcome(tt.want, tt.wantErr)
			entries := append([]testimage.Entry{
				testimage.Dir("app"),
				testimage.File("usr/bin/env", "env is only run here, not read", 0o755),
				testimage.File("app/run", "#!/usr/bin/env "+tt.prog+"\n", 0o755),
			}, tt.entries...)
			img := testimage.Image(t, [][]testimage.Entry{entries}, testimage.WithConfig(func(c *v1.Config) {
				c.Entrypoint = []string{tt.prog}
				c.Env = tt.env()
				c.WorkingDir = tt.workdir
			}))
			fsys, err := imagefs.New(ctx, img)
			if err != nil {
				t.Fatal(err)
			}
			defer fsys.Close()

			// Auto mode takes what the runtime would run, or refuse (the check then
			// says why).
			got := build.EntrypointPath(fsys, &v1.ConfigFile{Config: v1.Config{Entrypoint: []string{tt.prog}, Env: tt.env(), WorkingDir: tt.workdir}})
			if w, ok := autoWant(tt.prog, want); ok && autoOutcome(got) != w {
				t.Errorf("auto mode (build.EntrypointPath): %s, want %s", autoOutcome(got), w)
			}

			// The fidelity check.
			var ce *rebase.CheckError
			if err := rebase.Check(ctx, img); !errors.As(err, &ce) {
				t.Errorf("rebase.Check: %v, want a *CheckError naming the file", err)
			} else if o := checkReply.outcome(ce.Problems); o != want {
				t.Errorf("rebase.Check: %s, want %s (problems %q)", o, want, ce.Problems)
			}

			// elfdeps, as --deps runs it on a script.
			opts := []elfdeps.Option{elfdeps.WithWorkdir(tt.workdir)}
			if !tt.unset {
				opts = append(opts, elfdeps.WithPath(tt.path))
			}
			missing, err := elfdeps.Unresolved(fsys, "app/run", opts...)
			if err != nil {
				t.Fatalf("elfdeps.Unresolved: %v", err)
			}
			if o := elfdepsReply.outcome(missing); o != want {
				t.Errorf("elfdeps: %s, want %s (missing %q)", o, want, missing)
			}
		})
	}
}

// autoWant is what auto mode must take when the runtime's outcome is want: the file
// it runs or refuses. A missing name with a slash is taken as it is, so that taking
// it fails naming it; the other users say "not found", which auto mode leaves to them.
func autoWant(prog, want string) (string, bool) {
	for _, p := range []string{"run ", "not executable "} {
		if f, ok := strings.CutPrefix(want, p); ok {
			return "take " + f, true
		}
	}
	return want, !strings.Contains(prog, "/")
}

func autoOutcome(file string) string {
	if file == "" {
		return "not found"
	}
	return "take " + file
}

func outcome(file string, err error) string {
	switch {
	case err == nil:
		return "run " + file
	case errors.Is(err, rootfs.ErrNotExecutable):
		return "not executable " + file
	case errors.Is(err, rootfs.ErrNotFound):
		return "not found"
	}
	return "error " + err.Error()
}

// reply recognises one user's reports: which file it runs, which it refuses, or that it
// found nothing. run captures the file without its leading slash.
type reply struct{ run, denied, missing *regexp.Regexp }

var (
	checkReply = reply{
		run:     regexp.MustCompile(`^missing script interpreter /missing/interp needed by /(\S+):`),
		denied:  regexp.MustCompile(`^entrypoint (\S+) is not executable`),
		missing: regexp.MustCompile(`^entrypoint (\S+ does not exist|"[^"]*" is not in any PATH directory)`),
	}
	elfdepsReply = reply{
		run:     regexp.MustCompile(`^script interpreter /missing/interp of (\S+)$`),
		denied:  regexp.MustCompile(`^program \S+ run by env of app/run \((\S+) is not executable\)$`),
		missing: regexp.MustCompile(`^program \S+ run by env of app/run$`),
	}
)

func (r reply) outcome(reports []string) string {
	for _, p := range reports {
		if m := r.run.FindStringSubmatch(p); m != nil {
			return "run /" + m[1]
		}
		if m := r.denied.FindStringSubmatch(p); m != nil {
			return "not executable " + m[1]
		}
		if r.missing.MatchString(p) {
			return "not found"
		}
	}
	return "unrecognised"
}
