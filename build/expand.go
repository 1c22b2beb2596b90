package build

import (
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// expander holds the variables a Dockerfile word is expanded with at one point of a
// stage, and expands words with BuildKit's own shell lexer, so that "$X", "${X:-d}"
// and escapes mean what they mean to BuildKit.
type expander struct {
	lex    *shell.Lex
	global *expander // the global ARGs, which a stage sees once it declares them
	vars   map[string]string
	order  []string
	env    map[string]bool // set by ENV: part of the image, so stages FROM it see it
}

func newExpander(lex *shell.Lex, global *expander) *expander {
	return &expander{lex: lex, global: global, vars: map[string]string{}, env: map[string]bool{}}
}

// inherit is what a stage FROM this one starts with: its ENVs, not its ARGs, which
// end with their stage.
func (e *expander) inherit() *expander {
	c := newExpander(e.lex, e.global)
	for _, k := range e.order {
		if e.env[k] {
			c.setEnv(k, e.vars[k])
		}
	}
	return c
}

func (e *expander) set(k, v string) {
	if _, ok := e.vars[k]; !ok {
		e.order = append(e.order, k)
	}
	e.vars[k] = v
}

func (e *expander) setEnv(k, v string) {
	e.set(k, v)
	e.env[k] = true
}

// declare applies ARG lines: a --build-arg wins over the default, and a stage's ARG
// without a default takes the global ARG of that name, as BuildKit does.
func (e *expander) declare(args []instructions.KeyValuePairOptional, buildArgs map[string]string) {
	for _, a := range args {
		v, ok := buildArgs[a.Key]
		if !ok && a.Value != nil {
			v, ok = *a.Value, true
		}
		if !ok && e.global != nil {
			v, ok = e.global.vars[a.Key]
		}
		if ok {
			e.set(a.Key, v)
		}
	}
}

func (e *expander) getter() shell.EnvGetter {
	kv := make([]string, 0, len(e.order))
	for _, k := range e.order {
		kv = append(kv, k+"="+e.vars[k])
	}
	return shell.EnvsFromSlice(kv)
}

func (e *expander) word(w string) (string, error) {
	out, _, err := e.lex.ProcessWord(w, e.getter())
	return out, err
}

// expand expands a command's words in place, as BuildKit's dispatcher does before it
// runs the command.
func (e *expander) expand(cmd instructions.Command) error {
	if x, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		return x.Expand(e.word)
	}
	return nil
}
