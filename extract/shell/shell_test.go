package shell

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, src    string
		cmds, dyn    []string
		sources      []string
		noFunctionOf string
	}{
		{name: "separators", src: "a; b && c || d | e & f\n", cmds: []string{"a", "b", "c", "d", "e", "f"}},
		{name: "keywords", src: "if a; then b; elif c; then d; else e; fi\nwhile f; do g; done\nuntil h; do i; done\n", cmds: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}},
		{name: "substitutions", src: "x=$(a $(b)) y=`c`\necho \"$(d)\" `e`\n", cmds: []string{"a", "b", "c", "d", "e"}},
		{name: "prefixes", src: "command b\nenv -u X Y=1 c\nxargs -n 1 d\nnohup e\ncommand -v f\nif x; then exec g; fi\nexec a\nnever\n", cmds: []string{"b", "env", "c", "xargs", "d", "nohup", "e", "x", "g", "a"}},
		{name: "builtins and assignments", src: "set -e\nX=1 Y=2\n: ok\ncd /\necho a\n[ -x /b ] && test c\nread v\n", cmds: nil},
		{name: "functions", src: "f() { a; }\nfunction g { b; }\nh () {\n c\n}\nf; g; h\n", cmds: []string{"a", "b", "c"}},
		{name: "case", src: "case $1 in\n  start|run) a ;;\n  (stop) b ;;\n  *) c\n     ;;\nesac\nd\n", cmds: []string{"a", "b", "c", "d"}},
		{name: "for lists", src: "for x in a b c; do d $x; done\nfor y in e\ndo f; done\n", cmds: []string{"d", "f"}},
		{name: "heredoc", src: "cat <<EOF\nnot a command\nEOF\ncat <<-'END'\n\tnot either\n\tEND\nz\n", cmds: []string{"cat", "z"}},
		{name: "redirections", src: "a >/dev/null 2>&1 <in\nb 2> err\n>out c\n", cmds: []string{"a", "b", "c"}},
		{name: "comments and quotes", src: "# a comment\na 'b; c' \"d; e\" # f; g\n", cmds: []string{"a"}},
		{name: "arithmetic", src: "(( i++ ))\nx=$((1+2))\n[[ -n $x ]] && a\n", cmds: []string{"a"}},
		{name: "absolute and relative paths", src: "/usr/bin/a\n./b\n../c\n", cmds: []string{"/usr/bin/a"}},
		{name: "relative after cd", src: "cd /opt/tool\n./run.sh\ncd bin && ./x\ncd -P /srv; sub/y\ncd \"$(dirname \"$0\")\"\n./z\ncd\n./w\n",
			cmds: []string{"/opt/tool/run.sh", "/opt/tool/bin/x", "/srv/sub/y", "dirname"}},
		{name: "dynamic", src: "$cmd x\neval \"$y\"\nexec \"$@\"\n\"${tool}\" z\n", dyn: []string{"$cmd", "eval", `exec "$@"`, `"${tool}"`}},
		{name: "sourced", src: ". /lib/x.sh\nsource ./y.sh\n. \"$DIR/z.sh\"\n", sources: []string{"/lib/x.sh", "./y.sh"}, dyn: []string{`. "$DIR/z.sh"`}},
		{name: "sourced after cd", src: "cd /opt/app\n. ./env.sh\n. lib/common.sh\n. bare.sh\n", sources: []string{"/opt/app/env.sh", "/opt/app/lib/common.sh", "bare.sh"}},
		{name: "subshell and groups", src: "(a; b) | { c; d; }\n", cmds: []string{"a", "b", "c", "d"}},
		{name: "exec replaces the shell", src: "#!/bin/sh\n# \\\nexec tclsh \"$0\" \"$@\"\nproc foo {} { puts x }\n", cmds: []string{"tclsh"}},
		{name: "unterminated", src: "a \"$(b 'c\n", cmds: []string{"a", "b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Scan([]byte(tt.src))
			if !reflect.DeepEqual(r.Commands, tt.cmds) || !reflect.DeepEqual(r.Dynamic, tt.dyn) || !reflect.DeepEqual(r.Sources, tt.sources) {
				t.Errorf("Scan(%q) = %+v, want commands %q, dynamic %q, sources %q", tt.src, r, tt.cmds, tt.dyn, tt.sources)
			}
		})
	}
}

