package elfdeps

import (
	"reflect"
	"testing"
)

func TestJSPackages(t *testing.T) {
	src := "const a = require('express');\nconst b = require(\"@scope/pkg/sub\");\nimport c from 'lodash/fp';\nimport 'side-effect';\n" +
		"export { d } from \"re-export\";\nconst e = await import('dyn');\nconst f = require('./local'), g = require('/abs'), h = require('node:fs');\n" +
		"// require('commented')\nrequire(`tmpl-${x}`);\nrequire(name);\nconst s = 'from';\n"
	want := []string{"express", "@scope/pkg", "lodash", "side-effect", "re-export", "dyn"}
	if got := jsPackages([]byte(src)); !reflect.DeepEqual(got, want) {
		t.Errorf("jsPackages = %q, want %q", got, want)
	}
}

// TestClosureNodeRequires: a package the app requires by name from a NODE_PATH
// directory comes whole, with its package.json dependencies resolved from where it
// is; a package nothing requires does not.
func TestClosureNodeRequires(t *testing.T) {
	t.Parallel()
	m := glibcImage(t)
	m["usr/bin/node"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	const nm = "usr/local/lib/node_modules/"
	m[nm+"greet/package.json"] = text(`{"name": "greet", "dependencies": {"dep": "^1"}}`)
	m[nm+"greet/index.js"] = text("module.exports = require('dep');\n")
	m[nm+"dep/index.js"] = text("module.exports = 1;\n")
	m[nm+"unused/index.js"] = text("")
	m["app/main.js"] = text("const g = require('greet');\nconst fs = require('fs');\n")
	r, err := New(m, WithEnv([]string{"NODE_PATH=/usr/local/lib/node_modules"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Closure("usr/bin/node"); err != nil {
		t.Fatal(err)
	}
	deps, err := r.Imports("app/main.js")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range deps {
		got[d.Path] = d.Reason
	}
	for p, why := range map[string]string{
		nm + "greet/index.js": "package greet required by /app/main.js",
		nm + "dep/index.js":   "package dep, a dependency of /" + nm + "greet",
	} {
		if got[p] != why {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	if r, ok := got[nm+"unused/index.js"]; ok {
		t.Errorf("unused taken: %s", r)
	}
}

// TestClosureNodeRelativeModules: the relative and absolute modules an app source
// loads come as node resolves them (the file, an added extension, a directory's
// package.json main or index); one no file answers is nothing, as in the original.
func TestClosureNodeRelativeModules(t *testing.T) {
	t.Parallel()
	m := glibcImage(t)
	m["usr/bin/node"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	m["srv/web/server.js"] = text("const a = require('./lib');\nconst b = require('../shared/conf.json');\n" +
		"import c from './views';\nconst d = require('./pkg');\nconst e = require('/opt/abs.cjs');\nrequire('./gone');\nrequire(`./${x}`);\n")
	m["srv/web/lib.js"] = text("")
	m["srv/web/lib/other.js"] = text("")
	m["srv/shared/conf.json"] = text("{}")
	m["srv/web/views/index.js"] = text("")
	m["srv/web/pkg/package.json"] = text(`{"main": "dist/main"}`)
	m["srv/web/pkg/dist/main.js"] = text("")
	m["srv/web/pkg/index.js"] = text("")
	m["opt/abs.cjs"] = text("")
	r, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Closure("usr/bin/node"); err != nil {
		t.Fatal(err)
	}
	deps, err := r.Imports("srv/web/server.js")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range deps {
		got[d.Path] = d.Reason
	}
	for p, spec := range map[string]string{
		"srv/web/lib.js":           "./lib",
		"srv/shared/conf.json":     "../shared/conf.json",
		"srv/web/views/index.js":   "./views",
		"srv/web/pkg/dist/main.js": "./pkg",
		"opt/abs.cjs":              "/opt/abs.cjs",
	} {
		if want := "module " + spec + " required by /srv/web/server.js"; got[p] != want {
			t.Errorf("%s: reason %q, want %q", p, got[p], want)
		}
	}
	for _, p := range []string{"srv/web/lib/other.js", "srv/web/pkg/index.js"} {
		if r, ok := got[p]; ok {
			t.Errorf("%s taken: %s", p, r)
		}
	}
}
