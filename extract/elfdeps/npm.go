package elfdeps

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// scanIfNode takes, for a script run by Node.js (interp, the file its #! line or env
// runs, is node or nodejs), the package it belongs to, whole: the nearest directory
// above it with a package.json. Node resolves a script's require()s from its own
// directory up (its package's files and node_modules), so a script out of a package
// installed globally (npm's own bin/npm-cli.js under /usr/local/lib/node_modules, a
// CLI's) runs only with its package. When the script is a program the config starts
// (argsOf) and the package is a package manager that runs package.json scripts (npm, yarn,
// pnpm), the scripts its arguments name are what it runs: see packageScripts.
func (r *Resolver) scanIfNode(c *collector, real, named, interp string) error {
	if b := path.Base(interp); b != "node" && b != "nodejs" {
		return nil
	}
	pkg := r.packageRoot(path.Dir(real))
	if pkg == "" || r.langs().done["nodepkg:"+pkg] {
		return nil
	}
	r.langs().done["nodepkg:"+pkg] = true
	r.langs().nodePkg = append(r.langs().nodePkg, pkg)
	// A process with no object of its own: addTree needs only the resolver and the
	// collector.
	p := &process{r: r, c: c}
	if _, err := p.addTree(pkg, fmt.Sprintf("package /%s of /%s, run by node", pkg, named), nil); err != nil {
		return err
	}
	args, ok := r.argsOf(real)
	if !ok {
		return nil // not a program the config starts
	}
	return r.packageScripts(c, pkg, named, path.Dir(interp), args)
}

// inNodePackage says whether real is a file of a package scanIfNode took whole. Its
// scripts are the package's own tools (npm's node-gyp, its shell completion), run only
// when asked: following their #! lines would bring Python and bash for `npm start`.
// Its ELF files (native addons) still bring their libraries.
func (r *Resolver) inNodePackage(real string) bool {
	for _, pkg := range r.langs().nodePkg {
		if strings.HasPrefix(real, pkg+"/") {
			return true
		}
	}
	return false
}

// packageRoot is the nearest directory from dir up (dir included) that holds a
// package.json, as Node finds a script's package; "" when there is none.
func (r *Resolver) packageRoot(dir string) string {
	for d := tidyName(dir); d != "." && d != "/" && d != ""; d = path.Dir(d) {
		if fi, err := fs.Stat(r.fsys, path.Join(d, "package.json")); err == nil && fi.Mode().IsRegular() {
			return d
		}
	}
	return ""
}

// packageScripts takes what the package manager in pkg (npm, yarn, pnpm) runs for the
// arguments the config gives it: the scripts of the package.json in the working
// directory that they name (start, test, stop, restart, or run NAME, with their pre
// and post scripts), each run as `sh -c SCRIPT` with the package's node_modules/.bin
// and node's directory first in PATH, as the managers run them. /bin/sh comes with
// them; what the scripts call is found as for a shell script.
func (r *Resolver) packageScripts(c *collector, pkg, named, nodeDir string, args []string) error {
	var manifest struct {
		Name    string            `json:"name"`
		Scripts map[string]string `json:"scripts"`
	}
	if err := r.readJSON(path.Join(pkg, "package.json"), &manifest); err != nil {
		return nil // not a package manager's package.json: nothing to run
	}
	if manifest.Name != "npm" && manifest.Name != "yarn" && manifest.Name != "pnpm" {
		return nil
	}
	names := scriptNames(manifest.Name, args)
	if len(names) == 0 {
		return nil
	}
	wd := r.opts.workdir
	if wd == "" {
		wd = "/"
	}
	if err := r.readJSON(path.Join(tidyName(wd), "package.json"), &manifest); err != nil {
		return nil // no package.json where it runs: the manager fails as it would have
	}
	var run []string
	for _, n := range names {
		for _, s := range []string{"pre" + n, n, "post" + n} {
			if body, ok := manifest.Scripts[s]; ok && !slices.Contains(run, s) {
				run = append(run, s)
				if err := r.scanCommand(c, body, fmt.Sprintf("script %q of /%s, run by /%s", s, path.Join(tidyName(wd), "package.json"), named),
					path.Join("/", tidyName(wd), "node_modules/.bin")+":/"+tidyName(nodeDir)+":"+r.opts.path); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// scriptNames are the package.json scripts a package manager's arguments run: npm's
// lifecycle commands (start, stop, test, restart: stop then start) and run NAME (and
// its aliases); yarn and pnpm also run a script named as the first argument.
func scriptNames(manager string, args []string) []string {
	var words []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			words = append(words, a)
		}
	}
	if len(words) == 0 {
		return nil
	}
	switch cmd := words[0]; {
	case cmd == "start" || cmd == "stop" || cmd == "test" || cmd == "t" || cmd == "tst":
		if cmd == "t" || cmd == "tst" {
			cmd = "test"
		}
		return []string{cmd}
	case cmd == "restart":
		return []string{"stop", "restart", "start"}
	case cmd == "run" || cmd == "run-script" || cmd == "rum" || cmd == "urn":
		if len(words) > 1 {
			return []string{words[1]}
		}
		return nil
	case manager != "npm":
		return []string{cmd} // yarn NAME, pnpm NAME
	}
	return nil
}

// readJSON decodes the JSON file at name (root-relative) into v.
func (r *Resolver) readJSON(name string, v any) error {
	b, err := fs.ReadFile(r.fsys, name)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
