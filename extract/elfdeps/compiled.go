package elfdeps

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Bounds on what a program's configuration is read for: files and paths an app's
// configuration names are tens, not thousands.
const (
	maxConfigFiles = 64      // configuration files read for one program
	maxConfigPaths = 256     // paths taken from one file
	maxConfigSize  = 1 << 20 // a larger file is data, not configuration
)

// compiledFiles takes what a program the config starts names of its own in its binary
// under /etc, /var and /run (a path with a component named after the program:
// nginx's /etc/nginx/nginx.conf, /var/log/nginx/access.log, /run/nginx.pid; sshd's
// /etc/ssh): an existing file, the program's own directory under /etc whole (what its
// configuration includes), and for a file it creates, the directory it is created in,
// as its entry alone. The configuration files taken bring in turn what they name
// (configFiles). Without them the program started, then failed: open()
// "/etc/nginx/nginx.conf" failed. Only the program's own paths count: every Go
// program names /etc/services and /etc/mime.types, and needs neither.
func (r *Resolver) compiledFiles(c *collector, real, named string) error {
	st := r.langs()
	if c.check || st.done["compiled:"+real] {
		return nil
	}
	st.done["compiled:"+real] = true
	prog := path.Base(named)
	if len(prog) < 3 {
		return nil
	}
	var confs []string    // bare names of configuration files (apache2's "apache2.conf")
	var prefixes []string // its own directories under /usr (nginx's prefix, /usr/share/nginx)
	names, err := r.embeddedPaths(real, func(s string) bool {
		switch d := strings.TrimSuffix(s, "/"); {
		case isConfName(s):
			confs = append(confs, s)
			return false
		case d == "/usr/share/"+prog || d == "/usr/lib/"+prog || d == "/usr/local/"+prog:
			prefixes = append(prefixes, d)
			return false
		}
		return ownPath(s, prog)
	})
	if err != nil {
		return err
	}
	cf := &configFiles{r: r, p: &process{r: r, c: c}, seen: map[string]bool{}}
	if obj, err := r.object(real); err == nil {
		// A module its configuration names (load_module, LoadModule) is loaded by it.
		cf.dl = r.newProcess(c, obj, real, real)
	}
	cf.prefixes = prefixes
	for _, n := range names {
		if d := path.Clean(n); strings.HasPrefix(d, "/etc/") && strings.Count(d, "/") == 2 && cf.home == "" {
			if ok, err := r.isDir(d); err != nil {
				return err
			} else if ok {
				cf.home = d // where its configuration's relative names start
			}
		}
	}
	for _, n := range names {
		why := fmt.Sprintf("path %s compiled into /%s", n, real)
		if err := cf.take(n, why, prog); err != nil {
			return err
		}
	}
	if cf.home != "" {
		// Its main configuration, named relative to its directory: read for what it
		// includes and loads (the directory itself is taken whole).
		for _, n := range confs {
			main := path.Join(cf.home, n)
			ok, err := r.isRegular(main)
			if err != nil {
				return err
			}
			if !ok {
				continue // a name of another program's, or a default it does not ship
			}
			if err := cf.take(main, fmt.Sprintf("configuration %s named in /%s", n, real), ""); err != nil {
				return err
			}
		}
	}
	if cf.dl == nil {
		return nil
	}
	return cf.dl.drain()
}

// ownPath says whether s, a string of the program prog's binary, is a path of its own
// under /etc, /var or /run: a component is prog (/etc/nginx), starts with prog and a
// separator (nginx.pid, ssh_config) or, three bytes or more, begins prog (sshd's
// /etc/ssh).
func ownPath(s, prog string) bool {
	if len(s) > 256 || strings.ContainsAny(s, " \t\n%*?$") ||
		!strings.HasPrefix(s, "/etc/") && !strings.HasPrefix(s, "/var/") && !strings.HasPrefix(s, "/run/") {
		return false
	}
	for _, part := range strings.Split(s, "/")[2:] {
		switch {
		case part == prog,
			strings.HasPrefix(part, prog) && strings.ContainsRune("._-", rune(part[len(prog)])),
			len(part) >= 3 && strings.HasPrefix(prog, part):
			return true
		}
	}
	return false
}

// isConfName says whether s, a string of a binary, is the bare name of a
// configuration file: apache2.conf, my.cnf, app.yaml.
func isConfName(s string) bool {
	if len(s) > 64 || strings.ContainsAny(s, "/ \t\n%$*") {
		return false
	}
	switch path.Ext(s) {
	case ".conf", ".cnf", ".cfg", ".ini", ".yaml", ".yml", ".toml":
		return len(s) > len(path.Ext(s))
	}
	return false
}

// configFiles reads the configuration files of one program for the paths they name.
type configFiles struct {
	r    *Resolver
	p    *process
	dl   *process // the program, whose dlopen loads the modules named; nil if not ELF
	home string   // the program's own directory under /etc ("" if none)
	// prefixes are its own directories under /usr its binary names: a relative name of
	// its configuration may start there too (nginx's load_module modules/x.so).
	prefixes []string
	seen     map[string]bool
	read     int
}

// take takes the path n a program or its configuration names: an existing file
// (read in turn when it is configuration: under /etc), an existing directory (whole
// when it is the program's own under /etc, or named by its configuration and not a
// system directory: a web root; else its entry alone), or for a missing file the
// directory it would be created in. prog is the program for a path its binary names,
// "" for one its configuration names.
func (cf *configFiles) take(n, why, prog string) error {
	n = path.Clean(n)
	if cf.seen[n] || !path.IsAbs(n) || strings.Count(n, "/") < 2 {
		return nil
	}
	cf.seen[n] = true
	fi, err := cf.r.statFollow(n)
	if err != nil {
		return err
	}
	switch {
	case fi == nil || fi.Mode().IsRegular():
		if err := cf.r.addNamed(cf.p.c, n, why); err != nil || fi == nil {
			return err
		}
		if strings.HasPrefix(n, "/etc/") {
			return cf.scan(n)
		}
		return cf.r.namedProgram(cf.p.c, cf.dl, n, why)
	case fi.IsDir() && wholeDir(n, prog):
		_, err := cf.p.addTree(tidyName(n), why, nil)
		return err
	case fi.IsDir():
		return cf.r.addNamed(cf.p.c, n, why)
	}
	return nil
}

