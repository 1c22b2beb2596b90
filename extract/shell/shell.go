// Package shell owns the static reading of POSIX shell and bash scripts: which commands a
// script runs by name (at the start of a command, after `;`, `&&`, `||`, `|`, `then`,
// `do`, `else`, inside `$(…)` and backticks, and after `exec`, `command`, `xargs`, `env`,
// `nohup`), less the shell's builtins and the functions the script defines, and what it
// runs that cannot be known without running it (`$cmd`, `eval`, `exec "$@"`).
//
// It is a tokenizer, not a parser: it understands quotes, comments, here-documents,
// `case` patterns, `for` lists and redirections well enough that real scripts give no
// false commands, and it never fails: whatever the bytes, Scan returns.
package shell

import (
	"path"
	"slices"
	"strings"
)

// Result is what Scan found in a script.
type Result struct {
	// Commands are the programs the script runs, in the order first met: plain names
	// (looked up through PATH) and absolute paths, with a relative one after a `cd` to
	// a literal directory (cd /opt/tool; ./run.sh) made absolute.
	Commands []string
	// Dynamic lists, as written, what runs something Scan cannot name: a command word
	// with an expansion, eval, exec of an expansion, a file sourced from an expansion.
	Dynamic []string
	// Sources are the files the script reads with `.` or `source`, as written: their
	// functions and commands are the script's too.
	Sources []string
	// ArgCommands are the command lines that run the script's own arguments, as the
	// official images' docker-entrypoint.sh does with `exec "$@"` or `exec gosu app
	// "$@"`: their words as written, from the command word on, with Args standing for
	// the arguments. Prefixes that only pass the command on (exec, command, env with
	// its settings, nohup) are left out.
	ArgCommands [][]string
	// Lines are the command lines the script runs (not a builtin or a function of its
	// own), from the command word on less the prefixes ArgCommands leaves out, each
	// distinct line once: the arguments that rules read
	// (java -jar FILE, python3 -m MODULE) and the files a line names. At most maxLines.
	Lines []Line
	// Redirects are the files the script's redirections name (< FILE, > FILE, 2>>
	// FILE…) by a literal word, each once: made absolute after a cd to a literal
	// directory, as Commands are.
	Redirects []string
	// Assigns are the values the script gives its variables (NAME=VALUE before a
	// command or alone, and after export, readonly, local, declare or typeset), as
	// written, each distinct value once, for Expand.
	Assigns map[string][]string
}

// Line is one command line of a script.
type Line struct {
	// Argv are its words as written: Words reads them.
	Argv []string
	// Dir is the directory a cd to a literal directory moved to before the line, ""
	// when unknown: what a relative word names is there.
	Dir string
}

// maxLines bounds Lines: a script's work, not a generated file's, is what they serve.
const maxLines = 1024

// Args stands for the script's arguments ("$@") in ArgCommands.
const Args = "\x00$@"

// maxArgv bounds the words kept of one command line for ArgCommands.
const maxArgv = 64

// isArgs says whether a word, as written, is the script's arguments: "$@" or "${@}",
// quoted or not.
func isArgs(raw string) bool {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	return raw == "$@" || raw == "${@}"
}

// RunsArgs says whether an entry of Dynamic is a command line whose last word is the
// script's arguments ("exec \"$@\""), which ArgCommands holds too.
func RunsArgs(dynamic string) bool {
	f := strings.Fields(dynamic)
	return len(f) > 0 && isArgs(f[len(f)-1])
}

// maxScript bounds the bytes read: a script larger than this is data, not glue.
const maxScript = 4 << 20

