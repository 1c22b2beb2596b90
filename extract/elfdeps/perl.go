package elfdeps

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
)

// perl is one Perl interpreter taken: its @INC, and what its scan has seen.
type perl struct {
	bin  string   // the binary @INC was read from, for reasons
	inc  []string // @INC directories the image has, image names
	seen map[string]bool
}

// loadPerl takes, for a Perl interpreter (perl, perl5.X.Y, or a program linking
// libperl), its core library: the @INC directories of the distribution's own perl
// (those the binary names under /usr, not /usr/local: Debian's perl-base,
// /usr/share/perl/5.X and /usr/lib/ARCH/perl/5.X) whole, less documentation. Perl
// loads modules by name, at run time, so without them the program starts and then
// fails ("Can't locate strict.pm in @INC"). Modules of the other directories (vendor
// and site: /usr/share/perl5, CPAN's /usr/local) are taken as the scripts use them:
// see Imports.
func (p *process) loadPerl() error {
	bin := p.loadedNamed("libperl.so")
	if bin == nil {
		if b := path.Base(p.root.real); b != "perl" && !strings.HasPrefix(b, "perl5") {
			return nil
		}
		bin = p.root
	}
	if p.r.langs().done["perl:"+bin.real] {
		return nil
	}
	p.r.langs().done["perl:"+bin.real] = true
	p.r.langs().done["runtime:perl"] = true
	names, err := p.r.embeddedPaths(bin.real, isPerlIncDir)
	if err != nil {
		return err
	}
	pl := &perl{bin: bin.real, seen: map[string]bool{}}
	for _, n := range names {
		dir := tidyName(n)
		w, err := p.r.walk(dir)
		if err != nil {
			continue // a site directory the image does not have
		}
		if fi, err := p.r.links.Lstat(w.real); err != nil || !fi.IsDir() {
			continue
		}
		pl.inc = append(pl.inc, dir)
		if !perlCore(dir) {
			continue
		}
		if _, err := p.addTree(dir, fmt.Sprintf("perl core library /%s of /%s", dir, bin.real), skipPerlDocs); err != nil {
			return err
		}
	}
	p.r.langs().perls = append(p.r.langs().perls, pl)
	return nil
}

// isPerlIncDir says whether a string of the perl binary may be an @INC directory.
func isPerlIncDir(s string) bool {
	return strings.HasPrefix(s, "/") && strings.Contains(s, "perl") && !strings.ContainsAny(s, " \t\n%$*:\"'") &&
		!strings.HasSuffix(s, ".debug") && !strings.Contains(s, "/debug/") && !strings.Contains(s, "//")
}

// perlCore says whether an @INC directory is the distribution's core library rather
// than a vendor or site directory.
func perlCore(dir string) bool {
	if strings.HasPrefix(dir, "usr/local/") || !strings.HasPrefix(dir, "usr/") {
		return false
	}
	base := path.Base(dir)
	return base == "perl-base" || (strings.HasPrefix(base, "5.") && path.Base(path.Dir(dir)) == "perl")
}

// skipPerlDocs leaves out of a core directory its documentation (pod) and the Unicode
// test tables.
func skipPerlDocs(rel string, d fs.DirEntry) bool {
	if d.IsDir() {
		return path.Base(rel) == "pod"
	}
	return strings.HasSuffix(rel, ".pod") || rel == "unicore/TestProp.pl"
}

// isPerlSource says whether a file named name starting with head is Perl source.
func isPerlSource(name string, head []byte) bool {
	if strings.HasSuffix(name, ".pl") || strings.HasSuffix(name, ".pm") {
		return true
	}
	line, _, _ := strings.Cut(string(head), "\n")
	return strings.HasPrefix(line, "#!") && strings.Contains(line, "perl")
}

// shebangProgram is the base name of the program a script's #! line runs: the
// interpreter's, or for env the first word after its options and settings
// ("#!/usr/bin/env -S python3 -u" is python3); "" without a #! line.
func shebangProgram(head []byte) string {
	line, _, _ := strings.Cut(string(head), "\n")
	rest, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return ""
	}
	words := strings.Fields(rest)
	if len(words) == 0 {
		return ""
	}
	if path.Base(words[0]) != "env" {
		return path.Base(words[0])
	}
	if i := envProgram(words[1:]); i >= 0 {
		return path.Base(words[1+i])
	}
	return ""
}

