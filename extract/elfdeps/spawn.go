package elfdeps

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
)

// spawned is a process an app's source starts: a program named as exec form names it
// (subprocess.run(["git", …]), spawn("ffmpeg", …)), or a command line that /bin/sh runs
// (os.system("…"), execSync("…")).
type spawned struct {
	argv0 string
	shell string
}

// spawnLang says how a source spells strings, comments and the calls that start
// processes.
type spawnLang struct {
	hashComments bool // Python's #; else JavaScript's // and /* */
	// kind maps a called name (the last part of a dotted name) to "shell" or "exec",
	// given the part before it ("" when bare).
	kind func(qual, name string) string
}

// pythonSpawn: the subprocess module (under an alias or imported by name), os.system,
// os.popen, os.exec*p*, asyncio's subprocess functions and shutil.which.
func pythonSpawn(src []byte) (spawnLang, bool) {
	aliases := map[string]bool{"subprocess": true}
	bare := map[string]string{} // a name imported from subprocess: its name there
	for _, l := range pythonLines(src) {
		f := strings.Fields(strings.ReplaceAll(l, ",", " "))
		switch {
		case len(f) >= 4 && f[0] == "import" && f[1] == "subprocess" && f[2] == "as":
			aliases[f[3]] = true
		case len(f) >= 4 && f[0] == "from" && f[1] == "subprocess" && f[2] == "import":
			for i := 3; i < len(f); i++ {
				if i+2 < len(f) && f[i+1] == "as" {
					bare[f[i+2]] = f[i]
					i += 2
					continue
				}
				bare[f[i]] = f[i]
			}
		}
	}
	return spawnLang{hashComments: true, kind: func(qual, name string) string {
		if orig, ok := bare[name]; ok && qual == "" {
			qual, name = "subprocess", orig
		}
		switch {
		case name == "getoutput" || name == "getstatusoutput" || name == "create_subprocess_shell",
			qual == "os" && (name == "system" || name == "popen"):
			return "shell"
		case name == "Popen" || name == "check_output" || name == "check_call" || name == "create_subprocess_exec",
			(name == "run" || name == "call") && aliases[qual],
			qual == "os" && (name == "execvp" || name == "execvpe" || name == "execlp" || name == "execlpe"),
			qual == "shutil" && name == "which":
			return "exec"
		}
		return ""
	}}, true
}

// nodeSpawn: child_process's functions and execa's, in a source that loads either.
func nodeSpawn(src []byte) (spawnLang, bool) {
	if !bytes.Contains(src, []byte("child_process")) && !bytes.Contains(src, []byte("execa")) {
		return spawnLang{}, false
	}
	return spawnLang{kind: func(_, name string) string {
		switch name {
		case "exec", "execSync":
			return "shell"
		case "spawn", "spawnSync", "execFile", "execFileSync", "execa", "execaSync", "execaCommand", "execaCommandSync":
			return "exec"
		}
		return ""
	}}, true
}

// spawnedBy lists the processes src starts with a literal command: a call lang.kind
// names, whose first argument is a string literal or a list or array that opens with
// one. An exec-form string with blanks in it is a command line (shell=True,
// {shell: true}, execaCommand), read as the shell would; the program is its first
// word. Literals built at run time (f-strings, templates with ${…}) are skipped.
func spawnedBy(src []byte, lang spawnLang) []spawned {
	return spawnedOf(srcTokens(src, lang.hashComments), lang)
}

// srcTokens splits a Python (hashComments) or JavaScript source into words, string
// literals and the punctuation calls are made of; comments are dropped. A source it
// cannot follow to its end (an unclosed comment or template) gives what came before.
func srcTokens(src []byte, hashComments bool) []srcToken {
	var toks []srcToken
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case hashComments && c == '#',
			!hashComments && c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case !hashComments && c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				return toks
			}
			i += end + 3
		case c == '\'' || c == '"' || c == '`' && !hashComments:
			triple := hashComments && i+2 < len(src) && src[i+1] == c && src[i+2] == c
			end := skipString(src, i, triple)
			if c == '`' {
				end = bytes.IndexByte(src[i+1:], '`')
				if end < 0 {
					return toks
				}
				end += i + 1
			}
			t := srcToken{lit: true}
			if triple {
				t.dyn = true
			} else if end < len(src) && src[end] == c {
				body := string(src[i+1 : end])
				t.str, t.dyn = unquote(body)
				if c == '`' && strings.Contains(body, "${") {
					t.dyn = true
				}
			}
			// A Python string prefix (r, b, u, f) is part of the literal; an f-string is
			// built at run time.
			if n := len(toks); n > 0 && hashComments && i > 0 && isWordByte(src[i-1]) &&
				len(toks[n-1].word) <= 2 && strings.Trim(toks[n-1].word, "rRbBuUfF") == "" {
				t.dyn = t.dyn || strings.ContainsAny(toks[n-1].word, "fF")
				toks[n-1] = t
			} else {
				toks = append(toks, t)
			}
			i = end
		case isWordByte(c):
			j := i
			for j < len(src) && isWordByte(src[j]) {
				j++
			}
			toks = append(toks, srcToken{word: string(src[i:j])})
			i = j - 1
		case c == '(' || c == '[' || c == ')' || c == ']' || c == ',' || c == '=' || c == ';' || c == '{' || c == '}',
			c == '+' || c == '/': // a path built by concatenation or pathlib's /
			toks = append(toks, srcToken{punct: c})
		}
	}
	return toks
}