// Scan reads a script and returns the commands it runs.
func Scan(src []byte) Result {
	if len(src) > maxScript {
		src = src[:maxScript]
	}
	s := &scanner{src: string(src)}
	s.frames = []*frame{newFrame(frameCode)}
	s.run()
	var r Result
	for _, c := range s.commands {
		if !s.funcs[c] && !slices.Contains(r.Commands, c) {
			r.Commands = append(r.Commands, c)
		}
	}
	for _, d := range s.dynamic {
		if !slices.Contains(r.Dynamic, d) {
			r.Dynamic = append(r.Dynamic, d)
		}
	}
	for _, d := range s.sources {
		if !slices.Contains(r.Sources, d) {
			r.Sources = append(r.Sources, d)
		}
	}
	for _, a := range s.argCommands {
		if !slices.ContainsFunc(r.ArgCommands, func(b []string) bool { return slices.Equal(a, b) }) {
			r.ArgCommands = append(r.ArgCommands, a)
		}
	}
	for _, l := range s.lines {
		if len(r.Lines) >= maxLines {
			break
		}
		if s.funcs[l.Argv[0]] || slices.ContainsFunc(r.Lines, func(m Line) bool { return m.Dir == l.Dir && slices.Equal(m.Argv, l.Argv) }) {
			continue
		}
		r.Lines = append(r.Lines, l)
	}
	for _, f := range s.redirects {
		if !slices.Contains(r.Redirects, f) {
			r.Redirects = append(r.Redirects, f)
		}
	}
	r.Assigns = s.assigns
	return r
}

// Expand reads one word as written (quotes, $NAME, ${NAME}, ${NAME:-WORD} and
// ${NAME-WORD}) with lookup giving variables' values; ok is false for what only a run
// can tell: a variable lookup does not know, a command substitution, a positional or
// special parameter, any other ${…} form, a glob or a tilde.
func Expand(raw string, lookup func(name string) (string, bool)) (string, bool) {
	var b strings.Builder
	quote := byte(0)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				b.WriteByte(c)
			}
		case c == '\'' && quote == 0:
			quote = c
		case c == '"':
			quote ^= '"'
		case c == '\\' && i+1 < len(raw):
			i++
			b.WriteByte(raw[i])
		case c == '$':
			v, n, ok := expandParam(raw[i+1:], lookup)
			if !ok {
				return "", false
			}
			b.WriteString(v)
			i += n
		case c == '`' || quote == 0 && (c == '*' || c == '?' || c == '[' || c == '~' && i == 0):
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), quote == 0
}

// noVars knows no variable: Expand with it reads quotes only.
func noVars(string) (string, bool) { return "", false }

// Words are the line's words as the shell gives them to the program, with lookup
// giving variables' values (Expand); a word only a run can tell ($OPTS, "$@") is left
// out, as an empty expansion would be: the options such words carry are the ones the
// line's readers can do without, and the literal words keep their meaning. It is nil
// when the command word is such a word.
func (l Line) Words(lookup func(name string) (string, bool)) []string {
	out := make([]string, 0, len(l.Argv))
	for i, raw := range l.Argv {
		w, ok := Expand(raw, lookup)
		switch {
		case ok:
			out = append(out, w)
		case i == 0:
			return nil
		}
	}
	return out
}

// expandParam expands the parameter after a $ at the start of rest, returning its value
// and the bytes it took.
func expandParam(rest string, lookup func(string) (string, bool)) (string, int, bool) {
	if strings.HasPrefix(rest, "{") {
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return "", 0, false
		}
		body := rest[1:end]
		name, def, hasDef := body, "", false
		if i := strings.IndexAny(body, ":-"); i >= 0 {
			op := body[i:]
			switch {
			case strings.HasPrefix(op, ":-"):
				name, def, hasDef = body[:i], op[2:], true
			case strings.HasPrefix(op, "-"):
				name, def, hasDef = body[:i], op[1:], true
			default:
				return "", 0, false
			}
		}
		if !validName(name) || strings.ContainsAny(def, "$`") {
			return "", 0, false
		}
		if v, ok := lookup(name); ok && (v != "" || !strings.HasPrefix(body[len(name):], ":")) {
			return v, end + 1, true
		}
		if hasDef {
			return def, end + 1, true
		}
		return "", 0, false
	}
	n := 0
	for n < len(rest) && (rest[n] == '_' || 'a' <= rest[n] && rest[n] <= 'z' || 'A' <= rest[n] && rest[n] <= 'Z' || n > 0 && '0' <= rest[n] && rest[n] <= '9') {
		n++
	}
	if n == 0 {
		return "", 0, false // $(…), $1, $@, $$…
	}
	v, ok := lookup(rest[:n])
	return v, n, ok
}

