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
	syntax srcSyntax
	// kind maps a called name (the last part of a dotted name) to "shell" (a command
	// line), "exec" (a program, or a command line when one string with blanks), "open"
	// (a pipe opened as Perl, Ruby and Tcl spell it: "-|", "cmd |", "|cmd") or "word"
	// (Tcl's exec: the next word is the program), given the part before it ("" when
	// bare, "->" for a method).
	kind func(qual, name string) string
	// bare: a call may leave out its parentheses (Perl's system "…", Ruby's, Lua's).
	bare bool
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
	return spawnLang{syntax: pythonSyntax(), kind: func(qual, name string) string {
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
	return spawnLang{syntax: jsSyntax(), kind: func(_, name string) string {
		switch name {
		case "exec", "execSync":
			return "shell"
		case "spawn", "spawnSync", "execFile", "execFileSync", "execa", "execaSync", "execaCommand", "execaCommandSync":
			return "exec"
		}
		return ""
	}}, true
}

// scriptFamilies are the interpreters besides Python and Node whose app sources are
// read for the processes they start (see scriptSpawn).
func scriptFamilies() []string { return []string{"perl", "ruby", "php", "lua", "tcl"} }

// scriptSource is an app source of one of scriptFamilies.
type scriptSource struct{ name, family string }

// scriptFamily is the family of scriptFamilies whose source the file named name,
// starting with head, is: by its extension or its #! line; "" for none.
func scriptFamily(name string, head []byte) string {
	if isPerlSource(name, head) {
		return "perl"
	}
	switch path.Ext(name) {
	case ".rb":
		return "ruby"
	case ".php":
		return "php"
	case ".lua":
		return "lua"
	case ".tcl":
		return "tcl"
	}
	prog := shebangProgram(head)
	for _, f := range scriptFamilies() {
		if strings.HasPrefix(prog, f) || f == "tcl" && prog == "wish" {
			return f
		}
	}
	return ""
}

// IsSourceName says whether name is, by its extension, a source of a language whose
// sources elfdeps reads (Imports): Python, JavaScript outside node_modules, Perl,
// Ruby, PHP, Lua, Tcl.
func IsSourceName(name string) bool {
	switch path.Ext(name) {
	case ".py", ".pl", ".pm", ".rb", ".php", ".lua", ".tcl":
		return true
	}
	return IsJSSource(name)
}

// ownScript says whether a script source is the app's own, not an installed
// library's (gems, Composer's vendor, the distribution's): what a library starts is
// on code paths its own users take.
func ownScript(name string) bool {
	for _, dir := range []string{"usr/lib/", "usr/share/", "usr/local/lib/", "usr/local/share/"} {
		if strings.HasPrefix(name, dir) {
			return false
		}
	}
	return !strings.Contains("/"+name, "/gems/") && !strings.Contains("/"+name, "/vendor/") && !strings.Contains("/"+name, "/node_modules/")
}

// scriptSpawn is how a source of family starts processes:
//   - Perl: system and exec (a list, or one string: a command line when it has
//     blanks), `…` and qx(…), readpipe, and open's pipes;
//   - Ruby: system, exec, spawn (bare, Kernel's, Process's), IO.popen, Open3's
//     functions, `…` and %x(…), and open("|cmd");
//   - PHP: exec, shell_exec, system, passthru, popen and proc_open (a string is a
//     command line: PHP runs each through /bin/sh), pcntl_exec, `…`;
//   - Lua: os.execute and io.popen;
//   - Tcl: exec PROGRAM and open "|PROGRAM".
func scriptSpawn(family string) func([]byte) (spawnLang, bool) {
	var l spawnLang
	switch family {
	case "perl":
		l = spawnLang{syntax: srcSyntax{hash: true, backtick: true, dollar: true, perlQuotes: true}, bare: true,
			kind: func(qual, name string) string {
				switch {
				case qual != "":
				case name == "system" || name == "exec":
					return "exec"
				case name == "readpipe":
					return "shell"
				case name == "open":
					return "open"
				}
				return ""
			}}
	case "ruby":
		l = spawnLang{syntax: srcSyntax{hash: true, backtick: true, hashBrace: true, rubyPercent: true, subst: "#{"}, bare: true,
			kind: func(qual, name string) string {
				switch {
				case (qual == "" || qual == "Kernel" || qual == "Process") && (name == "system" || name == "exec" || name == "spawn"),
					qual == "IO" && name == "popen",
					qual == "Open3" && name != "":
					return "exec"
				case qual == "" && name == "open":
					return "open"
				}
				return ""
			}}
	case "php":
		l = spawnLang{syntax: srcSyntax{hash: true, slash: true, backtick: true, dollar: true},
			kind: func(qual, name string) string {
				switch {
				case qual != "":
				case name == "exec" || name == "shell_exec" || name == "system" || name == "passthru" || name == "popen" || name == "proc_open":
					return "shell"
				case name == "pcntl_exec":
					return "exec"
				}
				return ""
			}}
	case "lua":
		l = spawnLang{bare: true, kind: func(qual, name string) string {
			if qual == "os" && name == "execute" || qual == "io" && name == "popen" {
				return "shell"
			}
			return ""
		}}
	case "tcl":
		l = spawnLang{syntax: srcSyntax{hash: true, pathWords: true, subst: "["}, bare: true,
			kind: func(qual, name string) string {
				switch {
				case qual != "":
				case name == "exec":
					return "word"
				case name == "open":
					return "open"
				}
				return ""
			}}
	default:
		return func([]byte) (spawnLang, bool) { return spawnLang{}, false }
	}
	return func([]byte) (spawnLang, bool) { return l, true }
}

// spawnedBy lists the processes src starts with a literal command: a call lang.kind
// names, whose first argument is a string literal or a list or array that opens with
// one. An exec-form string with blanks in it is a command line (shell=True,
// {shell: true}, execaCommand), read as the shell would; the program is its first
// word. Literals built at run time (f-strings, templates with ${…}) are skipped.
func spawnedBy(src []byte, lang spawnLang) []spawned {
	return spawnedOf(tokensOf(src, lang.syntax), lang)
}

// srcSyntax is how a language spells comments, strings and commands in backquotes,
// as much as finding its calls and literals needs.
type srcSyntax struct {
	hash, slash bool // # comments; // and /* */ comments
	python      bool // string prefixes (r, b, f…) and triple quotes
	template    bool // `…` is a string (JavaScript's template)
	backtick    bool // `…` is a command line run by the shell (Perl, Ruby, PHP)
	dollar      bool // "…" interpolates $name and ${…} (Perl's @name too; PHP)
	hashBrace   bool // "…" and `…` interpolate #{…} (Ruby)
	perlQuotes  bool // q(…), qq{…}, qx(…), qw(…)
	rubyPercent bool // %q(…), %Q(…), %x(…), %w(…)
	pathWords   bool // a word may hold / and - (Tcl: exec /usr/bin/date)
	// subst opens code inside a "…" string (or a template): "#{" (Ruby), "${"
	// (JavaScript), "[" (Tcl); the code is read as the source's own.
	subst string
	depth int // strings within strings read so far: bounded, so that nesting costs little
}

// srcTokens splits a Python (hashComments) or JavaScript source into tokens: see
// tokensOf.
func srcTokens(src []byte, hashComments bool) []srcToken {
	if hashComments {
		return tokensOf(src, pythonSyntax())
	}
	return tokensOf(src, jsSyntax())
}

func pythonSyntax() srcSyntax { return srcSyntax{hash: true, python: true} }

func jsSyntax() srcSyntax { return srcSyntax{slash: true, template: true, subst: "${"} }

// tokensOf splits a source written in sx into words, string literals and the
// punctuation calls are made of; comments are dropped. A source it cannot follow to
// its end (an unclosed comment or template) gives what came before.
func tokensOf(src []byte, sx srcSyntax) []srcToken {
	var toks []srcToken
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case sx.hash && c == '#' && !(i > 0 && src[i-1] == '$'), // Perl's $#array is no comment
			sx.slash && c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case sx.slash && c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				return toks
			}
			i += end + 3
		case c == '`' && (sx.template || sx.backtick):
			end := bytes.IndexByte(src[i+1:], '`')
			if end < 0 {
				return toks
			}
			body := string(src[i+1 : i+1+end])
			t := srcToken{lit: true, cmd: sx.backtick}
			t.str, t.dyn = unquote(body)
			t.dyn = t.dyn || sx.template && strings.Contains(body, "${") || sx.interpolates(body)
			toks = append(toks, t)
			toks = append(toks, sx.substituted(body)...)
			i += end + 1
		case c == '%' && sx.rubyPercent && i+2 < len(src) && strings.IndexByte("qQxw", src[i+1]) >= 0 && closer(src[i+2]) != 0:
			end, body := delimited(src, i+2)
			if end < 0 {
				return toks
			}
			toks = append(toks, quoted(src[i+1], body, sx))
			i = end
		case c == '\'' || c == '"':
			triple := sx.python && i+2 < len(src) && src[i+1] == c && src[i+2] == c
			end := skipString(src, i, triple)
			t := srcToken{lit: true}
			if triple {
				t.dyn = true
			} else if end < len(src) && src[end] == c {
				body := string(src[i+1 : end])
				t.str, t.dyn = unquote(body)
				t.dyn = t.dyn || c == '"' && sx.interpolates(body)
			}
			// A Python string prefix (r, b, u, f) is part of the literal; an f-string is
			// built at run time.
			if n := len(toks); n > 0 && sx.python && i > 0 && isWordByte(src[i-1]) &&
				len(toks[n-1].word) <= 2 && strings.Trim(toks[n-1].word, "rRbBuUfF") == "" {
				t.dyn = t.dyn || strings.ContainsAny(toks[n-1].word, "fF")
				toks[n-1] = t
			} else {
				toks = append(toks, t)
			}
			if c == '"' && end < len(src) {
				toks = append(toks, sx.substituted(string(src[i+1:end]))...)
			}
			i = end
		case isWordByte(c) || sx.pathWords && c == '/':
			j := i
			for j < len(src) && (isWordByte(src[j]) || sx.pathWords && (src[j] == '/' || src[j] == '-')) {
				j++
			}
			w := string(src[i:j])
			if sx.perlQuotes && (w == "q" || w == "qq" || w == "qx" || w == "qw") && j < len(src) && closer(src[j]) != 0 {
				end, body := delimited(src, j)
				if end < 0 {
					return toks
				}
				toks = append(toks, quoted(w[len(w)-1], body, sx))
				i = end
				continue
			}
			// A method (->name, ::name) is no builtin of the same name.
			member := i >= 2 && (string(src[i-2:i]) == "->" || string(src[i-2:i]) == "::")
			toks = append(toks, srcToken{word: w, member: member})
			i = j - 1
		case c == '(' || c == '[' || c == ')' || c == ']' || c == ',' || c == '=' || c == ';' || c == '{' || c == '}',
			c == '+' || c == '/': // a path built by concatenation or pathlib's /
			toks = append(toks, srcToken{punct: c})
		}
	}
	return toks
}

