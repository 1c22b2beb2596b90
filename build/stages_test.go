package build

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const graphDockerfile = `# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS Builder
RUN echo hi > /a
COPY --from=tools /x /y /opt/
CMD echo built

FROM busybox
RUN true

FROM --platform=linux/amd64 builder AS final
COPY --from=builder /a /a
COPY --from=1 /b \
     /b
COPY local /c
SHELL ["/bin/ash", "-e", "-c"]
ENTRYPOINT run --fast
`

func TestParseStages(t *testing.T) {
	stages, err := ParseStages([]byte(graphDockerfile))
	if err != nil {
		t.Fatal(err)
	}
	want := []Stage{
		{Name: "builder", Index: 0, BaseName: "busybox", Line: 3, fromEnd: 2, // ${BASE}, the global ARG's default
			CopyFrom: []CopyEdge{{From: "tools", Src: []string{"/x", "/y"}, Dest: "/opt/", Line: 5}},
			Cmd:      []string{"/bin/sh", "-c", "echo built"}, Runs: []int{4}},
		{Index: 1, BaseName: "busybox", Line: 8, fromEnd: 7, Runs: []int{9}},
		{Name: "final", Index: 2, BaseName: "builder", Platform: "linux/amd64", Line: 11, fromEnd: 10,
			CopyFrom: []CopyEdge{
				{From: "builder", Src: []string{"/a"}, Dest: "/a", Line: 12},
				{From: "1", Src: []string{"/b"}, Dest: "/b", Line: 13},
			},
			Context:    []CopyEdge{{Src: []string{"local"}, Dest: "/c", Line: 15}},
			Entrypoint: []string{"/bin/ash", "-e", "-c", "run --fast"}},
	}
	if !reflect.DeepEqual(stages, want) {
		t.Fatalf("stages:\n got %+v\nwant %+v", stages, want)
	}
}

// TestParseStagesHeredoc: a COPY or ADD of here-documents names them, so that auto
// mode takes the files they wrote.
func TestParseStagesHeredoc(t *testing.T) {
	stages, err := ParseStages([]byte("FROM scratch\nCOPY <<EOF /etc/app.conf\nport=8080\nEOF\nADD <<A <<B conf/\na\nA\nb\nB\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []CopyEdge{
		{Inline: []string{"EOF"}, Dest: "/etc/app.conf", Line: 2},
		{Inline: []string{"A", "B"}, Dest: "conf/", Add: true, Line: 5},
	}
	if len(stages) != 1 || !reflect.DeepEqual(stages[0].Context, want) {
		t.Fatalf("stages %+v; want the context edges %+v", stages, want)
	}
}

func TestParseStagesExecForm(t *testing.T) {
	stages, err := ParseStages([]byte("FROM scratch\nENTRYPOINT [\"/app\", \"-v\"]\nCMD []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := stages[0].Entrypoint; !reflect.DeepEqual(got, []string{"/app", "-v"}) {
		t.Errorf("entrypoint = %q", got)
	}
	if got := stages[0].Cmd; got == nil || len(got) != 0 {
		t.Errorf("cmd = %#v, want empty non-nil", got)
	}
}

func TestParseStagesErrors(t *testing.T) {
	for _, df := range []string{"", "RUN true\n", "FROM\n", "FROM a\nCOPY --from=\n"} {
		if _, err := ParseStages([]byte(df)); err == nil {
			t.Errorf("ParseStages(%q): no error", df)
		}
	}
}

func TestResolveStage(t *testing.T) {
	stages, err := ParseStages([]byte(graphDockerfile))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		src    string
		want   int
		wantOK bool
	}{
		{"builder", 0, true},
		{"BUILDER", 0, true},
		{"Builder", 0, true},
		{"0", 0, true},
		{"1", 1, true},
		{"final", 2, true},
		{"2", 2, true},
		{"3", 0, false},
		{"-1", 0, false},
		{"01", 0, false},
		{"busybox", 0, false},
		{"golang:1.21", 0, false},
	} {
		s, ok := ResolveStage(stages, tt.src)
		if ok != tt.wantOK || (ok && s.Index != tt.want) {
			t.Errorf("ResolveStage(%q) = %d, %v; want %d, %v", tt.src, s.Index, ok, tt.want, tt.wantOK)
		}
	}
	_, err = LookupStage(stages, "nope")
	if !errors.Is(err, ErrNoStage) {
		t.Fatalf("LookupStage(nope) = %v, want ErrNoStage", err)
	}
	for _, s := range []string{`"nope"`, "0 builder", "1", "2 final"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestNameUnnamedStages(t *testing.T) {
	df := "FROM a\nFROM \\\n  b\r\nFROM c AS slim-stage-2\nFROM d\n"
	stages, err := ParseStages([]byte(df))
	if err != nil {
		t.Fatal(err)
	}
	out, names, err := nameUnnamedStages([]byte(df), stages, map[int]bool{1: true, 3: true, 2: true})
	if err != nil {
		t.Fatal(err)
	}
	if names[1] != "slim-stage-1" || names[3] != "slim-stage-3" || len(names) != 2 {
		t.Errorf("names = %v", names)
	}
	again, err := ParseStages(out)
	if err != nil {
		t.Fatalf("reparsing %q: %v", out, err)
	}
	if len(again) != 4 || again[0].Name != "" || again[1].Name != "slim-stage-1" || again[3].Name != "slim-stage-3" {
		t.Errorf("renamed stages = %+v\n%s", again, out)
	}
	if again[1].BaseName != "b" {
		t.Errorf("base of stage 1 = %q", again[1].BaseName)
	}
}
