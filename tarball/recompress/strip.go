package recompress

import (
	"fmt"
	"strings"

	"github.com/slim-dev/slim/extract"
)

// stripPreset returns the patterns of a named --strip preset. Copyright files stay in
// docs: they are the licence texts that distributing the binaries requires (Debian
// puts them there and nowhere else).
func stripPreset(name string) ([]string, bool) {
	switch name {
	case "docs":
		return []string{
			"usr/share/man/**",
			"usr/share/info/**",
			"usr/share/doc/**",
			"!usr/share/doc/*/copyright",
		}, true
	case "caches":
		return []string{
			"var/lib/apt/lists/**",
			"var/cache/apt/**",
			"root/.cache/pip/**",
			"root/.npm/**",
			"**/__pycache__/**",
		}, true
	}
	return nil, false
}

// ParseStrip parses a --strip value: comma-separated preset names ("docs": man pages,
// info and doc directories but the copyright files; "caches": apt lists and archives,
// pip and npm caches of root, Python bytecode caches) and globs. In a glob "*", "?"
// and "[...]" match within one path component, "**" matches any number of components,
// and a trailing "/**" everything under a directory but the directory itself; a glob
// that matches a directory removes what is under it too. A leading "!" keeps what it
// matches even when another pattern removes it. Paths are taken from the image root,
// with or without a leading "/"; a file named like a preset is written "./docs".
func ParseStrip(s string) ([]string, error) {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if preset, ok := stripPreset(p); ok {
			out = append(out, preset...)
			continue
		}
		if _, err := compileGlob(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("parsing strip %q: no preset or pattern: %w", s, ErrBadStrip)
	}
	return out, nil
}

// glob is one compiled strip pattern: extract's glob, and whether it keeps what it
// matches ("!") rather than removing it.
type glob struct {
	extract.Glob
	keep bool
}

func compileGlob(p string) (glob, error) {
	g := glob{}
	raw := p
	if rest, ok := strings.CutPrefix(p, "!"); ok {
		g.keep, p = true, rest
	}
	eg, err := extract.CompileGlob(strings.TrimSpace(p))
	if err != nil {
		return g, fmt.Errorf("parsing strip pattern %q: %w: %w", raw, err, ErrBadStrip)
	}
	g.Glob = eg
	return g, nil
}

// stripper decides which paths the strip patterns remove.
type stripper struct{ globs []glob }

func newStripper(patterns []string) (*stripper, error) {
	s := &stripper{}
	for _, p := range patterns {
		if preset, ok := stripPreset(p); ok {
			for _, pp := range preset {
				g, err := compileGlob(pp)
				if err != nil {
					return nil, err
				}
				s.globs = append(s.globs, g)
			}
			continue
		}
		g, err := compileGlob(p)
		if err != nil {
			return nil, err
		}
		s.globs = append(s.globs, g)
	}
	return s, nil
}

// verdict is +1 when a removing pattern matches name, -1 when a keeping one does.
func (s *stripper) verdict(name string) int {
	v := 0
	for _, g := range s.globs {
		if g.Match(name) {
			if g.keep {
				return -1
			}
			v = 1
		}
	}
	return v
}