// srcToken is a word (dotted names whole), a string literal (str, or dyn when built at
// run time) or one punctuation byte of a source.
type srcToken struct {
	word, str string
	lit, dyn  bool
	punct     byte
}

// spawnedOf is spawnedBy's match over the tokens: NAME ( [ [ ] STRING.
func spawnedOf(toks []srcToken, lang spawnLang) []spawned {
	var out []spawned
	for i := 0; i+2 < len(toks); i++ {
		w := toks[i]
		if w.word == "" || toks[i+1].punct != '(' {
			continue
		}
		qual, name := "", w.word
		if j := strings.LastIndexByte(w.word, '.'); j >= 0 {
			qual, name = w.word[:j], w.word[j+1:]
			qual = qual[strings.LastIndexByte(qual, '.')+1:]
		}
		kind := lang.kind(qual, name)
		if kind == "" {
			continue
		}
		j, list := i+2, false
		if toks[j].punct == '[' && j+1 < len(toks) {
			j, list = j+1, true
		}
		s := toks[j]
		if !s.lit || s.dyn || strings.TrimSpace(s.str) == "" {
			continue
		}
		var sp spawned
		switch {
		case kind == "shell" && !list:
			sp.shell = s.str
		case !list && strings.ContainsAny(strings.TrimSpace(s.str), " \t\n|;&<>"):
			sp.shell = s.str
		default:
			sp.argv0 = s.str
		}
		if !slices.Contains(out, sp) {
			out = append(out, sp)
		}
	}
	return out
}

// unquote reads the escapes of a string literal's body the way both languages do for
// what a command line holds; dyn is set for one that cannot be read (\x, \u, \N…).
func unquote(body string) (s string, dyn bool) {
	if !strings.Contains(body, `\`) {
		return body, false
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || i+1 == len(body) {
			b.WriteByte(body[i])
			continue
		}
		i++
		switch body[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '\\', '\'', '"', '`', '$', ' ':
			b.WriteByte(body[i])
		default:
			return "", true
		}
	}
	return b.String(), false
}

// spawnedFrom takes what the app's source src starts (see spawnedBy): each program
// through the config's PATH with what it needs, and /bin/sh with what a command line
// runs. A program that is not in the image is a warning: the app may look for it
// first, and it may only be needed on a path the app rarely takes.
func (r *Resolver) spawnedFrom(c *collector, src string, procs []spawned) error {
	before := len(c.missing)
	for _, sp := range procs {
		if sp.shell != "" {
			why := fmt.Sprintf("command line %q run by /%s", clip(sp.shell), src)
			// system(3), Python and Node start /bin/sh by that name, not through PATH.
			if err := r.run(c, "/bin/sh", "/bin/sh, the shell of the "+why); err != nil {
				return err
			}
			if err := r.scanCommand(c, sp.shell, why, r.opts.path); err != nil {
				return err
			}
			continue
		}
		if strings.Contains(sp.argv0, "/") && !path.IsAbs(sp.argv0) {
			continue // relative to the app's working directory at run time
		}
		why := fmt.Sprintf("program %q run by /%s", sp.argv0, src)
		found, err := r.runArgv(c, []string{sp.argv0}, r.opts.path, why)
		if err != nil {
			return err
		}
		if !found {
			r.warn(why + " is not in the source: the app fails where it runs it")
		}
	}
	for _, m := range c.missing[before:] {
		r.warn(m.(*missingError).what + " is not in the source")
	}
	c.missing = c.missing[:before]
	return nil
}

// clip shortens a command line for a message.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// isWordByte says whether c is part of a (dotted) name.
func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// IsJSSource says whether name is a JavaScript source of an app's own (outside
// node_modules, whose packages start what their own code paths need).
func IsJSSource(name string) bool {
	switch path.Ext(name) {
	case ".js", ".mjs", ".cjs":
		return !strings.Contains("/"+name, "/node_modules/")
	}
	return false
}

// spawnedIn takes what the app source src, whose text is b, starts (see spawnedBy),
// once per source; lang reads how src spells it, or says it starts nothing.
func (r *Resolver) spawnedIn(c *collector, src string, b []byte, lang func([]byte) (spawnLang, bool)) error {
	st := r.langs()
	if st.done["spawn:"+src] {
		return nil
	}
	st.done["spawn:"+src] = true
	if b == nil {
		var err error
		if b, err = r.readSource(src); err != nil {
			return err
		}
	}
	l, ok := lang(b)
	if !ok {
		return nil
	}
	return r.spawnedFrom(c, src, spawnedBy(b, l))
}