// substituted is the tokens of the code a string body of sx runs (sx.subst): a
// command in "#{`uname`}", "[exec date]", `${execSync('id')}`.
func (sx srcSyntax) substituted(body string) []srcToken {
	if sx.subst == "" || sx.depth >= 4 {
		return nil
	}
	sx.depth++
	var toks []srcToken
	open := sx.subst[len(sx.subst)-1]
	for rest := body; ; {
		i := strings.Index(rest, sx.subst)
		if i < 0 {
			return toks
		}
		rest = rest[i+len(sx.subst):]
		depth, end := 0, -1
		for j := 0; j < len(rest) && end < 0; j++ {
			switch rest[j] {
			case open:
				depth++
			case closer(open):
				if depth == 0 {
					end = j
				}
				depth--
			}
		}
		if end < 0 {
			return toks
		}
		toks = append(toks, tokensOf([]byte(rest[:end]), sx)...)
		rest = rest[end+1:]
	}
}

// interpolates says whether a string body of sx is built at run time.
func (sx srcSyntax) interpolates(body string) bool {
	if sx.hashBrace && strings.Contains(body, "#{") {
		return true
	}
	if !sx.dollar {
		return false
	}
	for i := 0; i+1 < len(body); i++ {
		if c, n := body[i], body[i+1]; (c == '$' || c == '@' && sx.perlQuotes) && (n == '{' || n == '_' || isWordByte(n) && n != '.') {
			return true
		}
	}
	return false
}