// TestScanArgCommands: the command lines that run the script's own arguments, as the
// official images' entrypoints end, with the passing-on prefixes left out; "$@" as an
// argument of a builtin (set --, echo) runs nothing.
func TestScanArgCommands(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, src string
		want      [][]string
	}{
		{name: "exec", src: "#!/bin/sh\nset -e\nif [ \"${1#-}\" != \"$1\" ]; then\n  set -- node \"$@\"\nfi\nexec \"$@\"\n", want: [][]string{{Args}}},
		{name: "wrapper", src: "exec gosu postgres \"$@\" --flag\n", want: [][]string{{"gosu", "postgres", Args, "--flag"}}},
		{name: "prefixes", src: "exec env -u X Y=1 \"${@}\"\nnohup $@ &\ncommand \"$@\"\n", want: [][]string{{Args}}},
		{name: "plain and in a substitution", src: "out=$(tool \"$@\")\n\"$@\"; echo \"$@\"\n", want: [][]string{{"tool", Args}, {Args}}},
		{name: "expansions kept as written", src: "runner --user \"$USER\" -- \"$@\" 2>/dev/null\n", want: [][]string{{"runner", "--user", `"$USER"`, "--", Args}}},
		{name: "none", src: "set -- a \"$@\"\necho \"$@\"\nprintf '%s' \"$*\"\nexec \"$cmd\"\n", want: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Scan([]byte(tt.src)).ArgCommands; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Scan(%q).ArgCommands = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
	if !RunsArgs(`exec "$@"`) || !RunsArgs(`env ${@}`) || RunsArgs(`exec "$cmd"`) || RunsArgs("eval") {
		t.Error("RunsArgs: want true for exec \"$@\" and env ${@} only")
	}
}

// TestScanLines: every command line with a literal command word, after the prefixes
// that pass it on, with its expansions marked and the directory a cd moved to;
// builtins, functions, cd and a command word that is an expansion give none.
func TestScanLines(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, src string
		want      []Line
		words     [][]string // Words with X=x known
	}{
		{name: "a known command word", src: "J=/usr/bin/java\nexec \"$J\" -jar app.jar\n",
			want: []Line{{Argv: []string{`"$J"`, "-jar", "app.jar"}}}, words: [][]string{{"/usr/bin/java", "-jar", "app.jar"}}},
		{name: "java entrypoint", src: "#!/bin/sh\nset -e\nexec java $JAVA_OPTS -jar /app/$X.jar \"$@\"\n",
			want: []Line{{Argv: []string{"java", "$JAVA_OPTS", "-jar", "/app/$X.jar", `"$@"`}}}, words: [][]string{{"java", "-jar", "/app/x.jar"}}},
		{name: "prefixes quotes and a substitution", src: "v=$(python3 -c 'import sys')\nnohup env A=1 node \"/opt/my app.js\" &\n",
			want:  []Line{{Argv: []string{"python3", "-c", "'import sys'"}}, {Argv: []string{"node", `"/opt/my app.js"`}}},
			words: [][]string{{"python3", "-c", "import sys"}, {"node", "/opt/my app.js"}}},
		{name: "after cd", src: "cd /srv\n./run --port 8 > /dev/null\ncd \"$Y\"\nrun2\n",
			want: []Line{{Argv: []string{"./run", "--port", "8"}, Dir: "/srv"}, {Argv: []string{"run2"}}}, words: [][]string{{"./run", "--port", "8"}, {"run2"}}},
		{name: "repeated once", src: "tool a\ntool a; tool b\n",
			want: []Line{{Argv: []string{"tool", "a"}}, {Argv: []string{"tool", "b"}}}, words: [][]string{{"tool", "a"}, {"tool", "b"}}},
		{name: "a function's body, not its call", src: "f() { helper $(date) x; }\nf\n",
			want: []Line{{Argv: []string{"date"}}, {Argv: []string{"helper", "$(date)", "x"}}}, words: [][]string{{"date"}, {"helper", "x"}}},
		{name: "a command word with an expansion", src: "exec \"$JAVA_HOME/bin/java\" -cp /a Main\n\"$@\"\n",
			want:  []Line{{Argv: []string{`"$JAVA_HOME/bin/java"`, "-cp", "/a", "Main"}}, {Argv: []string{`"$@"`}}},
			words: [][]string{nil, nil}},
		{name: "none", src: "echo /a\ncd /x\n[ -f /y ]\nexport A=/z\n", want: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Scan([]byte(tt.src)).Lines
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Scan(%q).Lines =\n%q, want\n%q", tt.src, got, tt.want)
			}
			var words [][]string
			for _, l := range got {
				words = append(words, l.Words(func(n string) (string, bool) {
					switch n {
					case "X":
						return "x", true
					case "J":
						return "/usr/bin/java", true
					}
					return "", false
				}))
			}
			if !reflect.DeepEqual(words, tt.words) {
				t.Errorf("Words = %q, want %q", words, tt.words)
			}
		})
	}
}

