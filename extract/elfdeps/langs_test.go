package elfdeps

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// glibcImage is the loader and libc every runtime below links, at Debian's places.
func glibcImage(t *testing.T) fstest.MapFS {
	return fstest.MapFS{
		"lib64/ld-linux-x86-64.so.2":         file(mkELF(t, elfSpec{soname: "ld-linux-x86-64.so.2"})),
		"usr/lib/x86_64-linux-gnu/libc.so.6": file(mkELF(t, elfSpec{soname: "libc.so.6"})),
	}
}

// TestClosurePython: python3.11 (through the python3 link) brings its stdlib with
// lib-dynload and what its symlinks point to, less tests, IDLE, tkinter, ensurepip,
// site-packages and bytecode of other versions; Imports then takes the dist-packages
// the app's sources reach, transitively, with C extensions and metadata, and nothing
// the app does not import.
func TestClosurePython(t *testing.T) {
	t.Parallel()
	m := glibcImage(t)
	prog := mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}})
	for name, f := range map[string]*fstest.MapFile{
		"usr/bin/python3.11":                                                       file(prog),
		"usr/bin/python3":                                                          link("python3.11"),
		"usr/lib/python3.11/os.py":                                                 text("import abc\n"),
		"usr/lib/python3.11/__pycache__/os.cpython-311.pyc":                        text("x"),
		"usr/lib/python3.11/__pycache__/os.cpython-39.pyc":                         text("x"),
		"usr/lib/python3.11/encodings/utf_8.py":                                    text(""),
		"usr/lib/python3.11/sitecustomize.py":                                      link("/etc/python3.11/sitecustomize.py"),
		"etc/python3.11/sitecustomize.py":                                          text(""),
		"usr/lib/python3.11/lib-dynload/_ssl.cpython-311.so":                       text(""),
		"usr/lib/python3.11/test/test_os.py":                                       text(""),
		"usr/lib/python3.11/unittest/test/test_case.py":                            text(""),
		"usr/lib/python3.11/idlelib/idle.py":                                       text(""),
		"usr/lib/python3.11/site-packages/README.txt":                              text(""),
		"usr/lib/python3/dist-packages/yaml/__init__.py":                           text("from .cyaml import *\nfrom yaml._yaml import CParser\nimport six.moves\n"),
		"usr/lib/python3/dist-packages/yaml/cyaml.py":                              text(""),
		"usr/lib/python3/dist-packages/yaml/_yaml.cpython-311-x86_64-linux-gnu.so": text(""),
		"usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/top_level.txt":         text("_yaml\nyaml\n"),
		"usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA":              text(""),
		"usr/lib/python3/dist-packages/six.py":                                     text("import unused_by_six_only_in_a_string if False else None\n"),
		"usr/lib/python3/dist-packages/__pycache__/six.cpython-311.pyc":            text(""),
		"usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO":               text(""),
		"usr/lib/python3/dist-packages/requests/__init__.py":                       text(""),
		"app/main.py": text(`"""import requests is text in a docstring"""
import os, sys
try:
    import yaml  # the C extension comes with the package
except ImportError:
    yaml = None
from . import sibling
`),
	} {
		m[name] = f
	}
	r, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := r.Closure("usr/bin/python3")
	if err != nil {
		t.Fatal(err)
	}
	got := reasons(deps)
	for _, p := range []string{"usr/lib/python3.11/os.py", "usr/lib/python3.11/__pycache__/os.cpython-311.pyc", "usr/lib/python3.11/encodings/utf_8.py",
		"usr/lib/python3.11/lib-dynload/_ssl.cpython-311.so", "usr/lib/python3.11/sitecustomize.py", "etc/python3.11/sitecustomize.py"} {
		if !strings.HasPrefix(got[p], "python3.11 stdlib for /usr/bin/python3.11") {
			t.Errorf("%s: reason %q, want the stdlib's", p, got[p])
		}
	}
	for _, p := range []string{"usr/lib/python3.11/__pycache__/os.cpython-39.pyc", "usr/lib/python3.11/test/test_os.py", "usr/lib/python3.11/unittest/test/test_case.py",
		"usr/lib/python3.11/idlelib/idle.py", "usr/lib/python3.11/site-packages/README.txt", "usr/lib/python3/dist-packages/six.py"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s taken with the interpreter", p)
		}
	}

	deps, err = r.Imports("app/main.py", "usr/lib/python3.11/os.py")
	if err != nil {
		t.Fatal(err)
	}
	got = reasons(deps)
	want := map[string]string{
		"usr/lib/python3/dist-packages/yaml/__init__.py":                           "module yaml imported by /app/main.py",
		"usr/lib/python3/dist-packages/yaml/cyaml.py":                              "module yaml imported by /app/main.py",
		"usr/lib/python3/dist-packages/yaml/_yaml.cpython-311-x86_64-linux-gnu.so": "module yaml imported by /app/main.py",
		"usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA":              "module yaml imported by /app/main.py",
		"usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/top_level.txt":         "module yaml imported by /app/main.py",
		"usr/lib/python3/dist-packages/six.py":                                     "module six imported by /usr/lib/python3/dist-packages/yaml/__init__.py",
		"usr/lib/python3/dist-packages/__pycache__/six.cpython-311.pyc":            "module six imported by /usr/lib/python3/dist-packages/yaml/__init__.py",
		"usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO":               "module six imported by /usr/lib/python3/dist-packages/yaml/__init__.py",
	}
	for p, why := range want {
		if got[p] != why {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Imports took %d files, want %d: %v", len(got), len(want), got)
	}
}