// quoted is the token of a quote-like literal of kind k (Perl's q, qq, qx, qw, Ruby's
// %q, %Q, %x, %w) whose body is body.
func quoted(k byte, body string, sx srcSyntax) srcToken {
	switch k {
	case 'w':
		return srcToken{lit: true, dyn: true} // a list of words: no one string
	case 'q':
		return srcToken{lit: true, str: body}
	}
	t := srcToken{lit: true, cmd: k == 'x'}
	t.str, t.dyn = unquote(body)
	t.dyn = t.dyn || sx.interpolates(body)
	return t
}

// closer is the byte that closes a quote-like literal opened by open, or 0 for a byte
// that opens none here.
func closer(open byte) byte {
	switch open {
	case '(':
		return ')'
	case '[':
		return ']'
	case '{':
		return '}'
	case '<':
		return '>'
	case '/', '|', '!', '~', '#', '\'', '"':
		return open
	}
	return 0
}

// delimited reads the quote-like literal whose opening delimiter is at src[i]: the
// index of its closing one (-1 when unclosed) and the body between. Brackets nest.
func delimited(src []byte, i int) (end int, body string) {
	open, shut := src[i], closer(src[i])
	depth := 0
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case shut:
			if depth == 0 {
				return j, string(src[i+1 : j])
			}
			depth--
		case open:
			depth++
		}
	}
	return -1, ""
}

