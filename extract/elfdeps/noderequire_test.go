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
