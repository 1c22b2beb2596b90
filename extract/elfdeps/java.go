package elfdeps

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// loadJava takes, for a program of a JDK or JRE (bin/java next to lib/modules) or one
// loading libjvm, that runtime's directory at its real path: the VM (lib/server), the
// native libraries the class library loads by name (lib/*.so), the module image, jvm.cfg,
// conf/ and lib/security (with what their symlinks point to: Debian keeps them in /etc
// and cacerts in /etc/ssl/certs/java), tzdb.dat. Left out: legal notices, man pages,
// headers, jmods, src.zip and ct.sym (javac's).
func (p *process) loadJava() error {
	home := ""
	if d := path.Dir(path.Dir(p.root.real)); path.Base(path.Dir(p.root.real)) == "bin" {
		if ok, err := p.r.exists(d + "/lib/modules"); err != nil {
			return err
		} else if ok {
			home = d
		}
	}
	if l := p.loadedNamed("libjvm.so"); home == "" && l != nil {
		home = path.Dir(path.Dir(path.Dir(l.real))) // lib/server/libjvm.so
	}
	if home == "" {
		return nil
	}
	if !p.r.langs().done["java:"+home] {
		p.r.langs().done["java:"+home] = true
		why := fmt.Sprintf("JRE /%s of /%s", home, p.root.real)
		if _, err := p.addTree(home, why, skipJava); err != nil {
			return err
		}
		if err := p.javaSecurity(home, why); err != nil {
			return err
		}
	}
	if path.Base(p.root.real) != "java" {
		return nil // a program that embeds the VM: its arguments are its own
	}
	return p.loadJavaApp(fmt.Sprintf("run by /%s", p.root.real))
}

func skipJava(rel string, d fs.DirEntry) bool {
	switch rel {
	case "legal", "man", "docs", "include", "jmods", "demo", "sample", "lib/src.zip", "lib/ct.sym":
		return true
	}
	return false
}

// javaSecurity adds the files java.security names by absolute path or file: URL (a
// distribution's own cacerts or policy), when the image has them.
func (p *process) javaSecurity(home, why string) error {
	b, err := p.r.readFile(home + "/conf/security/java.security")
	if err != nil {
		return nil // no such file: nothing it names
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		_, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimPrefix(strings.TrimSpace(v), "file:")
		if !path.IsAbs(v) || strings.ContainsAny(v, " ,$") {
			continue
		}
		switch strings.SplitN(strings.TrimPrefix(path.Clean(v), "/"), "/", 2)[0] {
		case "dev", "proc", "sys":
			continue
		}
		if _, err := p.addFound(v, why+": named in java.security"); err != nil {
			return err
		}
	}
	return nil
}
