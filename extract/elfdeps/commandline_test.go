package elfdeps

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// TestClosureCommandLine: the program the config starts brings what its arguments run:
// a shell's -c command or script file, the command of an exec wrapper (and, through
// it, that command's own arguments).
func TestClosureCommandLine(t *testing.T) {
	t.Parallel()
	static := file(mkELF(t, elfSpec{}))
	m := fstest.MapFS{
		"bin/sh":          static,
		"bin/tini":        static,
		"bin/busybox":     static,
		"usr/sbin/gosu":   static,
		"usr/bin/env":     static,
		"usr/bin/node":    static,
		"usr/bin/python3": static,
		"usr/bin/date":    static,
		"usr/bin/unused":  static,
		"app/run.sh":      text("#!/bin/sh\ndate\n"),
	}
	for _, tc := range []struct {
		argv []string
		want []string
	}{
		{[]string{"/bin/sh", "-c", "node /app/x.js && python3 -V"}, []string{"usr/bin/node", "usr/bin/python3"}},
		{[]string{"/bin/sh", "-ec", "exec node /app/x.js"}, []string{"usr/bin/node"}},
		{[]string{"/bin/sh", "/app/run.sh"}, []string{"app/run.sh", "usr/bin/date"}},
		{[]string{"run.sh"}, nil}, // not a shell: its own #! line decides
		{[]string{"/bin/tini", "--", "node", "/app/x.js"}, []string{"usr/bin/node"}},
		{[]string{"/bin/busybox", "echo", "hi"}, nil}, // an applet: no script named echo
		{[]string{"/bin/busybox", "sh", "-c", "node x.js"}, []string{"usr/bin/node"}},
		{[]string{"/bin/tini", "-p", "SIGTERM", "node"}, []string{"usr/bin/node"}},
		{[]string{"/bin/tini", "--", "sh", "-c", "python3 app.py"}, []string{"bin/sh", "usr/bin/python3"}},
		{[]string{"/usr/sbin/gosu", "app", "node", "/app/x.js"}, []string{"usr/bin/node"}},
		{[]string{"/usr/bin/env", "-u", "X", "NODE_ENV=production", "node", "x.js"}, []string{"usr/bin/node"}},
	} {
		opts := []Option{WithPath("/bin:/usr/bin"), WithWorkdir("/app")}
		if len(tc.argv) > 0 {
			opts = append(opts, WithArgs(tc.argv[0], tc.argv[1:]))
		}
		prog := tc.argv[0]
		if prog == "run.sh" {
			prog = "/app/run.sh"
			opts = append(opts, WithArgs(prog, nil))
		}
		got := closureReasons(t, m, prog, opts...)
		for _, w := range tc.want {
			if _, ok := got[w]; !ok {
				t.Errorf("%q: %s not taken (%v)", tc.argv, w, got)
			}
		}
		if _, ok := got["usr/bin/unused"]; ok {
			t.Errorf("%q took a program nothing runs", tc.argv)
		}
	}
}

func TestWrapped(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"tini", []string{"--", "node", "a.js"}, []string{"node", "a.js"}},
		{"tini", []string{"-s", "-p", "SIGTERM", "node"}, []string{"node"}},
		{"dumb-init", []string{"--rewrite", "15:2", "--", "python3", "x"}, []string{"python3", "x"}},
		{"gosu", []string{"app:app", "npm", "start"}, []string{"npm", "start"}},
		{"su-exec", []string{"app", "x"}, []string{"x"}},
		{"timeout", []string{"-s", "KILL", "30", "sleep", "1"}, []string{"sleep", "1"}},
		{"env", []string{"-i", "A=1", "B=2", "node"}, []string{"node"}},
		{"env", []string{"A=1"}, nil},
		{"node", []string{"a.js"}, nil},
	} {
		if got := wrapped(tc.name, tc.args); !slices.Equal(got, tc.want) {
			t.Errorf("wrapped(%s, %q) = %q, want %q", tc.name, tc.args, got, tc.want)
		}
	}
}

