package job

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/build"
)

func stream(s string) build.Stream {
	return build.Stream{Head: []byte(s), Size: int64(len(s)), Digest: sha256.Sum256([]byte(s))}
}

// fakeSide answers every run with out, and remembers the process it was given.
func fakeSide(out build.Output, got *build.Process) side {
	return side{config: v1.Config{Entrypoint: []string{"/ep"}, User: "app"}, run: func(_ context.Context, p build.Process, _ ...build.RunOption) (*build.Output, error) {
		*got = p
		o := out
		return &o, nil
	}}
}

// TestVerifierCheck: what must agree (exit status and stdout; stderr on request, a
// result killed at the time limit never agrees), what the report records, --force, and
// a source that does not end.
func TestVerifierCheck(t *testing.T) {
	ok := build.Output{Stdout: stream("hi\n"), Stderr: stream("note\n")}
	tests := []struct {
		name      string
		src, res  build.Output
		stderr    bool
		force     bool
		wantEqual bool
		wantErr   error
		wantWarn  bool
	}{
		{name: "same", src: ok, res: ok, wantEqual: true},
		{name: "stderr differs, not compared", src: ok, res: build.Output{Stdout: stream("hi\n"), Stderr: stream("other\n")}, wantEqual: true},
		{name: "stderr differs, compared", src: ok, res: build.Output{Stdout: stream("hi\n"), Stderr: stream("other\n")}, stderr: true, wantErr: ErrVerify},
		{name: "exit differs", src: ok, res: build.Output{ExitCode: 1, Stdout: stream("hi\n")}, wantErr: ErrVerify},
		{name: "stdout differs", src: ok, res: build.Output{Stdout: stream("ho\n")}, wantErr: ErrVerify},
		{name: "result timed out", src: ok, res: build.Output{ExitCode: 0, Stdout: stream("hi\n"), TimedOut: true}, wantErr: ErrVerify},
		{name: "forced", src: ok, res: build.Output{ExitCode: 127}, force: true, wantWarn: true},
		{name: "source timed out", src: build.Output{ExitCode: 137, TimedOut: true}, res: ok, wantErr: errors.New("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &warnings{w: io.Discard}
			vf := &verifier{v: Verify{Commands: [][]string{{"a", "b"}}, Stderr: tt.stderr}, force: tt.force, warnings: w, progress: io.Discard}
			var sp, rp build.Process
			r := &Report{}
			err := vf.check(context.Background(), io.Discard, "linux/amd64", fakeSide(tt.src, &sp), fakeSide(tt.res, &rp), r)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.wantErr == ErrVerify:
				var ve *VerifyError
				if !errors.Is(err, ErrVerify) || !errors.As(err, &ve) || ve.ExitCode() != 4 {
					t.Fatalf("error %v, want a *VerifyError (exit 4)", err)
				}
			case tt.wantErr != nil && (err == nil || errors.Is(err, ErrVerify)):
				t.Fatalf("error %v, want a failure of the verification itself", err)
			}
			if tt.wantErr != nil && tt.wantErr != ErrVerify {
				return
			}
			if strings.Join(sp.Args, " ") != "/ep a b" || sp.User != "app" {
				t.Errorf("process %+v, want the command after the entrypoint, as the image's user", sp)
			}
			if len(r.Verifications) != 1 || r.Verifications[0].Equal != tt.wantEqual || r.Verifications[0].Stderr != tt.stderr ||
				r.Verifications[0].ResultExitCode != tt.res.ExitCode {
				t.Errorf("report %+v, want equal=%t", r.Verifications, tt.wantEqual)
			}
			if (len(w.list) > 0) != tt.wantWarn {
				t.Errorf("warnings %q", w.list)
			}
			if (len(vf.diffs) > 0) == tt.wantEqual {
				t.Errorf("differences shown: %q", vf.diffs)
			}
		})
	}
}

// TestRender: side by side with each section beside its peer, one after the other
// when narrow, long lines wrapped.
func TestRender(t *testing.T) {
	src := outcome{build.Process{Args: []string{"/p"}}, &build.Output{Stdout: stream("one\ntwo\nthree\n")}}
	res := outcome{build.Process{Args: []string{"/p"}}, &build.Output{ExitCode: 1, Stderr: stream(strings.Repeat("x", 100) + "\n")}}
	wide := (&verifier{v: Verify{Width: 101}}).render([]string{"/p"}, "linux/amd64", src, res)
	lines := strings.Split(strings.TrimSpace(wide), "\n")
	var stderrRow int
	for i, l := range lines {
		if strings.HasPrefix(l, "source stderr") {
			stderrRow = i
			if !strings.Contains(l, "│ result stderr") {
				t.Errorf("stderr sections not side by side: %q", l)
			}
		}
		if i > 0 && len([]rune(l)) > 101 {
			t.Errorf("line wider than 101 columns: %q", l)
		}
	}
	xs := strings.Count(strings.Join(lines[1:], ""), "x") - 2 // the x of each "exit"
	if stderrRow == 0 || !strings.Contains(wide, "exit 1") || xs != 100 {
		t.Errorf("side by side:\n%s", wide)
	}
	narrow := (&verifier{v: Verify{Width: 60}}).render([]string{"/p"}, "linux/amd64", src, res)
	if strings.Contains(narrow, "│") || strings.Index(narrow, "source stderr") > strings.Index(narrow, "result: ") {
		t.Errorf("narrow: want the source's whole output, then the result's:\n%s", narrow)
	}
	if !bytes.Contains([]byte(narrow), []byte("  three")) {
		t.Errorf("narrow output lacks the source's stdout:\n%s", narrow)
	}
}