// srcToken is a word (dotted names whole), a string literal (str, or dyn when built at
// run time) or one punctuation byte of a source.
type srcToken struct {
	word, str string
	lit, dyn  bool
	cmd       bool // a command line in backquotes (or qx, %x)
	member    bool // a method's name: ->word, ::word
	punct     byte
}

// spawnedOf is spawnedBy's match over the tokens: NAME ( [ [ ] STRING (or NAME STRING
// where calls may be bare), a command in backquotes, and the pipes of "open".
func spawnedOf(toks []srcToken, lang spawnLang) []spawned {
	var out []spawned
	add := func(s srcToken, list, shell bool) {
		if !s.lit || s.dyn || strings.TrimSpace(s.str) == "" {
			return
		}
		var sp spawned
		switch {
		case shell && !list:
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
	for i := 0; i < len(toks); i++ {
		w := toks[i]
		if w.cmd {
			add(w, false, true)
			continue
		}
		if w.word == "" || i+1 == len(toks) {
			continue
		}
		j := i + 1
		switch {
		case toks[j].punct == '(':
			j++
		case !lang.bare:
			continue
		}
		if j >= len(toks) {
			continue
		}
		qual, name := "", w.word
		if k := strings.LastIndexByte(w.word, '.'); k >= 0 {
			qual, name = w.word[:k], w.word[k+1:]
			qual = qual[strings.LastIndexByte(qual, '.')+1:]
		} else if w.member {
			qual = "->"
		}
		switch kind := lang.kind(qual, name); kind {
		case "shell", "exec":
			list := toks[j].punct == '[' && j+1 < len(toks)
			if list {
				j++
			}
			add(toks[j], list, kind == "shell")
		case "word":
			if s := toks[j]; s.word != "" && !strings.HasPrefix(s.word, "$") && !strings.HasPrefix(s.word, "-") {
				add(srcToken{lit: true, str: s.word}, true, false)
			} else if s.lit && !strings.HasPrefix(s.str, "-") {
				add(s, true, false)
			}
		case "open":
			// open(FH, "-|", "cmd", …), open(FH, "cmd |"), open("|cmd"): the arguments
			// up to the call's end.
			for k := j; k < len(toks) && k < j+8 && toks[k].punct != ')' && toks[k].punct != ';'; k++ {
				s := toks[k]
				if !s.lit || s.dyn {
					continue
				}
				if t := strings.TrimSpace(s.str); t == "-|" || t == "|-" {
					if k+2 < len(toks) && toks[k+1].punct == ',' {
						add(toks[k+2], false, false)
					}
					break
				}
				if t := strings.TrimSpace(s.str); len(t) > 1 && (t[0] == '|' || t[len(t)-1] == '|') {
					add(srcToken{lit: true, str: strings.Trim(t, "| ")}, false, true)
					break
				}
			}
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
