package build

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// ErrNoStage is returned when a stage name or index names no stage of the
// Dockerfile; the wrapping message lists the stages there are.
var ErrNoStage = errors.New("no such stage")

// Stage is one FROM block of a Dockerfile.
type Stage struct {
	// Name is the name after AS, lower-cased by BuildKit's parser; empty for
	// an unnamed stage.
	Name string
	// Index is the position of the stage in the Dockerfile, from 0.
	Index int
	// BaseName is the FROM argument as written: an image reference, another
	// stage's name, or an expression with build args.
	BaseName string
	// Platform is the FROM --platform flag as written, if any.
	Platform string
	// CopyFrom lists the stage's COPY --from (and ADD --from) instructions.
	CopyFrom []CopyEdge
	// Entrypoint and Cmd are the last ENTRYPOINT and CMD of the stage, with a
	// shell form already wrapped in the stage's SHELL. Nil when the stage sets
	// none (the base image's then apply, which only BuildKit knows).
	Entrypoint []string
	Cmd        []string
	// Line is the 1-based line of the FROM instruction, for messages.
	Line int
	// fromEnd is the 0-based line where the FROM instruction ends (it may
	// continue over several lines), where nameUnnamedStages adds a name.
	fromEnd int
}

// CopyEdge is one COPY --from=FROM SRC... DEST.
type CopyEdge struct {
	From string
	Src  []string
	Dest string
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
// parser, so that what slim believes about stages is what BuildKit builds.
func ParseStages(dockerfile []byte) ([]Stage, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, fmt.Errorf("parsing dockerfile: %w", err)
	}
	parsed, _, err := instructions.Parse(res.AST, nil)
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
	stages := make([]Stage, 0, len(parsed))
	for i, p := range parsed {
		st := Stage{Name: p.Name, Index: i, BaseName: p.BaseName, Platform: p.Platform, fromEnd: -1}
		if i < len(fromEnds) {
			st.fromEnd = fromEnds[i]
		}
		if len(p.Location) > 0 {
			st.Line = p.Location[0].Start.Line
		}
		shell := []string{"/bin/sh", "-c"}
		for _, cmd := range p.Commands {
			switch c := cmd.(type) {
			case *instructions.ShellCommand:
				shell = append([]string(nil), c.Shell...)
			case *instructions.CopyCommand:
				if c.From != "" {
					st.CopyFrom = append(st.CopyFrom, CopyEdge{From: c.From, Src: append([]string(nil), c.SourcePaths...), Dest: c.DestPath})
				}
			case *instructions.EntrypointCommand:
				st.Entrypoint = cmdLine(c.ShellDependantCmdLine, shell)
				// Docker resets CMD when ENTRYPOINT is set in the same stage.
				st.Cmd = nil
			case *instructions.CmdCommand:
				st.Cmd = cmdLine(c.ShellDependantCmdLine, shell)
			}
		}
		stages = append(stages, st)
	}
	return stages, nil
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