// TestScanRedirects: the files redirections name by a literal word, made absolute
// after a literal cd; descriptors, expansions and here-strings are no files.
func TestScanRedirects(t *testing.T) {
	t.Parallel()
	src := "#!/bin/sh\nwhile read -r l; do echo \"$l\"; done < /etc/app/list.txt\necho x >> '/var/log/app.log' 2>&1\n" +
		"cat < $F\ngrep x <<< /etc/not-a-file\ncd /srv\nsort < data.txt > /dev/null\ncat <<EOF\n< /etc/in-heredoc\nEOF\n"
	want := []string{"/etc/app/list.txt", "/var/log/app.log", "/srv/data.txt", "/dev/null"}
	if got := Scan([]byte(src)).Redirects; !reflect.DeepEqual(got, want) {
		t.Errorf("Redirects = %q, want %q", got, want)
	}
}

// TestScanIn: a script's own directory, however spelled, is read as the literal
// directory, so that what it names there is known: a cd to it, a variable of it, a
// command under it; dirname, which it runs to get there, stays a command; a directory
// the shell would split is not put in.
func TestScanIn(t *testing.T) {
	t.Parallel()
	src := "#!/bin/sh\nDIR=$(cd \"$(dirname \"$0\")\" && pwd)\n. \"$DIR/env.sh\"\n\"${0%/*}/bin/tool\" --x\ncd \"$(dirname \"$0\")\"\n./run.sh \"$1\"\n"
	res := ScanIn([]byte(src), "/opt/app")
	for _, c := range []string{"/opt/app/bin/tool", "/opt/app/run.sh", "dirname"} {
		if !slices.Contains(res.Commands, c) {
			t.Errorf("Commands %q: want %s", res.Commands, c)
		}
	}
	if !reflect.DeepEqual(res.Assigns["DIR"], []string{"/opt/app"}) {
		t.Errorf("Assigns[DIR] = %q, want /opt/app", res.Assigns["DIR"])
	}
	if got := string(WithScriptDir([]byte(src), "/my app")); got != src {
		t.Errorf("a directory with a blank was put in: %q", got)
	}
}

// TestScanDebianScripts reads every shell script in this machine's /bin and /usr/sbin:
// Scan never fails, and the commands it names are nearly all real programs (those it
// finds in no PATH directory are optional tools the scripts guard with command -v, or
// functions of files they source from a variable).
func TestScanDebianScripts(t *testing.T) {
	t.Parallel()
	var files []string
	for _, dir := range []string{"/usr/bin", "/usr/sbin"} {
		m, _ := filepath.Glob(dir + "/*")
		files = append(files, m...)
	}
	scripts, commands, unknown := 0, 0, 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !strings.HasPrefix(string(b), "#!") {
			continue
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if fields := strings.Fields(strings.TrimPrefix(line, "#!")); len(fields) == 0 ||
			!(isShellName(fields[0]) || filepath.Base(fields[0]) == "env" && len(fields) > 1 && isShellName(fields[1])) {
			continue
		}
		scripts++
		r := Scan(b)
		for _, c := range r.Commands {
			commands++
			if !validCommand(c) {
				t.Errorf("%s: invalid command %q", f, c)
			}
			if _, err := exec.LookPath(c); err != nil {
				unknown++
				t.Logf("%s: %s is not installed", f, c)
			}
		}
	}
	if scripts < 20 {
		t.Fatalf("only %d shell scripts in /usr/bin and /usr/sbin: the corpus is missing", scripts)
	}
	if unknown*5 > commands {
		t.Errorf("%d of %d commands are in no PATH directory: too many false commands", unknown, commands)
	}
	t.Logf("%d scripts, %d commands, %d not installed", scripts, commands, unknown)
}

