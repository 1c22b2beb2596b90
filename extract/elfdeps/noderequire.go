package elfdeps

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

// jsPackages lists the packages a JavaScript source loads by bare name (jsModules), each
// as its package name (the first part, or @scope/name). Relative and absolute names and
// node: builtins are left out.
func jsPackages(src []byte) []string {
	var out []string
	for _, spec := range jsModules(src) {
		if name := jsPackageName(spec); name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// jsModules lists the module names a JavaScript source loads, as written:
// require('x'), import … from 'x', import 'x', import('x'), export … from 'x'. Names
// built at run time are left out.
func jsModules(src []byte) []string {
	toks := srcTokens(src, false)
	var out []string
	for i, t := range toks {
		var s srcToken
		switch {
		case (t.word == "require" || t.word == "import") && i+2 < len(toks) && toks[i+1].punct == '(':
			s = toks[i+2]
		case (t.word == "from" || t.word == "import") && i+1 < len(toks):
			s = toks[i+1]
		default:
			continue
		}
		if s.lit && !s.dyn && s.str != "" && !slices.Contains(out, s.str) {
			out = append(out, s.str)
		}
	}
	return out
}

// jsPackageName is the package a bare module name loads ("" for a relative, absolute
// or node: one, or one no npm package could have).
func jsPackageName(spec string) string {
	if spec == "" || strings.HasPrefix(spec, ".") || strings.HasPrefix(spec, "/") || strings.Contains(spec, ":") ||
		strings.ContainsAny(spec, " \t\n\\$`'\"") {
		return ""
	}
	parts := strings.SplitN(spec, "/", 3)
	if strings.HasPrefix(spec, "@") {
		if len(parts) < 2 || parts[1] == "" {
			return ""
		}
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

// nodeSource takes what the app's JavaScript source src needs, once: the processes it
// starts, the files it names and the modules it loads.
func (p *process) nodeSource(src string) error {
	st := p.r.langs()
	if st.done["jssrc:"+src] {
		return nil
	}
	st.done["jssrc:"+src] = true
	b, err := p.r.readSource(src)
	if err != nil {
		return err
	}
	if err := p.r.spawnedIn(p.c, src, b, nodeSpawn); err != nil {
		return err
	}
	if err := p.nodeRequires(src, b); err != nil {
		return err
	}
	return p.sourceFiles(src, b, false)
}

// nodeRequires takes the packages the app's JavaScript source src (text b) loads by
// bare name, as node resolves them: node_modules in src's directory and each one
// above it, then NODE_PATH's directories; each package whole, with the dependencies
// its package.json lists, resolved from where it is. A package outside the directory
// named with --from (a NODE_PATH directory, a node_modules above the app's) was left
// out before, and the app died with "Cannot find module".
//
// A relative or absolute name is a file of the app, found as node finds it
// (nodeFile): an app source outside the directory named with --from (a script's node
// /srv/web/server.js) brings its own modules, and they are read in turn.
func (p *process) nodeRequires(src string, b []byte) error {
	for _, spec := range jsModules(b) {
		if strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../") || spec == "." || spec == ".." || path.IsAbs(spec) {
			x := tidyName(spec)
			if !path.IsAbs(spec) {
				x = tidyName(path.Join(path.Dir(src), spec))
			}
			f, err := p.r.nodeFile(x)
			if err != nil {
				return err
			}
			if f != "" {
				if err := p.r.addRegular(p.c, f, fmt.Sprintf("module %s required by /%s", spec, src)); err != nil {
					return err
				}
			}
			continue
		}
		if name := jsPackageName(spec); name != "" {
			if err := p.nodePackage(path.Dir(src), name, fmt.Sprintf("package %s required by /%s", name, src)); err != nil {
				return err
			}
		}
	}
	return nil
}

// nodeFile is the file node loads for the module at x (an image name), as its
// resolution goes: x itself, x with a .js, .json, .node, .mjs or .cjs extension, then as
// a directory the file its package.json's main names, or its index; "" when none.
func (r *Resolver) nodeFile(x string) (string, error) {
	for _, ext := range []string{"", ".js", ".json", ".node", ".mjs", ".cjs"} {
		if ok, err := r.isRegular(x + ext); ok || err != nil {
			return x + ext, err
		}
	}
	if b, err := r.readFile(join(x, "package.json")); err == nil {
		var manifest struct {
			Main string `json:"main"`
		}
		if json.Unmarshal(b, &manifest) == nil && manifest.Main != "" && !path.IsAbs(manifest.Main) {
			for _, ext := range []string{"", ".js", ".json", ".node", "/index.js", "/index.json", "/index.node"} {
				if ok, err := r.isRegular(join(x, manifest.Main) + ext); ok || err != nil {
					return join(x, manifest.Main) + ext, err
				}
			}
		}
	} else if !rootfs.IsNotFound(err) {
		return "", err
	}
	for _, index := range []string{"index.js", "index.json", "index.node", "index.mjs", "index.cjs"} {
		if ok, err := r.isRegular(join(x, index)); ok || err != nil {
			return join(x, index), err
		}
	}
	return "", nil
}

// nodePackage takes the package name as node finds it from the directory from, and its
// dependencies in turn.
func (p *process) nodePackage(from, name, why string) error {
	dir, err := p.r.resolveNodePackage(from, name)
	if err != nil || dir == "" {
		return err
	}
	st := p.r.langs()
	if st.done["nodereq:"+dir] {
		return nil
	}
	st.done["nodereq:"+dir] = true
	if _, err := p.addTree(dir, why, nil); err != nil {
		return err
	}
	b, err := p.r.readFile(join(dir, "package.json"))
	switch {
	case rootfs.IsNotFound(err):
		return nil // a directory with an index.js: nothing more is declared
	case err != nil:
		return err
	}
	var manifest struct {
		Dependencies         map[string]string `json:"dependencies"`
		OptionalDependencies map[string]string `json:"optionalDependencies"`
		PeerDependencies     map[string]string `json:"peerDependencies"`
	}
	if json.Unmarshal(b, &manifest) != nil {
		return nil
	}
	var deps []string
	for _, m := range []map[string]string{manifest.Dependencies, manifest.OptionalDependencies, manifest.PeerDependencies} {
		for d := range m {
			if !slices.Contains(deps, d) {
				deps = append(deps, d)
			}
		}
	}
	slices.Sort(deps)
	for _, d := range deps {
		if jsPackageName(d) != d {
			continue
		}
		if err := p.nodePackage(dir, d, fmt.Sprintf("package %s, a dependency of /%s", d, dir)); err != nil {
			return err
		}
	}
	return nil
}

// resolveNodePackage finds the directory of package name for a module in from: the
// first from/node_modules/name going up, else NODE_PATH's dir/name; "" when none has it.
func (r *Resolver) resolveNodePackage(from, name string) (string, error) {
	var cands []string
	for d := tidyName(from); ; d = path.Dir(d) {
		if path.Base(d) != "node_modules" {
			cands = append(cands, join(d, "node_modules/"+name))
		}
		if d == "." || d == "/" || d == "" {
			break
		}
	}
	if np, ok := rootfs.Getenv(r.opts.env, "NODE_PATH"); ok {
		for _, d := range strings.Split(np, ":") {
			if path.IsAbs(d) {
				cands = append(cands, join(tidyName(d), name))
			}
		}
	}
	for _, c := range cands {
		ok, err := r.exists(c)
		if err != nil {
			return "", err
		}
		if ok {
			return c, nil
		}
	}
	return "", nil
}