// wholeDir says whether a directory named so is taken whole: the program's own under
// /etc (prog != ""), or one its configuration names three levels down or more outside
// the system's trees (/var/www/html, /srv/app/static: not /usr/lib/x86_64-linux-gnu,
// /var/log, /run).
func wholeDir(n, prog string) bool {
	if prog != "" {
		return strings.HasPrefix(n, "/etc/") && strings.Count(n, "/") == 2
	}
	for _, sys := range []string{"/usr/", "/proc/", "/sys/", "/dev/", "/run/", "/tmp/", "/var/log/", "/var/lib/", "/var/cache/", "/var/tmp/", "/var/run/"} {
		if strings.HasPrefix(n+"/", sys) {
			return false
		}
	}
	return strings.Count(n, "/") >= 3
}

// scan reads the configuration file n for the absolute paths it names (a glob's
// matches: include /etc/nginx/sites-enabled/*), and for the user it runs as (user
// www-data; User=app): that user's entry comes with the source's /etc/passwd and
// /etc/group.
func (cf *configFiles) scan(n string) error {
	if cf.read >= maxConfigFiles {
		return nil
	}
	cf.read++
	w, err := cf.r.walk(n)
	if err != nil {
		return nil // taken already: a dangling link here has nothing to read
	}
	if fi, err := cf.r.links.Lstat(w.real); err != nil || fi.Size() > maxConfigSize {
		return nil
	}
	b, err := cf.r.readSource(w.real)
	if err != nil {
		return err
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return nil // binary: no configuration to read
	}
	taken, tries := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxConfigSize)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i]
		}
		words := strings.FieldsFunc(line, func(c rune) bool { return strings.ContainsRune(" \t;\"'=,()", c) })
		for i, w := range words[:max(len(words)-1, 0)] {
			// user www-data; User=app; export APACHE_RUN_USER=www-data
			if strings.EqualFold(w, "user") || strings.HasSuffix(w, "_USER") {
				if err := cf.user(words[i+1], n); err != nil {
					return err
				}
			}
		}
		for _, w := range words {
			if strings.ContainsAny(w, "$%{}<>|\\") || strings.Contains(w, "://") || taken >= maxConfigPaths {
				continue
			}
			why := fmt.Sprintf("path named in %s", n)
			if !strings.HasPrefix(w, "/") {
				// include mime.types; IncludeOptional mods-enabled/*.load: relative to
				// the program's own directory, to the file's, or to its prefix; taken
				// if there.
				if tries >= maxConfigPaths*4 || !strings.ContainsAny(w, "./") || strings.HasPrefix(w, "-") {
					continue
				}
				tries++
				for _, dir := range append([]string{cf.home, path.Dir(n)}, cf.prefixes...) {
					if dir == "" {
						continue
					}
					ok, err := cf.exists(path.Join(dir, w))
					if err != nil {
						return err
					}
					if ok {
						taken++
						if err := cf.named(path.Join(dir, w), why); err != nil {
							return err
						}
						break
					}
				}
				continue
			}
			taken++
			if err := cf.named(w, why); err != nil {
				return err
			}
		}
	}
	return nil
}

// named takes the absolute path or pattern w a configuration file names.
func (cf *configFiles) named(w, why string) error {
	if strings.ContainsAny(w, "*?[") {
		return cf.glob(w, why)
	}
	return cf.take(w, why, "")
}

// exists says whether the name or pattern w names anything in the image.
func (cf *configFiles) exists(w string) (bool, error) {
	if !strings.ContainsAny(w, "*?[") {
		fi, err := cf.r.statFollow(w)
		return fi != nil, err
	}
	return cf.r.isDir(path.Dir(w))
}

// glob takes the matches of a pattern in its last component (conf.d/*.conf); a
// pattern in a directory's name, or a bad one, matches nothing here.
func (cf *configFiles) glob(pattern, why string) error {
	dir, base := path.Dir(pattern), path.Base(pattern)
	if strings.ContainsAny(dir, "*?[") {
		return nil
	}
	w, err := cf.r.walk(dir)
	if err != nil {
		return nil // no such directory: nothing is included
	}
	entries, err := fs.ReadDir(cf.r.fsys, w.real)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if ok, err := path.Match(base, e.Name()); err != nil || !ok {
			continue
		}
		if err := cf.take(path.Join(dir, e.Name()), why, ""); err != nil {
			return err
		}
	}
	return nil
}

// user takes /etc/passwd and /etc/group when the source lists the user name there:
// the static base lists root and nobody only, and the program looks its user up.
func (cf *configFiles) user(name, conf string) error {
	if cf.seen["user:"+name] {
		return nil
	}
	cf.seen["user:"+name] = true
	w, err := cf.r.walk("etc/passwd")
	if err != nil {
		return nil
	}
	b, err := cf.r.readSource(w.real)
	if err != nil || !bytes.Contains(append([]byte("\n"), b...), []byte("\n"+name+":")) {
		return err
	}
	why := fmt.Sprintf("user %s of %s", name, conf)
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		if err := cf.r.addNamed(cf.p.c, f, why); err != nil {
			return err
		}
	}
	return nil
}
