package build

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// ErrNoStage is returned when a stage name or index names no stage of the
// Dockerfile; the wrapping message lists the stages there are.
var ErrNoStage = errors.New("no such stage")

// Stage is one FROM block of a Dockerfile, with ARG and ENV expanded as BuildKit
// expands them (see ParseDockerfile).
type Stage struct {
	// Name is the name after AS, lower-cased by BuildKit's parser; empty for
	// an unnamed stage.
	Name string
	// Index is the position of the stage in the Dockerfile, from 0.
	Index int
	// BaseName is the FROM argument with the global ARGs expanded: an image
	// reference or another stage's name.
	BaseName string
	// Platform is the FROM --platform flag as written, if any.
	Platform string
	// CopyFrom lists the stage's COPY --from (and ADD --from) instructions.
	CopyFrom []CopyEdge
	// Context lists its COPY and ADD instructions without --from: files from the
	// build context (or, for ADD, from a URL or git repository).
	Context []CopyEdge
	// Workdir is the stage's WORKDIR at its end, in Workdir's form (see CopyEdge).
	Workdir string
	// Entrypoint and Cmd are the last ENTRYPOINT and CMD of the stage, with a
	// shell form already wrapped in the stage's SHELL. Nil when the stage sets
	// none (the base image's then apply, which only BuildKit knows).
	Entrypoint []string
	Cmd        []string
	// Runs are the 1-based lines of the stage's RUN instructions: what they write is
	// in the stage as built, where auto mode does not look unless told (--keep).
	Runs []int
	// Line is the 1-based line of the FROM instruction, for messages.
	Line int
	// fromEnd is the 0-based line where the FROM instruction ends (it may
	// continue over several lines), where nameUnnamedStages adds a name.
	fromEnd int
}

// CopyEdge is one COPY [--from=FROM] SRC... DEST (or ADD), with its sources,
// destination and flags expanded.
type CopyEdge struct {
	From string
	Src  []string
	// Inline names the here-documents the instruction writes (COPY <<EOF DEST): files
	// that exist only in the stage as built.
	Inline []string
	Dest   string
	// Workdir is the WORKDIR the instruction runs in, against which a relative
	// Dest is taken: absolute when the Dockerfile says it, else relative to the
	// WORKDIR of the stage's base ("" is the base's own), which BuildKit takes
	// from the base image's config.
	Workdir string
	// Chown and Chmod are --chown and --chmod as written (expanded).
	Chown, Chmod string
	// Parents is --parents; Exclude the --exclude patterns.
	Parents bool
	Exclude []string
	// Add is true for ADD.
	Add bool
	// Line is the instruction's 1-based line, for messages.
	Line int
}

// Ref is how BuildKit's dockerfile frontend can target the stage: its name,
// or its index for unnamed stages (which Solve handles by naming them).
func (s Stage) Ref() string {
	if s.Name != "" {
		return s.Name
	}
	return strconv.Itoa(s.Index)
}

// ParseStages reads the stage graph of a Dockerfile with BuildKit's own
// parser and no build args (see ParseDockerfile).
func ParseStages(dockerfile []byte) ([]Stage, error) {
	return ParseDockerfile(dockerfile, nil)
}

// ParseDockerfile reads the stage graph of a Dockerfile with BuildKit's own parser,
// so that what slim believes about stages is what BuildKit builds. Words are expanded
// with BuildKit's own shell lexer as its dispatcher does: FROM with the global ARGs
// (declared before the first FROM, overridden by buildArgs), COPY, ADD and WORKDIR with
// the stage's ARGs and ENVs (and those of a stage it is built FROM). The base image's
// own ENV is not known here; a word that needs it stays as the lexer leaves it.
func ParseDockerfile(dockerfile []byte, buildArgs map[string]string) ([]Stage, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, fmt.Errorf("parsing dockerfile: %w", err)
	}
	parsed, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("parsing dockerfile instructions: %w", err)
	}
	if len(parsed) == 0 {
		return nil, errors.New("parsing dockerfile: no FROM instruction")
	}
	var fromEnds []int
	for _, n := range res.AST.Children {
		if strings.EqualFold(n.Value, "from") {
			fromEnds = append(fromEnds, n.EndLine-1)
		}
	}
	lex := shell.NewLex(res.EscapeToken)
	global := newExpander(lex, nil)
	for _, a := range metaArgs {
		global.declare(a.Args, buildArgs)
	}
	stages := make([]Stage, 0, len(parsed))
	envs := make([]*expander, 0, len(parsed)) // each stage's at its end, for stages FROM it
	for i, p := range parsed {
		base, err := global.word(p.BaseName)
		if err != nil {
			return nil, fmt.Errorf("parsing dockerfile: expanding FROM %s: %w", p.BaseName, err)
		}
		st := Stage{Name: p.Name, Index: i, BaseName: base, Platform: p.Platform, fromEnd: -1}
		if i < len(fromEnds) {
			st.fromEnd = fromEnds[i]
		}
		if len(p.Location) > 0 {
			st.Line = p.Location[0].Start.Line
		}
		env := newExpander(lex, global)
		if parent, ok := ResolveStage(stages, base); ok {
			env = envs[parent.Index].inherit()
			st.Workdir = parent.Workdir
		}
		shell := []string{"/bin/sh", "-c"}
		for _, cmd := range p.Commands {
			if err := env.expand(cmd); err != nil {
				return nil, fmt.Errorf("parsing dockerfile: line %d: %w", lineOf(cmd), err)
			}
			switch c := cmd.(type) {
			case *instructions.ArgCommand:
				env.declare(c.Args, buildArgs)
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					env.setEnv(kv.Key, kv.Value)
				}
			case *instructions.WorkdirCommand:
				st.Workdir = joinWorkdir(st.Workdir, c.Path)
			case *instructions.ShellCommand:
				shell = append([]string(nil), c.Shell...)
			case *instructions.CopyCommand:
				e := CopyEdge{From: c.From, Src: slices.Clone(c.SourcePaths), Inline: inline(c.SourceContents), Dest: c.DestPath, Workdir: st.Workdir,
					Chown: c.Chown, Chmod: c.Chmod, Parents: c.Parents, Exclude: slices.Clone(c.ExcludePatterns), Line: lineOf(c)}
				if c.From != "" {
					st.CopyFrom = append(st.CopyFrom, e)
				} else {
					st.Context = append(st.Context, e)
				}
			case *instructions.AddCommand:
				st.Context = append(st.Context, CopyEdge{Src: slices.Clone(c.SourcePaths), Inline: inline(c.SourceContents), Dest: c.DestPath, Workdir: st.Workdir,
					Chown: c.Chown, Chmod: c.Chmod, Exclude: slices.Clone(c.ExcludePatterns), Add: true, Line: lineOf(c)})
			case *instructions.RunCommand:
				st.Runs = append(st.Runs, lineOf(c))
			case *instructions.EntrypointCommand:
				st.Entrypoint = cmdLine(c.ShellDependantCmdLine, shell)
				// Docker resets CMD when ENTRYPOINT is set in the same stage.
				st.Cmd = nil
			case *instructions.CmdCommand:
				st.Cmd = cmdLine(c.ShellDependantCmdLine, shell)
			}
		}
		stages = append(stages, st)
		envs = append(envs, env)
	}
	return stages, nil
}