// TestCommandLineBusyboxApplet: busybox APPLET ARGS names nothing missing (the first
// argument is an applet, not a script), as the fidelity check sees it.
// TestClosureArgCommands: a script the config starts that runs its own arguments
// (exec "$@", exec gosu app "$@", a sourced file's "$@", sh -c 'exec "$@"' sh …) runs
// the config's arguments: they are taken with what they run in turn. Without the
// config's arguments "$@" stays a warning.
func TestClosureArgCommands(t *testing.T) {
	t.Parallel()
	static := file(mkELF(t, elfSpec{}))
	m := fstest.MapFS{
		"bin/sh":          static,
		"usr/sbin/gosu":   static,
		"usr/bin/node":    static,
		"usr/bin/python3": static,
		"usr/bin/unused":  static,
		"app/entry.sh":    file([]byte("#!/bin/sh\nset -e\nif [ \"${1#-}\" != \"$1\" ]; then set -- node \"$@\"; fi\nexec \"$@\"\n")),
		"app/gosu.sh":     file([]byte("#!/bin/sh\nexec gosu app \"$@\"\n")),
		"app/lib.sh":      text("start() { exec \"$@\"; }\n"),
		"app/sourcing.sh": file([]byte("#!/bin/sh\n. /app/lib.sh\nstart \"$@\"\n")),
		"app/nested.sh":   file([]byte("#!/bin/sh\nexec /app/entry.sh \"$@\"\n")),
	}
	for _, tc := range []struct {
		argv []string
		want []string
	}{
		{[]string{"/app/entry.sh", "node", "/app/x.js"}, []string{"usr/bin/node"}},
		{[]string{"/app/entry.sh", "python3", "-c", "print(1)"}, []string{"usr/bin/python3"}},
		{[]string{"/app/gosu.sh", "python3", "/app/x.py"}, []string{"usr/sbin/gosu", "usr/bin/python3"}},
		{[]string{"/app/sourcing.sh", "node", "x.js"}, []string{"app/lib.sh", "usr/bin/node"}},
		{[]string{"/app/nested.sh", "python3", "x.py"}, []string{"app/entry.sh", "usr/bin/python3"}},
		{[]string{"/bin/sh", "-c", "exec \"$@\"", "sh", "node", "x.js"}, []string{"usr/bin/node"}},
		{[]string{"/bin/sh", "/app/entry.sh", "python3", "x.py"}, []string{"usr/bin/python3"}},
	} {
		var warns []string
		opts := []Option{WithPath("/bin:/usr/bin:/usr/sbin"), WithWorkdir("/app"), WithArgs(tc.argv[0], tc.argv[1:]),
			WithWarn(func(s string) { warns = append(warns, s) })}
		got := closureReasons(t, m, tc.argv[0], opts...)
		for _, w := range tc.want {
			if _, ok := got[w]; !ok {
				t.Errorf("%q: %s not taken (%v)", tc.argv, w, got)
			}
		}
		for _, p := range []string{"usr/bin/unused", "usr/bin/node", "usr/bin/python3"} {
			if _, ok := got[p]; ok && !slices.Contains(tc.want, p) {
				t.Errorf("%q took %s, which it does not run (%s)", tc.argv, p, got[p])
			}
		}
		if len(warns) > 0 {
			t.Errorf("%q: warnings %q, want none: its arguments are known", tc.argv, warns)
		}
	}

	// Arguments no PATH directory holds (the script may rewrite them: set -- node "$@")
	// are a warning; a script no config starts keeps "$@" as a warning too.
	for _, args := range [][]string{{"app.js"}, nil} {
		var warns []string
		opts := []Option{WithPath("/bin:/usr/bin"), WithWarn(func(s string) { warns = append(warns, s) })}
		if args != nil {
			opts = append(opts, WithArgs("/app/entry.sh", args))
		}
		got := closureReasons(t, m, "app/entry.sh", opts...)
		if _, ok := got["usr/bin/node"]; ok {
			t.Errorf("args %q: node taken, but no argument names it", args)
		}
		want := "app.js is found in no PATH directory"
		if args == nil {
			want = `exec "$@"`
		}
		if len(warns) != 1 || !strings.Contains(warns[0], want) {
			t.Errorf("args %q: warnings %q, want one naming %q", args, warns, want)
		}
	}
}

func TestCommandLineBusyboxApplet(t *testing.T) {
	m := fstest.MapFS{"bin/busybox": file(mkELF(t, elfSpec{}))}
	missing, err := Unresolved(m, "bin/busybox", WithArgs("/bin/busybox", []string{"echo", "hi"}))
	if err != nil || len(missing) != 0 {
		t.Fatalf("Unresolved = %q, %v; want nothing missing", missing, err)
	}
	missing, err = Unresolved(m, "bin/busybox", WithArgs("/bin/busybox", []string{"sh", "/app/gone.sh"}))
	if err != nil || len(missing) != 1 || !strings.Contains(missing[0], "gone.sh") {
		t.Fatalf("Unresolved = %q, %v; want the missing script", missing, err)
	}
}