var (
	perlUse     = regexp.MustCompile(`(?m)^\s*(?:use|no)\s+([A-Za-z_][\w:]*)`)
	perlRequire = regexp.MustCompile(`\brequire\s+([A-Za-z_][\w:]*)\s*;`)
	perlFile    = regexp.MustCompile(`\b(?:require|do)\s+["']([\w/.-]+\.p[lm])["']`)
	perlParent  = regexp.MustCompile(`(?m)^\s*use\s+(?:parent|base)\s+(?:-norequire\s*,\s*)?(?:qw\s*[(\[{/<]([^)\]}/>]*)|["']([\w:]+)["'])`)
)

// perlModules lists the files a Perl source loads by name: `use`/`no`/`require
// Module` as Module.pm paths (Foo::Bar → Foo/Bar.pm), `require "file.pl"`, the parents
// of `use parent`/`use base`; POD and what follows __END__ or __DATA__ are skipped.
func perlModules(src []byte) []string {
	text := perlCode(src)
	var out []string
	add := func(file string) {
		if file != "" && !slices.Contains(out, file) {
			out = append(out, file)
		}
	}
	mod := func(name string) {
		if name == "" || name[0] >= '0' && name[0] <= '9' {
			return
		}
		add(strings.ReplaceAll(name, "::", "/") + ".pm")
	}
	for _, m := range perlUse.FindAllStringSubmatch(text, -1) {
		mod(m[1])
	}
	for _, m := range perlRequire.FindAllStringSubmatch(text, -1) {
		mod(m[1])
	}
	for _, m := range perlFile.FindAllStringSubmatch(text, -1) {
		add(m[1])
	}
	for _, m := range perlParent.FindAllStringSubmatch(text, -1) {
		for _, name := range strings.Fields(m[1] + " " + m[2]) {
			mod(strings.Trim(name, `"',`))
		}
	}
	return out
}

// perlCode is Perl source without POD and without what follows __END__ or __DATA__.
func perlCode(src []byte) string {
	var b strings.Builder
	pod := false
	for _, line := range strings.Split(string(src), "\n") {
		switch {
		case strings.HasPrefix(line, "=cut"):
			pod = false
			continue
		case len(line) > 1 && line[0] == '=' && (line[1] >= 'a' && line[1] <= 'z' || line[1] >= 'A' && line[1] <= 'Z'):
			pod = true
		case line == "__END__" || line == "__DATA__":
			return b.String()
		}
		if !pod {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// perlImports takes, for each Perl runtime met, the module files the Perl sources load
// (perlModules), found in its @INC directories (every copy: which one wins depends on
// @INC's order, and all are small), with each module's auto/ directory (its XS library
// and autoloaded subs), scanning what it takes in turn.
func (p *process) perlImports(sources []string) error {
	for _, pl := range p.r.langs().perls {
		queue := []string{}
		for _, src := range sources {
			if !pl.seen[src] {
				pl.seen[src] = true
				queue = append(queue, src)
			}
		}
		for len(queue) > 0 {
			src := queue[0]
			queue = queue[1:]
			b, err := p.r.readSource(src)
			if err != nil {
				return err
			}
			for _, file := range perlModules(b) {
				if pl.seen["module:"+file] {
					continue
				}
				pl.seen["module:"+file] = true
				why := fmt.Sprintf("perl module %s used by /%s", file, src)
				for _, dir := range pl.inc {
					name := join(dir, file)
					ok, err := p.addFound(name, why)
					if err != nil {
						return err
					}
					if !ok {
						continue
					}
					if real := p.realOr(name); !pl.seen[real] {
						pl.seen[real] = true
						queue = append(queue, real)
					}
					if strings.HasSuffix(file, ".pm") {
						// XSLoader and AutoLoader find them by the module's name.
						if _, err := p.addTree(join(dir, "auto/"+strings.TrimSuffix(file, ".pm")), why, nil); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	return nil
}
