package elfdeps

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

// langState is what the language runtime rules remember across Closure calls: the
// runtimes met (each taken once) and, for Python, where imports are looked for and the
// source files seen so far.
type langState struct {
	done    map[string]bool // runtime directories already taken, sources already read
	pythons []*python
	sources []string // .py files given to Imports, scanned for every runtime
	perls   []*perl
	perlSrc []string       // Perl sources given to Imports, likewise
	scripts []scriptSource // sources of scriptFamilies given to Imports, read for what they start
	nodePkg []string       // packages taken whole for a script node runs (scanIfNode)
	node    bool           // a node runtime was met: jsSrc are its app's sources
	jsSrc   []string       // JavaScript sources given to Imports, outside node_modules
	// pyBin and nodeBin are the first Python and Node programs met: the processes
	// whose dlopen loads a library an app source names.
	pyBin, nodeBin string
}

func (r *Resolver) langs() *langState {
	if r.lang == nil {
		r.lang = &langState{done: map[string]bool{}}
	}
	return r.lang
}

// loadLangs adds what a language runtime loads by name when the program started is one:
// Python's stdlib, Node's externalized builtins, the JRE of java. The loader never
// names these files, so without them the program starts and then fails. Perl's core
// library likewise.
func (p *process) loadLangs() error {
	if p.c.check || p.root.obj.interp == "" {
		return nil
	}
	if err := p.loadPython(); err != nil {
		return err
	}
	if err := p.loadNode(); err != nil {
		return err
	}
	if err := p.loadPerl(); err != nil {
		return err
	}
	if err := p.loadLibDirs(); err != nil {
		return err
	}
	return p.loadJava()
}

// addTree adds the files under the image name dir, less what skip says (rel is the
// path under dir), and for each symlink met, what it points to, wherever that is (a
// runtime opening the name follows it: Debian's JRE keeps its conf in /etc). It
// reports whether dir exists.
func (p *process) addTree(dir, why string, skip func(rel string, d fs.DirEntry) bool) (bool, error) {
	w, err := p.r.walk(dir)
	if err != nil {
		if rootfs.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	for _, l := range w.links {
		p.c.addDep(Dep{Path: l, Reason: why, Symlink: true})
	}
	err = fs.WalkDir(p.r.fsys, w.real, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(q, w.real), "/")
		if rel != "" && skip != nil && skip(rel, d) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			if _, err := p.addFound(q, why); err != nil {
				return err
			}
			// addFound adds a dangling link's nothing: the runtime finds nothing there
			// either, but the copy should look the same.
			p.c.addDep(Dep{Path: q, Reason: why, Symlink: true})
		case d.Type().IsRegular():
			p.c.addDep(Dep{Path: q, Reason: why})
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("listing %s: %w", dir, err)
	}
	return true, nil
}

// exists reports whether the image has name (through symlinks).
func (r *Resolver) exists(name string) (bool, error) {
	_, err := r.walk(name)
	if rootfs.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// loadedNamed returns an object of the process whose name (soname or the name it was
// loaded by) starts with prefix: the runtime may be a library (libnode, libpython).
func (p *process) loadedNamed(prefix string) *loaded {
	for name, l := range p.byName {
		if strings.HasPrefix(path.Base(name), prefix) {
			return l
		}
	}
	return nil
}
