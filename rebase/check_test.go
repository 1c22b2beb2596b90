package rebase

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract/elfdeps"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/testimage"
)

// gccHello builds a C program dynamically linked against the host's glibc, and returns
// its path (absolute, on the host).
func gccHello(t *testing.T) string {
	t.Helper()
	return testimage.GCCBuild(t, "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n")
}

// hostClosure is what the host's loader needs to run bin, as image entries.
func hostClosure(t *testing.T, bin string) []testimage.Entry {
	t.Helper()
	r, err := elfdeps.New(os.DirFS("/"))
	if err != nil {
		t.Fatal(err)
	}
	deps, err := r.Closure(strings.TrimPrefix(bin, "/"))
	if err != nil {
		t.Fatalf("host closure of %s: %v", bin, err)
	}
	var out []testimage.Entry
	for _, d := range deps {
		if d.Symlink {
			target, err := os.Readlink("/" + d.Path)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, testimage.Symlink(d.Path, target))
			continue
		}
		b, err := os.ReadFile("/" + d.Path)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, testimage.Entry{Name: d.Path, Body: b, Mode: 0o755})
	}
	return out
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	hello := gccHello(t)
	helloBody, err := os.ReadFile(hello)
	if err != nil {
		t.Fatal(err)
	}
	helloEntry := testimage.Entry{Name: "app/hello", Body: helloBody, Mode: 0o755}
	libs := hostClosure(t, hello)

	passwd := testimage.File("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n")
	group := testimage.File("etc/group", "root:x:0:\nnonroot:x:65532:\n")
	script := testimage.File("app/server", "#!/bin/sh\nexec echo hi\n", 0o755)
	sh := testimage.File("bin/sh", "not elf, not a script", 0o755)
	entry := func(args ...string) testimage.Option {
		return testimage.WithConfig(func(c *v1.Config) { c.Entrypoint = args })
	}
	cfg := func(fn func(c *v1.Config)) testimage.Option { return testimage.WithConfig(fn) }

	tests := []struct {
		name     string
		entries  []testimage.Entry
		config   []testimage.Option
		opts     []CheckOption
		wantErr  bool
		wantMsgs []string
		wantWarn string
	}{
		{name: "gcc program with its libraries", entries: append([]testimage.Entry{helloEntry}, libs...), config: []testimage.Option{entry("/app/hello")}},
		{name: "gcc program without libc", entries: []testimage.Entry{helloEntry}, config: []testimage.Option{entry("/app/hello")},
			wantErr: true, wantMsgs: []string{"missing libc.so.6 needed by /app/hello", "--deps auto", "ld-linux"}},
		{name: "gcc program without libc, source named", entries: []testimage.Entry{helloEntry}, config: []testimage.Option{entry("/app/hello")},
			opts:    []CheckOption{WithSource("fat:latest", fatSource(t, append([]testimage.Entry{helloEntry}, libs...)))},
			wantErr: true, wantMsgs: []string{"add --from fat:latest:/", "libc.so.6, or use --deps auto"}},
		{name: "gcc program without libc, forced", entries: []testimage.Entry{helloEntry}, config: []testimage.Option{entry("/app/hello")},
			opts: []CheckOption{WithForce()}, wantWarn: "libc.so.6"},
		{name: "missing entrypoint", entries: []testimage.Entry{script, sh}, config: []testimage.Option{entry("/app/missing")},
			wantErr: true, wantMsgs: []string{"entrypoint /app/missing does not exist: add it with --from SRC:/app/missing"}},
		{name: "no entrypoint at all", entries: []testimage.Entry{script, sh},
			wantErr: true, wantMsgs: []string{"no entrypoint and no cmd"}},
		{name: "entrypoint through PATH", entries: []testimage.Entry{script, sh},
			config: []testimage.Option{cfg(func(c *v1.Config) { c.Env = []string{"PATH=/usr/bin:/app"}; c.Cmd = []string{"server", "-v"} })}},
		{name: "entrypoint not in PATH", entries: []testimage.Entry{script, sh},
			config:  []testimage.Option{cfg(func(c *v1.Config) { c.Env = []string{"PATH=/usr/bin"}; c.Cmd = []string{"server"} })},
			wantErr: true, wantMsgs: []string{`"server" is not in any PATH directory (/usr/bin)`}},
		{name: "entrypoint relative to workdir", entries: []testimage.Entry{script, sh},
			config: []testimage.Option{cfg(func(c *v1.Config) { c.WorkingDir = "/app"; c.Entrypoint = []string{"./server"} })}},
		{name: "entrypoint not executable", entries: []testimage.Entry{testimage.File("app/server", "#!/bin/sh\n", 0o644), sh}, config: []testimage.Option{entry("/app/server")},
			wantErr: true, wantMsgs: []string{"/app/server is not executable"}},
		{name: "entrypoint is a directory", entries: []testimage.Entry{testimage.Dir("app")}, config: []testimage.Option{entry("/app")},
			wantErr: true, wantMsgs: []string{"/app is a directory"}},
		{name: "script interpreter missing", entries: []testimage.Entry{script}, config: []testimage.Option{entry("/app/server")},
			wantErr: true, wantMsgs: []string{"missing script interpreter /bin/sh needed by /app/server"}},
		{name: "wrapped command missing", entries: []testimage.Entry{testimage.File("usr/bin/tini", "#!/bin/sh\n", 0o755), sh},
			config:  []testimage.Option{cfg(func(c *v1.Config) { c.Entrypoint = []string{"/usr/bin/tini", "--"}; c.Cmd = []string{"node", "app.js"} })},
			wantErr: true, wantMsgs: []string{`missing command "node" run by /usr/bin/tini`}},
		{name: "wrapped command present", entries: []testimage.Entry{testimage.File("usr/bin/tini", "#!/bin/sh\n", 0o755), sh, testimage.File("usr/bin/node", "#!/bin/sh\n", 0o755)},
			config: []testimage.Option{cfg(func(c *v1.Config) { c.Entrypoint = []string{"/usr/bin/tini", "--"}; c.Cmd = []string{"node", "app.js"} })}},
		{name: "healthcheck command missing", entries: []testimage.Entry{script, sh},
			config: []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) {
				c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "curl", "-f", "http://localhost/"}}
			})},
			wantErr: true, wantMsgs: []string{`healthcheck command "curl" is not in the image`, "reported unhealthy"}},
		{name: "healthcheck shell missing", entries: []testimage.Entry{helloEntry},
			config: []testimage.Option{entry("/app/hello"), cfg(func(c *v1.Config) {
				c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}}
			})},
			wantErr: true, wantMsgs: []string{`healthcheck command "/bin/sh" is not in the image`}},
		{name: "healthcheck command present", entries: []testimage.Entry{script, sh, testimage.File("usr/bin/curl", "#!/bin/sh\n", 0o755)},
			config: []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) {
				c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "curl", "-f", "http://localhost/"}}
			})}},
		{name: "healthcheck command missing, source named", entries: []testimage.Entry{script, sh},
			config:  []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) { c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "curl"}} })},
			opts:    []CheckOption{WithSource("fat:latest", fatSource(t, []testimage.Entry{script, sh, testimage.File("usr/bin/curl", "#!/bin/sh\n", 0o755)}))},
			wantErr: true, wantMsgs: []string{"add it with --from fat:latest:/usr/bin/curl"}},
		{name: "healthcheck command missing from the source too", entries: []testimage.Entry{script, sh},
			config:   []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) { c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "curl"}} })},
			opts:     []CheckOption{WithSource("fat:latest", fatSource(t, []testimage.Entry{script, sh}))},
			wantWarn: "(in the source too)"},
		{name: "healthcheck NONE", entries: []testimage.Entry{script, sh},
			config: []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) { c.Healthcheck = &v1.HealthConfig{Test: []string{"NONE"}} })}},
		{name: "entrypoint through a symlink", entries: []testimage.Entry{script, sh, testimage.Symlink("usr/local/bin/server", "/app/server")},
			config: []testimage.Option{cfg(func(c *v1.Config) { c.Cmd = []string{"server"} })}},
		{name: "named user present", entries: []testimage.Entry{script, sh, passwd, group},
			config: []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) { c.User = "nonroot:nonroot" })}},
		{name: "named user missing", entries: []testimage.Entry{script, sh, passwd, group},
			config:  []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) { c.User = "app" })},
			wantErr: true, wantMsgs: []string{`user "app" is not in /etc/passwd`}},
		{name: "named group missing", entries: []testimage.Entry{script, sh, passwd, group},
			config:  []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) { c.User = "nonroot:wheel" })},
			wantErr: true, wantMsgs: []string{`group "wheel" is not in /etc/group`}},
		{name: "named user without passwd", entries: []testimage.Entry{script, sh},
			config:  []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) { c.User = "nonroot" })},
			wantErr: true, wantMsgs: []string{"no /etc/passwd", "--base static"}},
		{name: "numeric user needs no passwd", entries: []testimage.Entry{script, sh},
			config: []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) { c.User = "65532:65532" })}},
		{name: "missing workdir only warns", entries: []testimage.Entry{script, sh},
			config:   []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) { c.WorkingDir = "/data" })},
			wantWarn: "working directory /data does not exist"},
		{name: "every problem listed", entries: []testimage.Entry{script},
			config:  []testimage.Option{entry("/app/server"), cfg(func(c *v1.Config) { c.User = "app" })},
			wantErr: true, wantMsgs: []string{"2 problems", "/bin/sh", `user "app"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := testimage.Image(t, [][]testimage.Entry{tt.entries}, tt.config...)
			var warnings []string
			opts := append([]CheckOption{WithWarn(func(s string) { warnings = append(warnings, s) })}, tt.opts...)
			err := Check(ctx, img, opts...)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
			} else {
				if !errors.Is(err, ErrCheck) {
					t.Fatalf("error %v, want ErrCheck", err)
				}
				var ce *CheckError
				if !errors.As(err, &ce) || len(ce.Problems) == 0 {
					t.Fatalf("error %v is not a *CheckError with problems", err)
				}
				for _, m := range tt.wantMsgs {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error does not say %q:\n%v", m, err)
					}
				}
				t.Logf("%v", err)
			}
			if tt.wantWarn != "" && !strings.Contains(strings.Join(warnings, "\n"), tt.wantWarn) {
				t.Errorf("warnings %q do not say %q", warnings, tt.wantWarn)
			}
		})
	}
}

// fatSource is the merged file system of a fat image holding hello and its libraries,
// as the source image of a slim run would be.
func fatSource(t *testing.T, entries []testimage.Entry) *imagefs.FS {
	t.Helper()
	fsys, err := imagefs.New(context.Background(), testimage.Image(t, [][]testimage.Entry{entries}))
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}