// TestClosurePythonVenv: a venv's python (a link to the system one) brings pyvenv.cfg,
// and imports are found in the venv's site-packages, not in the system's when the venv
// does not include them.
func TestClosurePythonVenv(t *testing.T) {
	t.Parallel()
	m := glibcImage(t)
	m["usr/bin/python3.11"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	m["usr/lib/python3.11/os.py"] = text("")
	m["venv/bin/python"] = link("/usr/bin/python3.11")
	m["venv/pyvenv.cfg"] = text("home = /usr/bin\ninclude-system-site-packages = false\n")
	m["venv/lib/python3.11/site-packages/flask/__init__.py"] = text("")
	m["usr/lib/python3/dist-packages/six.py"] = text("")
	m["app/main.py"] = text("import flask, six\n")
	r, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := r.Closure("venv/bin/python")
	if err != nil {
		t.Fatal(err)
	}
	if got := reasons(deps)["venv/pyvenv.cfg"]; got != "pyvenv.cfg of the venv of /venv/bin/python" {
		t.Errorf("pyvenv.cfg: reason %q", got)
	}
	deps, err = r.Imports("app/main.py")
	if err != nil {
		t.Fatal(err)
	}
	if got := depPaths(deps); !slices.Equal(got, []string{"venv/lib/python3.11/site-packages/flask/__init__.py"}) {
		t.Errorf("imports took %q, want flask from the venv only", got)
	}
}

// TestPythonImports: the import statements a static scan can see.
func TestPythonImports(t *testing.T) {
	t.Parallel()
	src := `import a.b as c, d
from e.f import (g,
    h)
from .rel import x
from __future__ import annotations
s = "import notme"
t = '''
import notme_either
'''
def f():
    import i; import j
x = 1 \
    ; import k
# import comment
`
	want := []string{"a", "d", "e", "__future__", "i", "j", "k"}
	if got := pythonImports([]byte(src)); !slices.Equal(got, want) {
		t.Errorf("pythonImports = %q, want %q", got, want)
	}
}

// TestClosureNodeBuiltins: node linking libnode brings the JavaScript files libnode
// names by absolute path (Debian's externalized builtins) that the image has.
func TestClosureNodeBuiltins(t *testing.T) {
	t.Parallel()
	m := glibcImage(t)
	lib := mkELF(t, elfSpec{soname: "libnode.so.108", needed: []string{"libc.so.6"}})
	lib = append(lib, "\x00internal/deps/x\x00/usr/share/nodejs/cjs-module-lexer/lexer.js\x00/usr/share/nodejs/acorn/dist/acorn.js\x00/not/in/the/image.js\x00/etc/passwd\x00"...)
	m["usr/lib/x86_64-linux-gnu/libnode.so.108"] = file(lib)
	m["usr/bin/node"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libnode.so.108", "libc.so.6"}}))
	m["usr/share/nodejs/cjs-module-lexer/lexer.js"] = text("")
	m["usr/share/nodejs/acorn/dist/acorn.js"] = text("")
	got := closureReasons(t, m, "usr/bin/node")
	for _, p := range []string{"usr/share/nodejs/cjs-module-lexer/lexer.js", "usr/share/nodejs/acorn/dist/acorn.js"} {
		if want := "node builtin /" + p + " named in /usr/lib/x86_64-linux-gnu/libnode.so.108"; got[p] != want {
			t.Errorf("%s: reason %q, want %q", p, got[p], want)
		}
	}
	if _, ok := got["etc/passwd"]; ok {
		t.Errorf("a string that is no script was taken")
	}
}

// TestClosureJava: java, named through /etc/alternatives, brings its JRE at the real
// path, with conf and security files where their links point, less legal notices and
// javac's ct.sym.
func TestClosureJava(t *testing.T) {
	t.Parallel()
	m := glibcImage(t)
	const home = "usr/lib/jvm/java-17-openjdk-amd64"
	m[home+"/bin/java"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libjli.so", "libc.so.6"}, runpath: ptr("$ORIGIN/../lib")}))
	m[home+"/lib/libjli.so"] = file(mkELF(t, elfSpec{soname: "libjli.so", needed: []string{"libc.so.6"}}))
	m[home+"/lib/modules"] = text("jimage")
	m[home+"/lib/ct.sym"] = text("")
	m[home+"/lib/jvm.cfg"] = link("/etc/java-17-openjdk/jvm-amd64.cfg")
	m[home+"/lib/security/cacerts"] = link("/etc/ssl/certs/java/cacerts")
	m[home+"/conf/security/java.security"] = text("jdk.x=1\nsecurerandom.source=file:/dev/random\nsome.file=/etc/java-extra/policy\n")
	m[home+"/legal/java.base/LICENSE"] = text("")
	m["etc/java-17-openjdk/jvm-amd64.cfg"] = text("-server KNOWN\n")
	m["etc/ssl/certs/java/cacerts"] = text("")
	m["etc/java-extra/policy"] = text("")
	m["usr/bin/java"] = link("/etc/alternatives/java")
	m["etc/alternatives/java"] = link("/" + home + "/bin/java")
	got := closureReasons(t, m, "usr/bin/java")
	why := "JRE /" + home + " of /" + home + "/bin/java"
	for _, p := range []string{home + "/lib/modules", home + "/lib/jvm.cfg", "etc/java-17-openjdk/jvm-amd64.cfg", "etc/ssl/certs/java/cacerts", home + "/conf/security/java.security"} {
		if !strings.HasPrefix(got[p], why) {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	if got["etc/java-extra/policy"] != why+": named in java.security" {
		t.Errorf("a file java.security names: reason %q", got["etc/java-extra/policy"])
	}
	for p := range got {
		if strings.Contains(p, "/legal/") || strings.HasSuffix(p, "ct.sym") || strings.HasPrefix(p, "dev/") {
			t.Errorf("%s taken", p)
		}
	}
}

// FuzzPythonImports: any bytes (sources come from images) scan without a panic, and
// every name returned is a module name.
func FuzzPythonImports(f *testing.F) {
	f.Add([]byte("import a.b as c, d\nfrom e import (f,\n g)\n'''\nimport x\n'''\n"))
	f.Add([]byte("x = '\\\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, m := range pythonImports(src) {
			if !isIdent(m) {
				t.Fatalf("pythonImports(%q) returned %q", src, m)
			}
		}
	})
}

func TestScriptNames(t *testing.T) {
	for _, tc := range []struct {
		manager string
		args    []string
		want    []string
	}{
		{"npm", []string{"start"}, []string{"start"}},
		{"npm", []string{"--silent", "run", "serve", "--", "--port", "80"}, []string{"serve"}},
		{"npm", []string{"run-script", "build"}, []string{"build"}},
		{"npm", []string{"t"}, []string{"test"}},
		{"npm", []string{"restart"}, []string{"stop", "restart", "start"}},
		{"npm", []string{"exec", "x"}, nil},
		{"npm", nil, nil},
		{"npm", []string{"run"}, nil},
		{"yarn", []string{"serve"}, []string{"serve"}},
		{"pnpm", []string{"run", "dev"}, []string{"dev"}},
	} {
		if got := scriptNames(tc.manager, tc.args); !slices.Equal(got, tc.want) {
			t.Errorf("scriptNames(%s, %q) = %q, want %q", tc.manager, tc.args, got, tc.want)
		}
	}
}

func TestPythonRunCode(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		code, how string
	}{
		{[]string{"-m", "gunicorn", "app:app"}, "import gunicorn\n", "runs with -m"},
		{[]string{"-u", "-W", "ignore", "-X", "dev", "-mhttp.server", "80"}, "import http.server\n", "runs with -m"},
		{[]string{"-uBm", "uvicorn", "main:app"}, "import uvicorn\n", "runs with -m"},
		{[]string{"-c", "import yaml; print(1)", "x"}, "import yaml; print(1)", "runs with -c"},
		{[]string{"-Wignore", "-cimport six"}, "import six", "runs with -c"},
		{[]string{"--check-hash-based-pycs", "never", "-m", "m"}, "import m\n", "runs with -m"},
		{[]string{"/app/main.py", "-m", "x"}, "", ""},
		{[]string{"-", "-c", "x"}, "", ""},
		{[]string{"-u"}, "", ""},
	} {
		if code, how := pythonRunCode(tc.args); code != tc.code || how != tc.how {
			t.Errorf("pythonRunCode(%q) = %q, %q; want %q, %q", tc.args, code, how, tc.code, tc.how)
		}
	}
}

// TestClosurePythonArgs: the module of python3 -m and the imports of -c's program come
// from the site directories, with what they import in turn; a script's arguments do not.
func TestClosurePythonArgs(t *testing.T) {
	t.Parallel()
	m := glibcImage(t)
	m["usr/bin/python3.11"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	m["usr/bin/python3"] = link("python3.11")
	m["usr/lib/python3.11/os.py"] = text("")
	site := "usr/local/lib/python3.11/dist-packages/"
	m[site+"gunicorn/__init__.py"] = text("")
	m[site+"gunicorn/__main__.py"] = text("")
	m[site+"yaml/__init__.py"] = text("")
	m[site+"other/__init__.py"] = text("")
	m["app/main.py"] = text("")
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"-m", "gunicorn.app", "app:app"}, []string{site + "gunicorn/__main__.py"}, []string{site + "yaml/__init__.py"}},
		{[]string{"-c", "import yaml, os"}, []string{site + "yaml/__init__.py"}, []string{site + "gunicorn/__init__.py"}},
		{[]string{"/app/main.py", "-m", "other"}, nil, []string{site + "other/__init__.py"}},
	} {
		got := closureReasons(t, m, "usr/bin/python3", WithArgs("/usr/bin/python3", tc.args))
		for _, p := range tc.want {
			if !strings.Contains(got[p], "that /usr/bin/python3 runs with") {
				t.Errorf("%q: %s: reason %q", tc.args, p, got[p])
			}
		}
		for _, p := range tc.not {
			if r, ok := got[p]; ok {
				t.Errorf("%q: %s taken: %s", tc.args, p, r)
			}
		}
	}
}

// TestClosurePythonArgsInScript: a script that runs python3 twice, -c then -m, gets
// the module of its second line too (the runtime is taken once, each line's
// arguments read).
func TestClosurePythonArgsInScript(t *testing.T) {
	t.Parallel()
	m, site := pythonSite(t, map[string]string{"gunicorn/__init__.py": "", "yaml/__init__.py": ""})
	m["usr/bin/python3"] = link("python3.11")
	m["bin/sh"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	m["app/run.sh"] = &fstest.MapFile{Mode: 0o755, Data: []byte("#!/bin/sh\npython3 -c 'import yaml'\nexec python3 -m gunicorn app:app\n")}
	got := closureReasons(t, m, "app/run.sh", WithPath("/usr/bin:/bin"))
	for _, p := range []string{site + "yaml/__init__.py", site + "gunicorn/__init__.py"} {
		if !strings.Contains(got[p], "that /usr/bin/python3 runs with") {
			t.Errorf("%s: reason %q", p, got[p])
		}
	}
}

func TestPythonStringModules(t *testing.T) {
	src := []byte(`"""Docstring naming 'docmod' is not read."""
INSTALLED_APPS = ['django.contrib.admin', "rest_framework", 'myapp.apps.MyConfig']
worker = "uvicorn.workers.UvicornWorker"  # 'commented'
x = 'two words'; y = "a-b"; z = ''; w = '.rel'; v = "ok.name."
mod = importlib.import_module('yaml')
`)
	want := []string{"django", "rest_framework", "myapp", "uvicorn", "yaml"}
	if got := pythonStringModules(src); !slices.Equal(got, want) {
		t.Errorf("pythonStringModules = %q, want %q", got, want)
	}
}

// pythonSite is a glibc image with python3.11 and site holding the given packages
// (each NAME/FILE: body), under usr/lib/python3/dist-packages.
func pythonSite(t *testing.T, pkgs map[string]string) (fstest.MapFS, string) {
	m := glibcImage(t)
	m["usr/bin/python3.11"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	m["usr/lib/python3.11/os.py"] = text("")
	const site = "usr/lib/python3/dist-packages/"
	for name, body := range pkgs {
		m[site+name] = text(body)
	}
	return m, site
}

// pythonImportReasons runs python3.11's closure, then Imports of src, and returns
// the reasons of what Imports took, by path.
func pythonImportReasons(t *testing.T, m fstest.MapFS, src string, opts ...Option) map[string]string {
	t.Helper()
	return importReasons(t, m, "usr/bin/python3.11", []string{src}, opts...)
}

// importReasons runs the closure of the runtime, then Imports of srcs, and returns the
// reasons of what Imports took, by path.
func importReasons(t *testing.T, m fstest.MapFS, runtime string, srcs []string, opts ...Option) map[string]string {
	t.Helper()
	r, err := New(m, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Closure(runtime); err != nil {
		t.Fatal(err)
	}
	deps, err := r.Imports(srcs...)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range deps {
		got[d.Path] = d.Reason
	}
	return got
}

// TestClosurePythonStringModules: a module an app's source names in a string (Django's
// INSTALLED_APPS, importlib) comes from the site directories; strings in installed
// libraries take nothing.
func TestClosurePythonStringModules(t *testing.T) {
	t.Parallel()
	m, site := pythonSite(t, map[string]string{"rest_framework/__init__.py": "OPTIONAL = 'optional_dep'\n",
		"optional_dep/__init__.py": "", "unnamed/__init__.py": ""})
	m["app/settings.py"] = text("INSTALLED_APPS = ['rest_framework']\n")
	got := pythonImportReasons(t, m, "app/settings.py")
	if why := got[site+"rest_framework/__init__.py"]; why != "module rest_framework named in a string by /app/settings.py" {
		t.Errorf("rest_framework: reason %q", why)
	}
	for _, p := range []string{site + "optional_dep/__init__.py", site + "unnamed/__init__.py"} {
		if r, ok := got[p]; ok {
			t.Errorf("%s taken: %s", p, r)
		}
	}
}

// TestClosurePythonArgModules: a module the config's arguments name for a runner to
// import by name (gunicorn's worker class) comes from the site directories.
func TestClosurePythonArgModules(t *testing.T) {
	t.Parallel()
	m, site := pythonSite(t, map[string]string{"gunicorn/__init__.py": "", "uvicorn/__init__.py": "import h11\n",
		"uvicorn/workers.py": "", "h11/__init__.py": "", "gevent/__init__.py": "", "other/__init__.py": ""})
	m["app/main.py"] = text("app = None\n")
	got := pythonImportReasons(t, m, "app/main.py",
		WithArgs("/usr/bin/python3.11", []string{"-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker", "--threads=2", "main:app"}),
		WithArgs("/usr/bin/other", []string{"--worker-class=gevent"}))
	for p, why := range map[string]string{
		site + "uvicorn/workers.py": "module uvicorn named by the config's arguments",
		site + "h11/__init__.py":    "module h11 imported by /" + site + "uvicorn/__init__.py",
		site + "gevent/__init__.py": "module gevent named by the config's arguments",
	} {
		if got[p] != why {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	if r, ok := got[site+"other/__init__.py"]; ok {
		t.Errorf("other taken: %s", r)
	}
}

// TestClosurePythonDistByName: the metadata of a distribution an app reads by name
// (importlib.metadata.version, pkg_resources) comes, matched as PEP 503 compares
// names, without its modules; a name no distribution has takes nothing.
func TestClosurePythonDistByName(t *testing.T) {
	t.Parallel()
	m, site := pythonSite(t, map[string]string{
		"PyYAML-6.0.1.dist-info/METADATA":       "Name: PyYAML\n",
		"PyYAML-6.0.1.dist-info/RECORD":         "",
		"yaml/__init__.py":                      "",
		"zope.interface-6.0.dist-info/METADATA": "Name: zope.interface\n",
		"requests-2.31.0.dist-info/METADATA":    "Name: requests\n",
		"other-1.0.dist-info/METADATA":          "Name: other\n",
	})
	m["app/a.py"] = text("from importlib.metadata import version, PackageNotFoundError\nimport importlib.metadata as md, pkg_resources\n" +
		"print(version('pyyaml'), md.metadata('Zope_Interface'))\npkg_resources.require('requests>=2')\ntry:\n    version('not-installed')\nexcept PackageNotFoundError:\n    pass\n")
	got := pythonImportReasons(t, m, "app/a.py")
	for p, why := range map[string]string{
		site + "PyYAML-6.0.1.dist-info/METADATA":       "distribution pyyaml named by /app/a.py",
		site + "PyYAML-6.0.1.dist-info/RECORD":         "distribution pyyaml named by /app/a.py",
		site + "zope.interface-6.0.dist-info/METADATA": "distribution Zope_Interface named by /app/a.py",
		site + "requests-2.31.0.dist-info/METADATA":    "distribution requests>=2 named by /app/a.py",
	} {
		if got[p] != why {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	for _, p := range []string{site + "yaml/__init__.py", site + "other-1.0.dist-info/METADATA"} {
		if r, ok := got[p]; ok {
			t.Errorf("%s taken: %s", p, r)
		}
	}
}
