package build

import (
	"fmt"
	"os"
)

// Dockerfile is a Dockerfile read and parsed once per run: its text (what BuildKit
// builds, and what --emit-dockerfile starts from) and its stage graph (what auto mode,
// stage lookup and Solve read).
type Dockerfile struct {
	// Path is where it was read from; BuildKit reads the Dockerfile's directory
	// for a Dockerfile-specific .dockerignore.
	Path   string
	Source []byte
	Stages []Stage
}

// ReadDockerfile reads and parses the Dockerfile at path, expanding words with
// buildArgs (--build-arg) as BuildKit will (see ParseDockerfile).
func ReadDockerfile(path string, buildArgs map[string]string) (*Dockerfile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the Dockerfile: %w", err)
	}
	stages, err := ParseDockerfile(b, buildArgs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Dockerfile{Path: path, Source: b, Stages: stages}, nil
}

// Target is the stage a --target names, or the last stage when name is empty.
func (d *Dockerfile) Target(name string) (Stage, error) {
	if name == "" {
		return d.Stages[len(d.Stages)-1], nil
	}
	return LookupStage(d.Stages, name)
}

// Select names the stages `slim build` writes: those named (by name or index), every
// stage with all, or the last when neither is given.
func (d *Dockerfile) Select(names []string, all bool) ([]string, error) {
	if all {
		refs := make([]string, 0, len(d.Stages))
		for _, s := range d.Stages {
			refs = append(refs, s.Ref())
		}
		return refs, nil
	}
	if len(names) == 0 {
		return []string{d.Stages[len(d.Stages)-1].Ref()}, nil
	}
	for _, n := range names {
		if _, err := LookupStage(d.Stages, n); err != nil {
			return nil, err
		}
	}
	return names, nil
}
