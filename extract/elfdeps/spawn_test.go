package elfdeps

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSpawnedBy(t *testing.T) {
	ex := func(s string) spawned { return spawned{argv0: s} }
	sh := func(s string) spawned { return spawned{shell: s} }
	for _, tc := range []struct {
		name, src string
		py        bool
		want      []spawned
	}{
		{"python forms", `import subprocess, os, shutil
import subprocess as sp
from subprocess import run as go
subprocess.run(["uname", "-s"], check=True)
sp.check_output(['git', 'rev-parse', 'HEAD'])
go(["ffmpeg", "-i", x])
subprocess.Popen("convert in.png out.jpg", shell=True)
os.system("date +%Y | tr -d 0")
os.execvp("nginx", ["nginx"])
shutil.which(r"pg_dump")
subprocess.call(f"rm {path}", shell=True)  # built at run time
subprocess.run(cmd)  # a variable
# os.system("commented")
x = "os.system('in a string')"
run(["not-subprocess"])
`, true, []spawned{ex("uname"), ex("git"), ex("ffmpeg"), sh("convert in.png out.jpg"), sh("date +%Y | tr -d 0"), ex("nginx"), ex("pg_dump")}},
		{"node forms", "const { execSync, spawn } = require('node:child_process');\n" +
			"execSync('uname -s');\nspawn(\"ffmpeg\", ['-i', f]);\ncp.execFileSync(`basename`, ['/x']);\n" +
			"exec(`ls ${dir}`);\n// execSync('commented')\n/* spawn('blocked') */\nre.test('x');\nconsole.log(`id ${execSync('id -u')}`);\n",
			false, []spawned{sh("uname -s"), ex("ffmpeg"), ex("basename"), sh("id -u")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lang, ok := nodeSpawn([]byte(tc.src))
			if tc.py {
				lang, ok = pythonSpawn([]byte(tc.src))
			}
			if !ok {
				t.Fatal("no spawn language")
			}
			if got := spawnedBy([]byte(tc.src), lang); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("spawnedBy:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		family, src string
		want        []spawned
	}{
		{"perl", "use strict;\nsystem(\"uname\", \"-s\");\nsystem 'date +%Y';\nmy $k = `hostname`;\nmy $v = qx{id -u};\n" +
			"open(my $fh, '-|', 'git', 'log') or die;\nopen(my $gh, \"sort -u |\");\nopen(my $in, '<', '/etc/passwd');\n" +
			"system(\"rm $file\");\nmy $x = `ls $dir`;\n$dbh->do('sleep 1');\nmy $s = q{it's};\nsystem('tar');\n" +
			"# system('commented');\nprint $#ARGV; exec { 'x' } @args;\nreadpipe('whoami');\n",
			[]spawned{ex("uname"), sh("date +%Y"), sh("hostname"), sh("id -u"), ex("git"), sh("sort -u"), ex("tar"), sh("whoami")}},
		{"ruby", "require 'open3'\nsystem('uname', '-s')\nsystem \"date +%Y\"\nv = `hostname`\nw = %x(id -u)\n" +
			"out, st = Open3.capture2('git', 'status')\nIO.popen(['ls', '-l']) { |io| io.read }\nopen('|sort -u')\n" +
			"Process.spawn('sleep 1')\nsystem(\"rm #{file}\")\ndb.exec('SELECT 1')\n# system('commented')\nKernel.exec('nginx')\nputs \"v #{`whoami`.strip} #{x}\"\n",
			[]spawned{ex("uname"), sh("date +%Y"), sh("hostname"), sh("id -u"), ex("git"), ex("ls"), sh("sort -u"), sh("sleep 1"), ex("nginx"), sh("whoami")}},
		{"php", "<?php\n$u = shell_exec('uname -s');\nexec(\"date\", $out);\nsystem('hostname');\npassthru(\"ls $dir\");\n" +
			"$p = popen('sort -u', 'r');\n$pr = proc_open(['git', 'status'], $spec, $pipes);\n$v = `id -u`;\n$pdo->exec('CREATE TABLE t');\n" +
			"// system('commented');\n# exec('hashed');\n/* passthru('blocked') */\npcntl_exec('/usr/bin/env', ['x']);\n",
			[]spawned{sh("uname -s"), sh("date"), sh("hostname"), sh("sort -u"), ex("git"), sh("id -u"), ex("/usr/bin/env")}},
		{"lua", "local h = io.popen('uname -s')\nos.execute(\"date\")\nos.execute 'hostname'\nos.execute(cmd)\n",
			[]spawned{sh("uname -s"), sh("date"), sh("hostname")}},
		{"tcl", "set y [exec date +%Y]\nexec /usr/bin/uname -s\nset f [open \"|sort -u\" r]\nexec $prog\n# exec commented\nputs \"at [exec hostname] [string length x]\"\n",
			[]spawned{ex("date"), ex("/usr/bin/uname"), sh("sort -u"), ex("hostname")}},
	} {
		t.Run(tc.family, func(t *testing.T) {
			lang, ok := scriptSpawn(tc.family)([]byte(tc.src))
			if !ok {
				t.Fatal("no spawn language")
			}
			if got := spawnedBy([]byte(tc.src), lang); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("spawnedBy:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	if _, ok := nodeSpawn([]byte("execSync('ls')")); ok {
		t.Error("a source that loads neither child_process nor execa starts nothing")
	}
}

// TestClosureSpawned: the programs an app's Python source starts come with what they
// need (through PATH, /bin/sh for a command line and what the line runs); one the
// image lacks is a warning; what an installed library starts takes nothing.
func TestClosureSpawned(t *testing.T) {
	t.Parallel()
	m, site := pythonSite(t, map[string]string{"lib/__init__.py": "import subprocess\nsubprocess.run(['libtool'])\n"})
	for _, p := range []string{"usr/bin/git", "bin/sh", "usr/bin/date", "usr/bin/libtool"} {
		m[p] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	}
	m["app/main.py"] = text("import os, subprocess, lib\nsubprocess.run(['git', 'status'])\nos.system('date | missing-tool')\n")
	var warned []string
	got := pythonImportReasons(t, m, "app/main.py", WithPath("/usr/bin:/bin"), WithWarn(func(s string) { warned = append(warned, s) }))
	for p, why := range map[string]string{
		"usr/bin/git":  `program "git" run by /app/main.py`,
		"bin/sh":       `/bin/sh, the shell of the command line "date | missing-tool" run by /app/main.py`,
		"usr/bin/date": "",
	} {
		r, ok := got[p]
		if !ok || why != "" && r != why {
			t.Errorf("%s: taken %v, reason %q, want %q", p, ok, r, why)
		}
	}
	if r, ok := got["usr/bin/libtool"]; ok {
		t.Errorf("libtool, started by an installed library, taken: %s", r)
	}
	if _, ok := got[site+"lib/__init__.py"]; !ok {
		t.Error("the imported library is not taken")
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "missing-tool") {
		t.Errorf("warnings %q, want one about missing-tool", warned)
	}
}

func TestPythonPathDirs(t *testing.T) {
	src := "import sys, site, os\nsys.path.insert(0, '/opt/lib')\nsys.path.append(\"/srv/plugins\")\nsite.addsitedir(r'/opt/site')\n" +
		"sys.path.insert(0, os.path.dirname(__file__))\nsys.path.append('relative')\n# sys.path.append('/commented')\nsys.path.insert(1, f'/opt/{v}')\n" +
		"sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'vendor'))\nHERE = Path(__file__).resolve().parent\nsys.path.append(str(HERE / 'plugins'))\n" +
		"sys.path.append(os.path.join(os.getcwd(), 'lib'))\nsys.path.append(os.path.join(unknown, 'x'))\n"
	want := []string{"/opt/lib", "/srv/plugins", "/opt/site", "/srv/app", "/srv/vendor", "/srv/app/plugins", "/work/lib"}
	if got := pythonPathDirs([]byte(src), "srv/app/main.py", "/work"); !reflect.DeepEqual(got, want) {
		t.Errorf("pythonPathDirs = %q, want %q", got, want)
	}
}

// TestClosurePythonPathDirs: a module the app imports from a directory its source adds
// to sys.path comes from there, with what it imports in turn.
func TestClosurePythonPathDirs(t *testing.T) {
	t.Parallel()
	m, site := pythonSite(t, map[string]string{"yaml/__init__.py": ""})
	m["opt/lib/helper.py"] = text("import yaml\n")
	m["app/s.py"] = text("import sys\nsys.path.insert(0, '/opt/lib')\nimport helper\n")
	got := pythonImportReasons(t, m, "app/s.py")
	for p, why := range map[string]string{
		"opt/lib/helper.py":       "module helper imported by /app/s.py",
		site + "yaml/__init__.py": "module yaml imported by /opt/lib/helper.py",
	} {
		if got[p] != why {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
}

// TestClosurePythonLocalModules: an app source's sibling modules and packages come,
// with what they import; a name its directory does not have is looked for in the site
// directories only.
func TestClosurePythonLocalModules(t *testing.T) {
	t.Parallel()
	m, site := pythonSite(t, map[string]string{"yaml/__init__.py": "", "helper2.py": ""})
	m["opt/svc/main.py"] = text("import helper, pkg.sub\nimport helper2\n")
	m["opt/svc/helper.py"] = text("import yaml\n")
	m["opt/svc/pkg/__init__.py"] = text("")
	m["opt/svc/pkg/sub.py"] = text("")
	m["opt/svc/unused.py"] = text("")
	got := pythonImportReasons(t, m, "opt/svc/main.py")
	for p, why := range map[string]string{
		"opt/svc/helper.py":       "module helper next to /opt/svc/main.py",
		"opt/svc/pkg/sub.py":      "module pkg next to /opt/svc/main.py",
		site + "yaml/__init__.py": "module yaml imported by /opt/svc/helper.py",
		site + "helper2.py":       "module helper2 imported by /opt/svc/main.py",
	} {
		if got[p] != why {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	if r, ok := got["opt/svc/unused.py"]; ok {
		t.Errorf("unused.py taken: %s", r)
	}
}

// TestSourcePaths: absolute paths in literal strings and in joins of literal strings,
// relative names as ones the image may have; f-strings, templates, paths with blanks,
// comments and joins with a variable are not.
func TestSourcePaths(t *testing.T) {
	t.Parallel()
	py := `import os
CONFIG = '/etc/myapp/config.json'  # '/etc/in-a-comment'
TPL = os.path.join('/usr/share/myapp', 'templates', 'base.html')
ABS = os.path.join('/ignored', '/opt/abs.txt')
VAR = os.path.join('/etc', name)
F = f'/etc/{name}.conf'
REL = 'data/x.json'
SPACE = '/a b'
`
	if got, want := sourcePaths([]byte(py), true, "app/a.py", "/"), []namedPath{
		{path: "/etc/myapp/config.json"}, {path: "/usr/share/myapp/templates/base.html"}, {path: "/opt/abs.txt"}, {path: "/etc"},
		{path: "/app/data/x.json", own: true, maybe: true}, // REL, from the source's directory (the working directory is /)
	}; !slices.Equal(got, want) {
		t.Errorf("python: %v, want %v", got, want)
	}
	js := "const p = require('path');\n// '/etc/comment'\nconst c = fs.readFileSync(\"/etc/myapp/c.json\");\nconst d = p.resolve('/srv', 'web', 'x.html');\nconst e = `/etc/${n}`;\n"
	if got, want := sourcePaths([]byte(js), false, "app/a.js", "/"), []namedPath{{path: "/etc/myapp/c.json"}, {path: "/srv/web/x.html"}}; !slices.Equal(got, want) {
		t.Errorf("js: %v, want %v", got, want)
	}
}

// TestSourcePathsOwnLocation: paths named from where the app is, the way Python and
// Node apps spell it, through names assigned such a value; what depends on a run
// (a variable, an f-string, a call the rule does not know) is not read.
func TestSourcePathsOwnLocation(t *testing.T) {
	t.Parallel()
	py := `import os
from pathlib import Path
HERE = os.path.dirname(os.path.abspath(__file__))
BASE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = os.path.join(HERE, 'templates')
DB = BASE_DIR / 'db' / 'app.sqlite3'
CFG = Path(__file__).parent.joinpath('conf', 'app.toml').read_text()
UP = Path(__file__).parents[1] / 'shared'
LOGS = os.path.join(os.getcwd(), 'logs')
CAT = os.path.dirname(__file__) + '/static'
GONE = os.path.join(HERE, name)
F = f'{HERE}/x'
`
	want := []namedPath{
		{path: "/srv/app/pkg", own: true}, {path: "/srv/app", own: true}, {path: "/srv/app/pkg/templates", own: true},
		{path: "/srv/app/db/app.sqlite3", own: true}, {path: "/srv/app/pkg/conf/app.toml", own: true}, {path: "/srv/app/shared", own: true},
		{path: "/work/logs", own: true}, {path: "/srv/app/pkg/static", own: true},
	}
	if got := sourcePaths([]byte(py), true, "srv/app/pkg/settings.py", "/work"); !slices.Equal(got, want) {
		t.Errorf("python:\n got %v\nwant %v", got, want)
	}
	js := "import { fileURLToPath } from 'url';\nimport express from 'express';\nrequire('dotenv').config();\nconst config = require('config');\nimport x from './x.js';\nconst lib = require('./lib');\nconst dir = path.dirname(fileURLToPath(import.meta.url));\n" +
		"app.use(express.static(path.join(__dirname, 'public')));\nconst v = __dirname + '/views';\nconst idx = path.resolve(dir, '..', 'web', 'index.html');\n" +
		"const u = new URL('./data.json', import.meta.url);\nconst c = path.join(process.cwd(), 'config', 'c.json');\nconst n = path.join(__dirname, name);\n" +
		"app.use(express.static('public'));\nres.sendFile('assets/logo.png');\nconst s = 'hello world';\nconst o = '--flag';\nconst up = '../secret';\nconst m = 'node_modules/x';\n"
	want = []namedPath{
		{path: "/work/views", own: true, maybe: true},                                                // express's default
		{path: "/work/.env", own: true, maybe: true}, {path: "/work/config", own: true, maybe: true}, // dotenv's and node-config's
		{path: "/srv/app", own: true}, {path: "/srv/app/public", own: true}, {path: "/srv/app/views", own: true},
		{path: "/srv/web/index.html", own: true}, {path: "/srv/app/data.json", own: true}, {path: "/work/config/c.json", own: true},
		// Relative names, from the working directory and the source's: express.static('public').
		{path: "/work/public", own: true, maybe: true}, {path: "/work/assets/logo.png", own: true, maybe: true}, {path: "/srv/app/assets/logo.png", own: true, maybe: true},
	}
	if got := sourcePaths([]byte(js), false, "srv/app/server.mjs", "/work"); !slices.Equal(got, want) {
		t.Errorf("js:\n got %v\nwant %v", got, want)
	}
	// Calls nested past any app's: read to a bound, not through the whole source.
	deep := strings.Repeat("f(", 100000) + "'/etc/deep'" + strings.Repeat(")", 100000)
	if got := sourcePaths([]byte(deep), false, "a.js", "/"); !slices.Equal(got, []namedPath{{path: "/etc/deep"}}) {
		t.Errorf("deep: %v", got)
	}
}

// TestClosureSourceFiles: the regular files an app source names come, a directory it
// names by its entry, and for a file the image lacks the directory it would be in, by
// its entry; what installed libraries name does not.
func TestClosureSourceFiles(t *testing.T) {
	t.Parallel()
	m, site := pythonSite(t, map[string]string{"lib/__init__.py": "X = '/etc/lib-named.txt'\n"})
	m["app/a.py"] = text("import lib, os\nC = '/etc/myapp/config.json'\nT = os.path.join('/usr/share/myapp', 'base.html')\nD = '/usr/share/myapp'\nG = '/etc/gone.json'\n" +
		"LOG = '/var/log/myapp/app.log'\nN = '/nowhere/x'\n")
	m["var/log/myapp/old.log"] = text("")
	m["etc/myapp/config.json"] = text("{}")
	m["usr/share/myapp/base.html"] = text("")
	m["usr/share/myapp/other.html"] = text("")
	m["etc/lib-named.txt"] = text("")
	got := pythonImportReasons(t, m, "app/a.py")
	for _, p := range []string{"etc/myapp/config.json", "usr/share/myapp/base.html"} {
		if got[p] != "file named in /app/a.py" {
			t.Errorf("%s: reason %q", p, got[p])
		}
	}
	if got[site+"lib/__init__.py"] == "" {
		t.Errorf("lib not imported: %v", got)
	}
	for p, why := range map[string]string{
		// Directories by their entry: one named, the one a missing file would be made in.
		"usr/share/myapp": "file named in /app/a.py",
		"var/log/myapp":   "directory of /var/log/myapp/app.log, file named in /app/a.py",
		"etc":             "directory of /etc/gone.json, file named in /app/a.py",
	} {
		if got[p] != why {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	for _, p := range []string{"usr/share/myapp/other.html", "etc/lib-named.txt", "var/log/myapp/old.log", "nowhere"} {
		if r, ok := got[p]; ok {
			t.Errorf("%s taken: %s", p, r)
		}
	}
}

// TestShebangProgram: the program of a #! line, through env's options and settings.
func TestShebangProgram(t *testing.T) {
	t.Parallel()
	for head, want := range map[string]string{
		"#!/usr/bin/python3\nimport x":               "python3",
		"#!/usr/bin/env python3.11":                  "python3.11",
		"#! /usr/bin/env -S A=1 -u X node --flag\nx": "node",
		"#!/usr/bin/env":                             "",
		"import x":                                   "",
		"#!":                                         "",
	} {
		if got := shebangProgram([]byte(head)); got != want {
			t.Errorf("shebangProgram(%q) = %q, want %q", head, got, want)
		}
	}
}

// TestClosureShebangSources: a script with no extension whose #! names python or
// node is that runtime's source (a pip console script, an app's tool); one in a
// node_modules package is the package's, and a shell script is no source of either.
func TestClosureShebangSources(t *testing.T) {
	t.Parallel()
	m, site := pythonSite(t, map[string]string{"greetcli/__init__.py": "", "greetcli/main.py": "", "unused/__init__.py": ""})
	m["usr/local/bin/greet"] = &fstest.MapFile{Mode: 0o755, Data: []byte("#!/usr/bin/python3\nfrom greetcli.main import main\n")}
	m["usr/local/bin/shelly"] = &fstest.MapFile{Mode: 0o755, Data: []byte("#!/bin/sh\nimport unused\n")}
	got := pythonImportReasons(t, m, "usr/local/bin/greet")
	if want := "module greetcli imported by /usr/local/bin/greet"; got[site+"greetcli/main.py"] != want {
		t.Errorf("greetcli/main.py: reason %q, want %q", got[site+"greetcli/main.py"], want)
	}
	if r, ok := pythonImportReasons(t, m, "usr/local/bin/shelly")[site+"unused/__init__.py"]; ok {
		t.Errorf("a shell script's words were read as Python: %s", r)
	}

	m = glibcImage(t)
	m["usr/bin/node"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	m["app/ntool"] = &fstest.MapFile{Mode: 0o755, Data: []byte("#!/usr/bin/env node\nrequire('greetx');\n")}
	m["app/node_modules/greetx/index.js"] = text("")
	r, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Closure("usr/bin/node"); err != nil {
		t.Fatal(err)
	}
	deps, err := r.Imports("app/ntool")
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) == 0 || deps[0].Reason != "package greetx required by /app/ntool" {
		t.Errorf("node script: deps %+v, want greetx required by /app/ntool", deps)
	}
}

// TestClosureSourceOwnDirs: a directory an app names from its own location, or by a
// relative name its source's directory has, comes whole (templates, static files);
// one that holds the app's source, or the working directory, by its entry; a file by
// its name; a relative name the image lacks, not at all.
func TestClosureSourceOwnDirs(t *testing.T) {
	t.Parallel()
	m, _ := pythonSite(t, map[string]string{})
	m["srv/app/pkg/settings.py"] = text("import os\nfrom pathlib import Path\nBASE = Path(__file__).resolve().parent.parent\nHERE = os.path.dirname(__file__)\n" +
		"T = os.path.join(HERE, 'templates')\nS = BASE / 'static'\nC = BASE.joinpath('conf.toml')\napp = Flask(__name__, static_folder='assets')\nM = 'missing'\nD = 'data'\nload_dotenv()\n")
	for _, f := range []string{"srv/app/pkg/.env", "srv/app/pkg/assets/app.js", "srv/app/pkg/static/default.css", "srv/app/pkg/templates/index.html", "srv/app/pkg/templates/mail/welcome.txt", "srv/app/static/site.css", "srv/app/conf.toml", "srv/app/unrelated.txt", "srv/app/pkg/other.txt"} {
		m[f] = text("x")
	}
	m["work/data/d.txt"] = text("x")
	got := pythonImportReasons(t, m, "srv/app/pkg/settings.py", WithWorkdir("/work"))
	for p, why := range map[string]string{
		"work/data/d.txt":                        "directory named in /srv/app/pkg/settings.py",
		"srv/app/pkg/templates/index.html":       "directory named in /srv/app/pkg/settings.py",
		"srv/app/pkg/templates/mail/welcome.txt": "directory named in /srv/app/pkg/settings.py",
		"srv/app/static/site.css":                "directory named in /srv/app/pkg/settings.py",
		"srv/app/conf.toml":                      "file named in /srv/app/pkg/settings.py",
		"srv/app/pkg/.env":                       "file named in /srv/app/pkg/settings.py", // python-dotenv's default
		"srv/app/pkg/assets/app.js":              "directory named in /srv/app/pkg/settings.py",
		"srv/app/pkg/static/default.css":         "directory named in /srv/app/pkg/settings.py", // Flask's default
		"srv/app":                                "file named in /srv/app/pkg/settings.py",
	} {
		if got[p] != why {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	for p, why := range got {
		if strings.Contains(why, "missing") || p == "work" {
			t.Errorf("a relative name the image lacks brought %s: %s", p, why)
		}
	}
	for _, p := range []string{"srv/app/unrelated.txt", "srv/app/pkg/other.txt", "srv/app/pkg/missing"} {
		if r, ok := got[p]; ok {
			t.Errorf("%s taken: %s", p, r)
		}
	}
}

// TestIsSoname: a library's bare name, with or without its version.
func TestIsSoname(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"libfoo.so": true, "libsodium.so.23": true, "libstdc++.so.6.0.30": true, "libgtk-3.so.0": true,
		"lib.so": false, "libfoo.so.": false, "libfoo.so..1": false, "libfoo.so.x": false, "foo.so.1": false,
		"libfoo": false, "lib/foo.so": false, "libfoo.sox": false, "libfoo.so.1 ": false,
	} {
		if got := isSoname(s); got != want {
			t.Errorf("isSoname(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestClosureNamedCode: code an app source names comes with what it needs: a library
// by its bare name as dlopen finds it (ctypes.CDLL('libfoo.so.1')), one by its path,
// and an executable by its path, each with the libraries it needs; a bare name the
// image lacks brings nothing.
func TestClosureNamedCode(t *testing.T) {
	t.Parallel()
	m, _ := pythonSite(t, map[string]string{})
	const libdir = "usr/lib/x86_64-linux-gnu/"
	m[libdir+"libfoo.so.1"] = &fstest.MapFile{Mode: 0o644, Data: mkELF(t, elfSpec{soname: "libfoo.so.1", needed: []string{"libbar.so.2"}})}
	m[libdir+"libbar.so.2"] = &fstest.MapFile{Mode: 0o644, Data: mkELF(t, elfSpec{soname: "libbar.so.2"})}
	m["opt/lib/libbaz.so"] = &fstest.MapFile{Mode: 0o644, Data: mkELF(t, elfSpec{soname: "libbaz.so", needed: []string{"libqux.so.3"}})}
	m[libdir+"libqux.so.3"] = &fstest.MapFile{Mode: 0o644, Data: mkELF(t, elfSpec{soname: "libqux.so.3"})}
	m["opt/bin/tool"] = &fstest.MapFile{Mode: 0o755, Data: mkELF(t, elfSpec{interp: ldso, needed: []string{"libtool.so.4"}})}
	m[libdir+"libtool.so.4"] = &fstest.MapFile{Mode: 0o644, Data: mkELF(t, elfSpec{soname: "libtool.so.4"})}
	m[libdir+"libunused.so.5"] = &fstest.MapFile{Mode: 0o644, Data: mkELF(t, elfSpec{soname: "libunused.so.5"})}
	m["app/a.py"] = text("import ctypes, subprocess\nfoo = ctypes.CDLL('libfoo.so.1')\nbaz = ctypes.CDLL('/opt/lib/libbaz.so')\nTOOL = '/opt/bin/tool'\n" +
		"opt = ctypes.CDLL('libmissing.so.9')\nsubprocess.run([TOOL])\n")
	got := pythonImportReasons(t, m, "app/a.py")
	for p, why := range map[string]string{
		libdir + "libfoo.so.1":  "library named in /app/a.py",
		libdir + "libbar.so.2":  "DT_NEEDED libbar.so.2 of",
		"opt/lib/libbaz.so":     "file named in /app/a.py",
		libdir + "libqux.so.3":  "DT_NEEDED libqux.so.3 of",
		"opt/bin/tool":          "file named in /app/a.py",
		libdir + "libtool.so.4": "DT_NEEDED libtool.so.4 of",
	} {
		if !strings.HasPrefix(got[p], why) {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	if r, ok := got[libdir+"libunused.so.5"]; ok {
		t.Errorf("libunused taken: %s", r)
	}
}

// TestClosureScriptSpawned: what a Ruby app's source starts comes once ruby is met
// (the program through PATH, /bin/sh and what a command line runs); a source of a
// runtime the image does not run, and an installed gem's, start nothing.
func TestClosureScriptSpawned(t *testing.T) {
	t.Parallel()
	m := glibcImage(t)
	for _, p := range []string{"usr/bin/ruby3.1", "usr/bin/git", "bin/sh", "usr/bin/date", "usr/bin/tr", "usr/bin/uname", "usr/bin/hostname"} {
		m[p] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	}
	m["app/main.rb"] = text("system('git', 'status')\nputs `date | tr -d 0`\n")
	m["app/tool.lua"] = text("os.execute('uname')\n")
	m["var/lib/gems/3.1.0/gems/x-1/lib/x.rb"] = text("system('hostname')\n")
	got := importReasons(t, m, "usr/bin/ruby3.1", []string{"app/main.rb", "app/tool.lua", "var/lib/gems/3.1.0/gems/x-1/lib/x.rb"}, WithPath("/usr/bin:/bin"))
	for p, why := range map[string]string{
		"usr/bin/git":  `program "git" run by /app/main.rb`,
		"bin/sh":       `/bin/sh, the shell of the command line "date | tr -d 0" run by /app/main.rb`,
		"usr/bin/date": "",
		"usr/bin/tr":   "",
	} {
		r, ok := got[p]
		if !ok || why != "" && r != why {
			t.Errorf("%s: taken %v, reason %q, want %q", p, ok, r, why)
		}
	}
	for _, p := range []string{"usr/bin/uname", "usr/bin/hostname"} {
		if r, ok := got[p]; ok {
			t.Errorf("%s taken: %s", p, r)
		}
	}
}