// joinWorkdir applies WORKDIR dir to the workdir wd (in CopyEdge.Workdir's form).
func joinWorkdir(wd, dir string) string {
	if path.IsAbs(dir) {
		return path.Clean(dir)
	}
	if wd == "" {
		return path.Clean(dir)
	}
	return path.Join(wd, dir)
}

// inline is the names of a COPY's or ADD's here-documents.
func inline(docs []instructions.SourceContent) []string {
	var names []string
	for _, d := range docs {
		names = append(names, d.Path)
	}
	return names
}

func lineOf(c instructions.Command) int {
	if l, ok := c.(interface{ Location() []parser.Range }); ok && len(l.Location()) > 0 {
		return l.Location()[0].Start.Line
	}
	return 0
}

func cmdLine(c instructions.ShellDependantCmdLine, shell []string) []string {
	if c.PrependShell {
		return append(append([]string(nil), shell...), strings.Join(c.CmdLine, " "))
	}
	// An explicit empty list (CMD []) differs from no CMD: keep it non-nil.
	return append(make([]string, 0, len(c.CmdLine)), c.CmdLine...)
}

// ResolveStage finds the stage a --from SRC names: a stage name (case
// insensitive, as Docker matches them) or a stage index. ok is false when
// src is neither, in which case it is an image reference for the caller.
func ResolveStage(stages []Stage, src string) (Stage, bool) {
	for _, s := range stages {
		if s.Name != "" && strings.EqualFold(s.Name, src) {
			return s, true
		}
	}
	if i, err := strconv.Atoi(src); err == nil && i >= 0 && i < len(stages) && strconv.Itoa(i) == src {
		return stages[i], true
	}
	return Stage{}, false
}

// LookupStage is ResolveStage for callers that require a stage: a miss is
// ErrNoStage with the list of stages.
func LookupStage(stages []Stage, src string) (Stage, error) {
	if s, ok := ResolveStage(stages, src); ok {
		return s, nil
	}
	return Stage{}, noStage(stages, src)
}

func noStage(stages []Stage, src string) error {
	return fmt.Errorf("finding stage %q: %w (stages: %s)", src, ErrNoStage, describeStages(stages))
}

func describeStages(stages []Stage) string {
	names := make([]string, 0, len(stages))
	for _, s := range stages {
		if s.Name != "" {
			names = append(names, fmt.Sprintf("%d %s", s.Index, s.Name))
		} else {
			names = append(names, strconv.Itoa(s.Index))
		}
	}
	return strings.Join(names, ", ")
}

// nameUnnamedStages returns the Dockerfile with "AS <prefix><index>" added to
// the FROM lines of the unnamed stages in want, because BuildKit's frontend
// only targets stages by name. Line structure is kept so error locations stay
// right. It works from where ParseStages found each FROM to end, so the
// Dockerfile is parsed once per run.
func nameUnnamedStages(dockerfile []byte, stages []Stage, want map[int]bool) ([]byte, map[int]string, error) {
	lines := strings.SplitAfter(string(dockerfile), "\n")
	names := map[int]string{}
	for idx, st := range stages {
		if !want[idx] || st.Name != "" {
			continue
		}
		name := uniqueStageName(stages, idx)
		end := st.fromEnd
		if end < 0 || end >= len(lines) {
			return nil, nil, fmt.Errorf("naming stage %d: FROM ends outside the file", idx)
		}
		line := lines[end]
		body := strings.TrimRight(line, "\r\n")
		lines[end] = body + " AS " + name + line[len(body):]
		names[idx] = name
	}
	return []byte(strings.Join(lines, "")), names, nil
}

func uniqueStageName(stages []Stage, idx int) string {
	base := "slim-stage-" + strconv.Itoa(idx)
	name := base
	for n := 1; ; n++ {
		taken := false
		for _, s := range stages {
			if strings.EqualFold(s.Name, name) {
				taken = true
				break
			}
		}
		if !taken {
			return name
		}
		name = base + "-" + strconv.Itoa(n)
	}
}
