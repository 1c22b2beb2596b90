//go:build linux && (amd64 || arm64)

package tracer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slim-dev/slim/internal/testimage"
)

// The helper the tracer starts is this test binary again.
func TestMain(m *testing.M) {
	Invoked(os.Args)
	os.Exit(m.Run())
}

// trace runs argv under the tracer and returns what it touched (Touched) by path,
// every record, the exit status and the command's output.
func trace(t testing.TB, argv []string, opts ...Option) (map[string]Kind, []Record, int, string) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var recs []Record
	code, err := Run(argv, func(r Record) { recs = append(recs, r) }, append(opts, WithFiles(nil, out, out))...)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out.Name())
	got := map[string]Kind{}
	for _, r := range Touched(recs) {
		got[r.Path] = r.Kind
	}
	return got, recs, code, string(b)
}

func real(t testing.TB, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		testimage.Missing(t, "host program %s: %v", p, err)
	}
	return r
}

func TestTraceShell(t *testing.T) {
	for _, seccomp := range []bool{true, false} {
		t.Run(fmt.Sprintf("seccomp=%t", seccomp), func(t *testing.T) {
			var opts []Option
			if !seccomp {
				opts = append(opts, WithoutSeccomp())
			}
			created := filepath.Join(t.TempDir(), "created")
			script := "cat /etc/hostname; ls /usr/share >/dev/null; /bin/true; echo x > " + created + "; cat " + created
			got, recs, code, out := trace(t, []string{"/bin/sh", "-c", script}, opts...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, out)
			}
			want := map[string]Kind{
				"/bin/sh": Executed, real(t, "/bin/sh"): Executed, "/bin/true": Executed, real(t, "/bin/true"): Executed,
				real(t, "/usr/bin/cat"): Executed, "/etc/hostname": Opened, "/usr/share": Listed,
			}
			for p, k := range want {
				if got[p] != k {
					t.Errorf("%s: %q, want %q", p, got[p], k)
				}
			}
			listed, libc, loader := false, false, false
			for _, r := range recs {
				listed = listed || r.Path == "/usr/share" && r.Kind == Listed
				libc = libc || strings.HasSuffix(r.Path, "/libc.so.6") && r.Kind == Opened
				loader = loader || strings.Contains(r.Path, "/ld-linux") && r.Kind == Executed
			}
			if !listed || !libc || !loader {
				t.Errorf("listed /usr/share %t, opened libc %t, executed the loader %t; records:\n%v", listed, libc, loader, recs)
			}
			for p := range got {
				if p == created || strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/dev/") {
					t.Errorf("%s taken: the run wrote it, or it is the kernel's", p)
				}
			}
		})
	}
}

// A dynamic C program with a thread that opens a file and a child process: the
// program, its loader and libraries, and what the thread and the child touched.
func TestTraceDynamicC(t *testing.T) {
	prog := testimage.GCCBuild(t, `#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>
static void *reader(void *arg) { FILE *f = fopen((char *)arg, "r"); if (f) fclose(f); return NULL; }
int main(int argc, char **argv) {
	pthread_t th;
	pthread_create(&th, NULL, reader, argv[1]);
	pthread_join(th, NULL);
	if (fork() == 0) { execl("/bin/true", "true", (char *)NULL); _exit(127); }
	wait(NULL);
	printf("done\n");
	return 0;
}
`)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(data, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, recs, code, out := trace(t, []string{prog, data})
	if code != 0 || out != "done\n" {
		t.Fatalf("exit %d: %q", code, out)
	}
	for p, k := range map[string]Kind{prog: Executed, data: Opened, "/bin/true": Executed} {
		if got[p] != k {
			t.Errorf("%s: %q, want %q", p, got[p], k)
		}
	}
	var libc, mapped bool
	for _, r := range recs {
		libc = libc || strings.HasSuffix(r.Path, "/libc.so.6") && r.Kind == Opened
		mapped = mapped || strings.Contains(r.Path, "libc.so.6") && r.Kind == Mapped
	}
	if !libc || !mapped {
		t.Errorf("libc opened %t, mapped %t: %v", libc, mapped, recs)
	}
}

func TestTraceExitStatus(t *testing.T) {
	for _, tt := range []struct {
		script string
		want   int
	}{{"exit 3", 3}, {"kill -9 $$", 128 + 9}, {"true", 0}} {
		if _, _, code, out := trace(t, []string{"/bin/sh", "-c", tt.script}); code != tt.want {
			t.Errorf("%q: exit %d, want %d: %s", tt.script, code, tt.want, out)
		}
	}
	if _, _, code, _ := trace(t, []string{"no-such-program-here"}); code != 127 {
		t.Errorf("a missing program: exit %d, want 127", code)
	}
}

func TestTouched(t *testing.T) {
	in := []Record{
		{Path: "/etc/a", Kind: Stated}, {Path: "/etc/a", Kind: Opened}, {Path: "/proc/self/maps", Kind: Opened},
		{Path: "/dev/null", Kind: Opened}, {Path: "/sys", Kind: Listed}, {Path: "/tmp/x", Kind: Stated},
		{Path: "/tmp/x", Kind: Written}, {Path: "/devices", Kind: Opened},
	}
	got := Touched(in)
	want := []Record{{Path: "/etc/a", Kind: Opened}, {Path: "/devices", Kind: Opened}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Touched = %v, want %v", got, want)
	}
}

// BenchmarkTraceOverhead is the tracer's cost on a command that opens many files:
// the time of a traced run over a plain one, in sum ("x") and of the fastest run of
// each ("min-x", which a busy machine disturbs least), and the tracer's own CPU time
// per traced run ("tracer-ms", user and system).
func BenchmarkTraceOverhead(b *testing.B) {
	argv := []string{"/bin/sh", "-c", "find /usr -type f 2>/dev/null | head -2000 | xargs cat >/dev/null"}
	var plain, traced time.Duration
	minPlain, minTraced := time.Duration(1<<62), time.Duration(1<<62)
	var cpu time.Duration
	for b.Loop() {
		start := time.Now()
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		d := time.Since(start)
		plain, minPlain = plain+d, min(minPlain, d)
		start, before := time.Now(), selfCPU(b)
		trace(b, argv)
		d = time.Since(start)
		cpu += selfCPU(b) - before
		traced, minTraced = traced+d, min(minTraced, d)
	}
	b.ReportMetric(float64(traced)/float64(plain), "x")
	b.ReportMetric(float64(minTraced)/float64(minPlain), "min-x")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "tracer-ms")
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