func isShellName(p string) bool {
	switch filepath.Base(p) {
	case "sh", "bash", "dash":
		return true
	}
	return false
}

func FuzzScan(f *testing.F) {
	f.Add([]byte("#!/bin/sh\na | b && $(c `d`) \"$(e)\" <<EOF\nx\nEOF\ncase x in y) z;; esac\n"))
	f.Add([]byte("f() { (( i++ )); [[ x ]]; }; for a in b; do eval c; done; exec \"$@\""))
	f.Add([]byte("$(((((( ``` \"\"\" '''"))
	f.Fuzz(func(t *testing.T, src []byte) {
		r := Scan(src)
		for _, c := range r.Commands {
			if !validCommand(c) {
				t.Fatalf("invalid command %q", c)
			}
		}
		_ = Functions(src)
		// Every assigned value expands without a panic, whatever it holds.
		for _, vals := range r.Assigns {
			for _, v := range vals {
				Expand(v, func(n string) (string, bool) { return n, len(n)%2 == 0 })
			}
		}
	})
}

// FuzzExpand: any word expands or is refused, without a panic; a word with no $, quote,
// backslash or glob character expands to itself.
func FuzzExpand(f *testing.F) {
	f.Add(`"${A:-x}/$B"'c'\ d`)
	f.Add("${")
	f.Add(`$`)
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := Expand(raw, func(n string) (string, bool) { return "v", n != "X" })
		if !strings.ContainsAny(raw, "$'\"\\`*?[~") && (!ok || got != raw) {
			t.Fatalf("Expand(%q) = %q, %v; want it unchanged", raw, got, ok)
		}
	})
}

func TestScanAssigns(t *testing.T) {
	r := Scan([]byte("#!/bin/sh\nA=1\nexport JAVA=\"$JAVA_HOME/bin/java\" B=2\nlocal C=x\nA=1\nD=3 cmd arg\nA=2 E=4\nreadonly F='f g'\necho G=5\n"))
	want := map[string][]string{"A": {"1", "2"}, "JAVA": {`"$JAVA_HOME/bin/java"`}, "B": {"2"}, "C": {"x"}, "D": {"3"}, "E": {"4"}, "F": {"'f g'"}}
	if !maps.EqualFunc(r.Assigns, want, slices.Equal) {
		t.Errorf("Assigns = %q, want %q", r.Assigns, want)
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"HOME": "/opt/jdk", "EMPTY": "", "APP": "/app/server"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	for raw, want := range map[string]string{
		`"$HOME/bin/java"`:     "/opt/jdk/bin/java",
		`${HOME}/bin/java`:     "/opt/jdk/bin/java",
		`'$HOME'`:              "$HOME",
		`${NONE:-/usr/bin/x}`:  "/usr/bin/x",
		`${EMPTY:-/usr/bin/y}`: "/usr/bin/y",
		`${EMPTY-/usr/bin/y}`:  "",
		`"${APP}"`:             "/app/server",
		`a\ b`:                 "a b",
	} {
		if got, ok := Expand(raw, lookup); !ok || got != want {
			t.Errorf("Expand(%s) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	for _, raw := range []string{`$NONE`, `$(which java)`, "`which java`", `$1`, `"$@"`, `${HOME%/*}`, `${#HOME}`, `$HOME/*`, `~/bin`, `"unclosed`, `${HOME`} {
		if got, ok := Expand(raw, lookup); ok {
			t.Errorf("Expand(%s) = %q, want unknown", raw, got)
		}
	}
}