// Functions lists the functions a script defines, for the scripts that source it.
func Functions(src []byte) []string {
	if len(src) > maxScript {
		src = src[:maxScript]
	}
	s := &scanner{src: string(src)}
	s.frames = []*frame{newFrame(frameCode)}
	s.run()
	var out []string
	for f := range s.funcs {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// builtins are the commands dash and bash run themselves: no file is needed for them.
var builtins = strings.Fields(`: . [ [[ alias bg bind break builtin caller cd command compgen
	complete compopt continue declare dirs disown echo enable eval exec exit export false fc
	fg getopts hash help history jobs kill let local logout mapfile popd printf pushd pwd read
	readarray readonly return set shift shopt source suspend test times trap true type
	typeset ulimit umask unalias unset wait`)

func isBuiltin(w string) bool { return slices.Contains(builtins, w) }

// keywords that leave the next word in command position.
var openers = []string{"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"}

// keywords after which a separator must come before the next command.
var closers = []string{"fi", "done", "esac", "}", "]]"}

type frameKind int

const (
	frameCode     frameKind = iota // top level or inside $( )
	frameBacktick                  // inside ` `
	frameDouble                    // inside " "
)

// expect is what the next word of a frame is, beyond command or argument.
type expect int

const (
	expectNothing    expect = iota
	expectSkipLine          // `for x in …`: words up to the separator are data
	expectCaseIn            // `case WORD in`
	expectFuncName          // `function NAME`
	expectRedirect          // the file of a redirection
	expectHereString        // the word after <<<: text, not a file
	expectHeredoc           // the delimiter after <<
	expectArith             // inside (( )) or [[ ]]: no commands until the closer
	expectSource            // the file after . or source
)

// prefix is a command that runs the command named after its options.
type prefix struct {
	name string
	// withArg are its options that take the next word as their value.
	withArg []string
}

var prefixes = []prefix{
	{name: "exec", withArg: []string{"-a"}},
	{name: "command"},
	{name: "env", withArg: []string{"-u", "--unset", "-C", "--chdir"}},
	{name: "xargs", withArg: []string{"-I", "-n", "-P", "-d", "-L", "-s", "-E", "-a", "--arg-file", "--delimiter", "--max-args", "--max-procs"}},
	{name: "nohup"},
}

func prefixOf(w string) *prefix {
	for i := range prefixes {
		if prefixes[i].name == w {
			return &prefixes[i]
		}
	}
	return nil
}

// frame is one nesting level: the script itself, a command substitution, a
// double-quoted string.
type frame struct {
	kind   frameKind
	word   strings.Builder
	dyn    bool // the word has an expansion
	inWord bool
	start  int // byte offset of the word, for Dynamic

	cmdPos   bool    // the next word is a command
	expect   expect  // what the next word is, when not a command or argument
	pre      *prefix // the prefix command whose options are being skipped
	preSkip  bool    // the prefix's next word is an option value
	lastCmd  string  // the command word just seen, for `name()` definitions
	caseStk  []bool  // per open case: true while reading patterns
	arithEnd string  // the word that ends expectArith
	parens   int     // "(" open in this frame, so that ")" closes them before the frame
	// heredocTabs is whether the here-document being opened is <<- (tabs stripped).
	heredocTabs bool
	depth       int // open if/while/for/case/{ blocks: an exec inside one may not run
	execAt      int // where the prefix command word began
	funcParen   bool
	declaring   bool // the command is export, local…: its NAME=VALUE words assign
	// argv are the words of the command being read, from its command word on, for
	// ArgCommands; argsIn says one of them is the script's arguments.
	argv   []string
	argsIn bool
	// raws are the words of the command line as written; line says they are one for
	// Lines, run from dir.
	raws []string
	line bool
	dir  string
}

func newFrame(k frameKind) *frame { return &frame{kind: k, cmdPos: k != frameDouble} }

type scanner struct {
	src      string
	i        int
	frames   []*frame
	commands []string
	dynamic  []string
	assigns  map[string][]string
	funcs    map[string]bool
	sources  []string
	// cwd is the directory the last `cd` with a literal argument moved to ("" when
	// unknown): a relative command after it (cd /opt/tool; ./run.sh) runs from there.
	cwd    string
	cdFrom string // cwd before the cd being read
	// argCommands are the command lines that run the script's arguments.
	argCommands [][]string
	lines       []Line
	redirects   []string
	stop        bool      // the rest of the script is not shell
	stopping    bool      // the script ends with the command line being read
	heredocs    []heredoc // delimiters whose bodies start at the next newline
}

type heredoc struct {
	delim string
	tabs  bool // <<-: leading tabs are stripped
}

func (s *scanner) top() *frame { return s.frames[len(s.frames)-1] }

func (s *scanner) push(k frameKind) { s.frames = append(s.frames, newFrame(k)) }

func (s *scanner) pop() {
	s.endWord()
	s.endCommand(s.top())
	if len(s.frames) > 1 {
		s.frames = s.frames[:len(s.frames)-1]
	}
	// The substitution is part of the word that holds it.
	s.mark()
	s.owner().dyn = true
}

// owner is the frame whose word the cursor is in: a double-quoted string belongs to
// the word around it.
func (s *scanner) owner() *frame {
	if n := len(s.frames); n > 1 && s.frames[n-1].kind == frameDouble {
		return s.frames[n-2]
	}
	return s.top()
}

func (s *scanner) peek(n int) string {
	if s.i+n > len(s.src) {
		return s.src[s.i:]
	}
	return s.src[s.i : s.i+n]
}

func (s *scanner) run() {
	for s.i < len(s.src) && !s.stop {
		f := s.top()
		c := s.src[s.i]
		if f.kind == frameDouble {
			s.double(c)
			continue
		}
		switch {
		case c == '\n':
			s.endWord()
			s.i++
			s.separator()
			s.skipHeredocs()
		case c == ' ' || c == '\t' || c == '\r':
			s.endWord()
			s.i++
		case c == '#' && !f.inWord:
			for s.i < len(s.src) && s.src[s.i] != '\n' {
				s.i++
			}
		case c == '\\':
			if s.peek(2) == "\\\n" {
				s.i += 2
				continue
			}
			s.addByte(c)
			if s.i+1 < len(s.src) {
				s.addByte(s.src[s.i+1])
			}
			s.i += 2
		case c == '\'':
			s.addByte(c)
			s.i++
			for s.i < len(s.src) && s.src[s.i] != '\'' {
				s.addByte(s.src[s.i])
				s.i++
			}
			s.i++
		case c == '"':
			s.mark()
			s.i++
			s.push(frameDouble)
		case c == '`':
			if f.kind == frameBacktick {
				s.endWord() // before the closer, which is no part of the word
				s.i++
				s.pop()
			} else {
				s.mark()
				s.i++
				s.push(frameBacktick)
			}
		case c == '$':
			s.dollar()
		case c == ')' && f.kind == frameCode && len(s.frames) > 1 && f.parens == 0 && len(f.caseStk) == 0:
			s.endWord()
			s.i++
			s.pop()
		case s.peek(2) == "((" && f.cmdPos && !f.inWord:
			// Arithmetic: nothing inside runs.
			s.skipBalanced("((", "))")
			f.word.Reset()
			f.cmdPos = false
		default:
			if op := s.operator(); op != "" {
				s.endWordBefore(op)
				s.i += len(op)
				s.op(op)
				continue
			}
			s.addByte(c)
			s.i++
		}
	}
	for len(s.frames) > 1 {
		s.pop()
	}
	s.endWord()
	s.endCommand(s.top())
}

// double reads one step inside a double-quoted string.
func (s *scanner) double(c byte) {
	switch c {
	case '"':
		s.i++
		s.frames = s.frames[:len(s.frames)-1]
	case '\\':
		if s.i+1 < len(s.src) {
			s.addByte(s.src[s.i+1])
		}
		s.i += 2
	case '`':
		s.i++
		s.push(frameBacktick)
	case '$':
		s.dollar()
	default:
		s.addByte(c)
		s.i++
	}
}

// dollar reads an expansion: $(…) opens a command frame, $((…)), ${…} and $NAME make
// the word dynamic.
func (s *scanner) dollar() {
	f := s.owner()
	switch {
	case s.peek(3) == "$((":
		s.mark()
		f.dyn = true
		s.skipBalanced("$((", "))")
	case s.peek(2) == "$(":
		s.mark()
		s.i += 2
		s.push(frameCode)
	case s.peek(2) == "${":
		s.mark()
		f.dyn = true
		s.skipBalanced("${", "}")
	default:
		s.mark()
		f.dyn = true
		s.addByte('$')
		s.i++
	}
}

// skipBalanced skips from open to its matching close, counting nested opens.
func (s *scanner) skipBalanced(open, close string) {
	start := s.i
	s.i += len(open)
	depth := 1
	for s.i < len(s.src) && depth > 0 {
		switch {
		case strings.HasPrefix(s.src[s.i:], close):
			depth--
			s.i += len(close)
		case strings.HasPrefix(s.src[s.i:], open):
			depth++
			s.i += len(open)
		case s.src[s.i] == '\\':
			s.i += 2
		default:
			s.i++
		}
	}
	if s.i > len(s.src) {
		s.i = len(s.src)
	}
	s.owner().word.WriteString(s.src[start:s.i])
}

// operator returns the control or redirection operator at the cursor, if any.
func (s *scanner) operator() string {
	for _, op := range []string{";;&", "<<<", "<<-", ";;", ";&", "&&", "||", "|&", ">>", "<<", "&>", ">&", "<&", "<>", ">|", ";", "&", "|", "(", ")", "<", ">"} {
		if strings.HasPrefix(s.src[s.i:], op) {
			return op
		}
	}
	return ""
}

func (s *scanner) mark() {
	f := s.owner()
	if !f.inWord {
		f.inWord, f.start = true, s.i
	}
}

func (s *scanner) addByte(c byte) {
	s.mark()
	s.owner().word.WriteByte(c)
}

// endWordBefore ends the word before a redirection, dropping a file descriptor number
// ("2>&1") that is not a word.
func (s *scanner) endWordBefore(op string) {
	f := s.top()
	if f.inWord && (op[0] == '<' || op[0] == '>') && !f.dyn && isDigits(f.word.String()) {
		f.word.Reset()
		f.inWord = false
		return
	}
	s.endWord()
}

func isDigits(w string) bool {
	return w != "" && strings.Trim(w, "0123456789") == ""
}

func (s *scanner) endWord() {
	f := s.top()
	if !f.inWord {
		return
	}
	w, dyn, raw := f.word.String(), f.dyn, s.src[f.start:min(s.i, len(s.src))]
	f.word.Reset()
	f.inWord, f.dyn = false, false
	if f.kind == frameDouble {
		return
	}
	s.word(f, w, raw, dyn)
}

// word decides what one complete word is.
func (s *scanner) word(f *frame, w, raw string, dyn bool) {
	switch f.expect {
	case expectRedirect:
		f.expect = expectNothing
		// >&2, <&-: a descriptor, not a file.
		if v, ok := Expand(raw, noVars); ok && strings.Trim(v, "0123456789-") != "" && len(s.redirects) < maxLines {
			s.redirects = append(s.redirects, s.inCwd(v))
		}
		return
	case expectHereString:
		f.expect = expectNothing
		return
	case expectHeredoc:
		f.expect = expectNothing
		d := strings.NewReplacer(`'`, "", `"`, "", `\`, "").Replace(w)
		s.heredocs = append(s.heredocs, heredoc{delim: d, tabs: f.heredocTabs})
		return
	case expectSkipLine:
		return
	case expectArith:
		if w == f.arithEnd {
			f.expect, f.cmdPos = expectNothing, false
		}
		return
	case expectCaseIn:
		if w == "in" {
			f.expect = expectNothing
			f.caseStk = append(f.caseStk, true)
			f.cmdPos = false
		}
		return
	case expectFuncName:
		f.expect = expectNothing
		s.defineFunc(w)
		return
	case expectSource:
		f.expect = expectNothing
		if dyn {
			s.dynamic = append(s.dynamic, ". "+raw)
		} else if strings.Contains(w, "/") {
			s.sources = append(s.sources, s.inCwd(w))
		} else if w != "" {
			s.sources = append(s.sources, w) // looked up through PATH, as the shell does
		}
		return
	}
	if n := len(f.caseStk); n > 0 && f.caseStk[n-1] {
		// A pattern: words up to ")" match, they do not run.
		if w == "esac" {
			f.caseStk = f.caseStk[:n-1]
			f.cmdPos = false
			if f.depth > 0 {
				f.depth--
			}
		}
		return
	}
	if f.pre != nil {
		s.prefixWord(f, w, raw, dyn)
		return
	}
	if !f.cmdPos {
		if f.declaring {
			s.assignment(raw)
		}
		s.argument(f, w, raw, dyn)
		return
	}
	if !dyn && strings.Contains(w, "=") && !strings.HasPrefix(w, "=") && validName(w[:strings.IndexByte(w, '=')]) {
		s.assignment(raw)
		return // an assignment before the command
	}
	if dyn && strings.Contains(raw, "=") && validName(raw[:strings.IndexByte(raw, '=')]) {
		s.assignment(raw)
		return
	}
	f.declaring = slices.Contains([]string{"export", "readonly", "local", "declare", "typeset"}, w)
	s.command(f, w, raw, dyn)
}

// assignment records NAME=VALUE, as written.
func (s *scanner) assignment(raw string) {
	name, value, ok := strings.Cut(raw, "=")
	if !ok || !validName(name) {
		return
	}
	if s.assigns == nil {
		s.assigns = map[string][]string{}
	}
	if !slices.Contains(s.assigns[name], value) {
		s.assigns[name] = append(s.assigns[name], value)
	}
}

func validName(n string) bool {
	if n == "" || n[0] >= '0' && n[0] <= '9' {
		return false
	}
	for _, c := range n {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// command handles a word in command position.
func (s *scanner) command(f *frame, w, raw string, dyn bool) {
	f.lastCmd = ""
	switch {
	case slices.Contains(openers, w):
		if w == "if" || w == "while" || w == "until" || w == "{" {
			f.depth++
		}
		return
	case slices.Contains(closers, w):
		if w != "]]" && f.depth > 0 {
			f.depth--
		}
		f.cmdPos = false
		return
	case w == "for" || w == "select":
		f.expect = expectSkipLine
		f.depth++
		return
	case w == "case":
		f.expect, f.cmdPos = expectCaseIn, false
		f.depth++
		return
	case w == "function":
		f.expect = expectFuncName
		return
	case w == "[[":
		f.expect, f.arithEnd = expectArith, "]]"
		return
	case w == "eval":
		s.dynamic = append(s.dynamic, "eval")
		f.cmdPos = false
		return
	case w == "." || w == "source":
		f.expect, f.cmdPos = expectSource, false
		return
	case w == "cd":
		// Its argument, read by argument, says where the script goes.
		s.cdFrom, s.cwd = s.cwd, ""
		f.cmdPos = false
		f.argv, f.argsIn = []string{"cd"}, false
		return
	}
	f.cmdPos = false
	f.argv, f.argsIn, f.raws, f.line = nil, false, nil, false
	if dyn {
		s.dynamic = append(s.dynamic, raw)
		s.argsCommandWord(f, raw)
		s.startLine(f, raw)
		return
	}
	if p := prefixOf(w); p != nil {
		if !isBuiltin(w) {
			s.add(w)
		}
		f.pre, f.execAt = p, f.start
		return
	}
	if isBuiltin(w) {
		return
	}
	f.lastCmd = w
	f.argv = []string{w}
	s.startLine(f, raw)
	s.add(w)
}

// startLine starts the command line of f for Lines at its command word, as written.
func (s *scanner) startLine(f *frame, raw string) {
	f.raws, f.line, f.dir = []string{raw}, true, s.cwd
}

// argsCommandWord starts the command line of f at a command word that is an
// expansion: one that runs the script's arguments ("$@") is kept for ArgCommands.
func (s *scanner) argsCommandWord(f *frame, raw string) {
	if isArgs(raw) {
		f.argv, f.argsIn = []string{Args}, true
	}
}

// argument adds an argument word to the command line being read.
func (s *scanner) argument(f *frame, w, raw string, dyn bool) {
	if f.line && len(f.raws) < maxArgv {
		f.raws = append(f.raws, raw)
	}
	if f.argv == nil || len(f.argv) >= maxArgv {
		return
	}
	if len(f.argv) == 1 && f.argv[0] == "cd" {
		switch {
		case dyn || w == "-" || w == "~" || strings.HasPrefix(w, "~/"):
			s.cwd = ""
		case strings.HasPrefix(w, "-"):
			return // -P, -L: the directory comes next
		case path.IsAbs(w):
			s.cwd = path.Clean(w)
		case s.cdFrom != "":
			s.cwd = path.Join(s.cdFrom, w)
		}
		f.argv = append(f.argv, w)
		return
	}
	switch {
	case isArgs(raw):
		f.argv, f.argsIn = append(f.argv, Args), true
	case dyn:
		f.argv = append(f.argv, raw)
	default:
		f.argv = append(f.argv, w)
	}
}

// endCommand ends the command line of f, keeping it for Lines, and for ArgCommands
// when it runs the script's arguments.
func (s *scanner) endCommand(f *frame) {
	if f.argsIn {
		s.argCommands = append(s.argCommands, f.argv)
	}
	if f.line && len(s.lines) < 4*maxLines {
		s.lines = append(s.lines, Line{Argv: f.raws, Dir: f.dir})
	}
	f.argv, f.argsIn, f.raws, f.line = nil, false, nil, false
}

// prefixWord reads the words after exec, command, env, xargs, nohup: options, then the
// command they run.
func (s *scanner) prefixWord(f *frame, w, raw string, dyn bool) {
	p := f.pre
	switch {
	case f.preSkip:
		f.preSkip = false
		return
	case p.name == "command" && (w == "-v" || w == "-V"):
		f.pre = nil // a lookup: nothing runs
		return
	case strings.HasPrefix(w, "-") && !dyn:
		f.preSkip = slices.Contains(p.withArg, w)
		return
	case p.name == "env" && strings.Contains(w, "="):
		return
	}
	f.pre = nil
	if dyn {
		s.dynamic = append(s.dynamic, p.name+" "+raw)
		s.argsCommandWord(f, raw)
		s.startLine(f, raw)
		return
	}
	f.cmdPos = true
	s.command(f, w, raw, dyn)
	if p.name == "exec" && len(s.frames) == 1 && f.depth == 0 && s.lineStart(f.execAt) {
		// An exec at the top of the script replaces the shell: what follows its
		// command line is another language's (the `exec tclsh "$0"` trick) or never runs.
		s.stopping = true
	}
}

// lineStart says whether offset i begins a line.
func (s *scanner) lineStart(i int) bool { return i == 0 || s.src[i-1] == '\n' }

func (s *scanner) add(w string) {
	if strings.Contains(w, "/") {
		w = s.inCwd(w)
	}
	if validCommand(w) {
		s.commands = append(s.commands, w)
	}
}

// inCwd is the relative name w made absolute in the directory a literal cd moved to,
// when there was one; w otherwise.
func (s *scanner) inCwd(w string) string {
	if s.cwd != "" && !path.IsAbs(w) {
		return path.Join(s.cwd, w)
	}
	return w
}

// validCommand accepts plain program names and absolute paths, so that a mis-read word
// (a pattern, a redirection target) never becomes a file to look for.
func validCommand(w string) bool {
	if w == "" || len(w) > 255 {
		return false
	}
	name := w
	if strings.HasPrefix(w, "/") {
		name = strings.ReplaceAll(w[1:], "/", "")
	} else if strings.Contains(w, "/") || w[0] == '-' || w[0] == '.' {
		return false
	}
	for _, c := range name {
		if !(c == '_' || c == '-' || c == '.' || c == '+' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return name != ""
}

func (s *scanner) defineFunc(name string) {
	if s.funcs == nil {
		s.funcs = map[string]bool{}
	}
	s.funcs[strings.TrimSuffix(name, "()")] = true
}

// op handles a control or redirection operator.
func (s *scanner) op(op string) {
	f := s.top()
	switch op {
	case "<<", "<<-":
		f.expect, f.heredocTabs = expectHeredoc, op == "<<-"
	case "<", ">", ">>", "&>", ">&", "<&", "<>", ">|":
		f.expect = expectRedirect
	case "<<<":
		f.expect = expectHereString
	case "(":
		f.parens++
		if f.lastCmd != "" {
			// name() { …; }: a function definition, not a command.
			s.defineFunc(f.lastCmd)
			f.lastCmd = ""
			f.cmdPos, f.funcParen = false, true
			return
		}
		if n := len(f.caseStk); n > 0 && f.caseStk[n-1] {
			return // the optional "(" before a case pattern
		}
		f.cmdPos = true
	case ")":
		if f.parens > 0 {
			f.parens--
		}
		if f.funcParen {
			f.funcParen, f.cmdPos = false, true // the body follows
			return
		}
		if n := len(f.caseStk); n > 0 && f.caseStk[n-1] {
			f.caseStk[n-1] = false
			f.cmdPos = true
			return
		}
		f.cmdPos = false
	case ";;", ";&", ";;&":
		if n := len(f.caseStk); n > 0 {
			f.caseStk[n-1] = true
		}
		s.separator()
	default: // ; & && || | |&
		s.separator()
	}
	if op != "(" && op != ")" {
		f.lastCmd = ""
	}
}

// separator ends a command: the next word is a command again.
func (s *scanner) separator() {
	f := s.top()
	s.endCommand(f)
	if s.stopping && len(s.frames) == 1 {
		s.stop = true
	}
	f.cmdPos, f.pre, f.preSkip, f.lastCmd = true, nil, false, ""
	if f.expect == expectSkipLine || f.expect == expectRedirect || f.expect == expectFuncName {
		f.expect = expectNothing
	}
	if n := len(f.caseStk); n > 0 && f.caseStk[n-1] {
		f.cmdPos = false
	}
}

// skipHeredocs skips the bodies of the here-documents opened on the line just ended.
func (s *scanner) skipHeredocs() {
	for len(s.heredocs) > 0 {
		h := s.heredocs[0]
		s.heredocs = s.heredocs[1:]
		for s.i < len(s.src) {
			end := strings.IndexByte(s.src[s.i:], '\n')
			line := s.src[s.i:]
			if end >= 0 {
				line = line[:end]
			}
			next := len(s.src)
			if end >= 0 {
				next = s.i + end + 1
			}
			s.i = next
			if h.tabs {
				line = strings.TrimLeft(line, "\t")
			}
			if strings.TrimRight(line, "\r") == h.delim {
				break
			}
		}
	}
}

// scriptDirIdioms are the ways scripts spell their own directory, longest first so
// that one holding another is replaced whole.
var scriptDirIdioms = []string{
	`$(cd "$(dirname "$0")" && pwd)`, `$(cd "$(dirname "$0")"; pwd)`, `$(cd $(dirname $0) && pwd)`, `$(cd $(dirname $0); pwd)`,
	`$(cd -- "$(dirname -- "$0")" && pwd)`, `$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)`, `$(cd "$(dirname "$BASH_SOURCE")" && pwd)`,
	`$(dirname "$(readlink -f "$0")")`, `$(dirname $(readlink -f $0))`, `$(realpath "$(dirname "$0")")`,
	`$(dirname -- "$0")`, `$(dirname "$0")`, `$(dirname $0)`, "`dirname $0`", "`dirname \"$0\"`",
	`$(dirname "${BASH_SOURCE[0]}")`, `$(dirname "$BASH_SOURCE")`, `$(dirname ${BASH_SOURCE[0]})`,
	`${0%/*}`,
}

// ScanIn is Scan of a script run from the directory dir ($0's): the spellings of its
// own directory (cd "$(dirname "$0")", DIR=$(cd "$(dirname "$0")" && pwd),
// "${0%/*}/bin/tool") are read as dir (WithScriptDir), so that what they name is
// known, and the programs they run (dirname, readlink) stay among Commands. A dir of
// "" is Scan.
func ScanIn(src []byte, dir string) Result {
	sub := WithScriptDir(src, dir)
	res := Scan(sub)
	if len(sub) == len(src) && string(sub) == string(src) {
		return res
	}
	for _, idiom := range scriptDirIdioms {
		if !strings.Contains(string(src), idiom) {
			continue
		}
		for _, c := range Scan([]byte(idiom)).Commands {
			if !slices.Contains(res.Commands, c) {
				res.Commands = append(res.Commands, c)
			}
		}
	}
	return res
}

// WithScriptDir is the script src with the spellings of its own directory replaced by
// dir (see ScanIn). A dir the shell would split or expand is left alone.
func WithScriptDir(src []byte, dir string) []byte {
	if dir == "" || strings.ContainsFunc(dir, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '_' || r == '-' || r == '+' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) || !strings.Contains(string(src), "0") {
		return src
	}
	s := string(src)
	for _, idiom := range scriptDirIdioms {
		s = strings.ReplaceAll(s, idiom, dir)
	}
	return []byte(s)
}
