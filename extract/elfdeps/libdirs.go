package elfdeps

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

// libDirFamilies are the interpreters whose library directories are compiled into
// their binary (or the library that is the interpreter): Ruby's stdlib and extensions
// (/usr/lib/ruby/3.1.0, /usr/lib/ARCH/ruby/3.1.0, vendor_ruby), PHP's extension
// directory and ini directory (/usr/lib/php/20220829, /etc/php/8.2/cli), Lua's
// package.path and cpath (/usr/share/lua/5.4), Tcl's library (/usr/share/tcltk/tcl8.6,
// whose init.tcl tclsh reads at start).
func libDirFamilies() []string { return []string{"ruby", "php", "lua", "tcl"} }

// loadLibDirs takes, for an interpreter of libDirFamilies (a program whose name starts
// with the family's, or one loading lib<family>), the existing directories that its
// binary and its interpreter library name by absolute path under /usr or /etc with
// the family in the path (a Lua path template counts for the directory before its
// "?"), whole, less documentation. These interpreters load their standard library by
// name at start or on require, so without them the program starts and then fails.
func (p *process) loadLibDirs() error {
	for _, family := range libDirFamilies() {
		var bins []*loaded
		if strings.HasPrefix(path.Base(p.root.real), family) {
			bins = append(bins, p.root)
		}
		if l := p.loadedNamed("lib" + family); l != nil {
			bins = append(bins, l)
		}
		for _, bin := range bins {
			if p.r.langs().done["libdirs:"+bin.real] {
				continue
			}
			p.r.langs().done["libdirs:"+bin.real] = true
			p.r.langs().done["runtime:"+family] = true
			names, err := p.r.embeddedPaths(bin.real, func(s string) bool { return isLibDirString(s, family) })
			if err != nil {
				return err
			}
			for _, n := range names {
				for _, dir := range familyDirs(n, family) {
					w, err := p.r.walk(tidyName(dir))
					if err != nil {
						continue // a directory the image does not have (/usr/local…)
					}
					if fi, err := p.r.links.Lstat(w.real); err != nil || !fi.IsDir() {
						continue
					}
					why := fmt.Sprintf("%s library directory %s named in /%s", family, dir, bin.real)
					if _, err := p.addTree(tidyName(dir), why, skipLibDocs); err != nil {
						return err
					}
				}
			}
			if family == "ruby" {
				if err := p.rubyGems(bin.real); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// rubyGems takes the gems installed for Ruby (gem install, bundler's system gems), as
// Node's node_modules come whole: where GEM_HOME and GEM_PATH say, else Debian's and
// upstream's gem directories. Rubygems finds them at start, by its own defaults.
func (p *process) rubyGems(bin string) error {
	var dirs []string
	for _, key := range []string{"GEM_HOME", "GEM_PATH"} {
		if v, ok := rootfs.Getenv(p.r.opts.env, key); ok {
			for _, d := range strings.Split(v, ":") {
				if path.IsAbs(d) {
					dirs = append(dirs, d)
				}
			}
		}
	}
	if len(dirs) == 0 {
		dirs = []string{"/var/lib/gems", "/usr/share/rubygems-integration", "/usr/lib/ruby/gems", "/usr/local/lib/ruby/gems", "/usr/local/bundle"}
	}
	for _, d := range dirs {
		if _, err := p.addTree(tidyName(d), fmt.Sprintf("ruby gems %s for /%s", d, bin), skipLibDocs); err != nil {
			return err
		}
	}
	return nil
}

// isLibDirString says whether a string of an interpreter's binary may name its
// library directories: absolute, under /usr or /etc, naming the family.
func isLibDirString(s, family string) bool {
	if !strings.HasPrefix(s, "/usr/") && !strings.HasPrefix(s, "/etc/") || !strings.Contains(s, family) {
		return false
	}
	for _, bad := range []string{"/debug/", "/man", "/include", "/doc", "%", "$", " ", "\t", "\n", "\"", "*", "//"} {
		if strings.Contains(s, bad) {
			return false
		}
	}
	return true
}

// familyDirs reads the directories a string names: itself, or each element of a
// ;-separated path template up to its "?" (Lua's "/usr/share/lua/5.4/?.lua;...").
// Only those with the family in a path element count: /usr/lib alone is no library
// directory of Ruby's.
func familyDirs(s, family string) []string {
	var out []string
	for _, part := range strings.Split(s, ";") {
		if i := strings.IndexByte(part, '?'); i >= 0 {
			part = path.Dir(part[:i] + "x")
		}
		if !strings.HasPrefix(part, "/") || path.Clean(part) == "/" {
			continue
		}
		named := false
		for _, el := range strings.Split(part, "/") {
			named = named || strings.HasPrefix(el, family)
		}
		if named {
			out = append(out, path.Clean(part))
		}
	}
	return out
}

// skipLibDocs leaves documentation out of a library directory.
func skipLibDocs(rel string, d fs.DirEntry) bool {
	if d.IsDir() {
		switch path.Base(rel) {
		case "doc", "docs", "man", "ri":
			return true
		}
	}
	return false
}
