package extract

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// The path patterns of --from and of slim recompress --strip are one language: "*",
// "?" and "[...]" match within one path component (path.Match), "**" matches any
// number of whole components. The selector expands a pattern over a source
// (selector.glob); Glob tests a name against one.

// errDoubleStar is the one rule path.Match does not check.
var errDoubleStar = errors.New("** must be a whole path component")

// hasMeta reports whether a path component is a pattern rather than a name.
func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// globParts splits a clean pattern into its components (no empty ones), checking that
// each is a valid path.Match pattern and that "**" stands alone. The error names the
// problem only; callers say which pattern.
func globParts(p string) ([]string, error) {
	var comps []string
	for _, c := range strings.Split(strings.Trim(p, "/"), "/") {
		if c == "" {
			continue
		}
		if c != "**" && strings.Contains(c, "**") {
			return nil, errDoubleStar
		}
		if _, err := path.Match(c, ""); err != nil {
			return nil, err
		}
		if c == "**" && len(comps) > 0 && comps[len(comps)-1] == "**" {
			continue // "**/**" is "**", and matching it twice would only cost time
		}
		comps = append(comps, c)
	}
	return comps, nil
}

// splitPattern splits a clean absolute --from pattern into its components.
func splitPattern(p string) ([]string, error) {
	comps, err := globParts(p)
	if err != nil {
		return nil, fmt.Errorf("checking pattern %q: %w: %w", p, err, ErrBadSpec)
	}
	return comps, nil
}

// Glob is a compiled path pattern, matched against slash-separated names relative to
// the image root ("usr/share/doc/x").
type Glob struct {
	parts []string
}

// CompileGlob compiles pattern, a path from the image root with or without a leading
// "/". A pattern naming the root itself is refused: no name matches it. The error
// names the problem (it wraps path.ErrBadPattern for bad syntax); callers say which
// pattern and wrap their own sentinel.
func CompileGlob(pattern string) (Glob, error) {
	p := path.Clean("/" + pattern)
	if p == "/" {
		return Glob{}, errors.New("it names the root")
	}
	parts, err := globParts(p)
	if err != nil {
		return Glob{}, err
	}
	return Glob{parts: parts}, nil
}

// Match reports whether name matches. "**" matches zero or more components, but a
// trailing "**" at least one: "a/**" is everything under a, not a itself. (The selector
// agrees in effect: it takes a with everything under it, and a would be taken anyway
// as the parent of what is.)
func (g Glob) Match(name string) bool {
	return matchParts(g.parts, strings.Split(name, "/"))
}

func matchParts(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			if len(rest) == 0 {
				return len(name) > 0
			}
			for i := 0; i <= len(name); i++ {
				if matchParts(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
