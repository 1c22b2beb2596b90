package elfdeps

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"

	"github.com/slim-dev/slim/internal/rootfs"
)

// javaLaunch is what the java launcher's arguments name to load: the class path, the
// jar of -jar, the module path, and whether a main class, source file or module is
// named (with none of -cp, CLASSPATH and -jar, the class path is the working
// directory).
type javaLaunch struct {
	classPath  string
	cpSet      bool
	jar        string
	modulePath []string
	main       string // the main class or source file, as named
	module     bool
}

// javaValueOption says whether a launcher option takes the next word as its value.
func javaValueOption(a string) bool {
	switch a {
	case "--add-modules", "--limit-modules", "--add-reads", "--add-exports", "--add-opens",
		"--patch-module", "--source", "-d", "--describe-module", "--enable-native-access":
		return true
	}
	return false
}

// parseJavaArgs reads the launcher's options up to the main class, -jar FILE or
// -m MODULE; what follows is the application's. argFile expands @FILE arguments.
func parseJavaArgs(args []string, argFile func(string) []string) javaLaunch {
	var l javaLaunch
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, bool) {
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			return "", false
		}
		switch {
		case strings.HasPrefix(a, "@") && !strings.HasPrefix(a, "@@"):
			args = append(append(append([]string{}, args[:i+1]...), argFile(a[1:])...), args[i+1:]...)
		case a == "-cp" || a == "-classpath" || a == "--class-path":
			l.classPath, l.cpSet = next()
		case strings.HasPrefix(a, "--class-path="):
			l.classPath, l.cpSet = strings.TrimPrefix(a, "--class-path="), true
		case a == "-p" || a == "--module-path" || a == "--upgrade-module-path":
			if v, ok := next(); ok {
				l.modulePath = append(l.modulePath, strings.Split(v, ":")...)
			}
		case strings.HasPrefix(a, "--module-path=") || strings.HasPrefix(a, "--upgrade-module-path="):
			_, v, _ := strings.Cut(a, "=")
			l.modulePath = append(l.modulePath, strings.Split(v, ":")...)
		case a == "-jar":
			l.jar, _ = next()
			return l
		case a == "-m" || a == "--module" || strings.HasPrefix(a, "--module="):
			l.module = true
			return l
		case javaValueOption(a):
			next()
		case strings.HasPrefix(a, "-"):
		default:
			l.main = a
			return l
		}
	}
	return l
}

// javaArgWords splits an @argfile or JDK_JAVA_OPTIONS as the launcher does: words
// apart at white space, quotes grouping, # starting a comment at the start of a word
// (in files).
func javaArgWords(s string, comments bool) []string {
	var words []string
	var w strings.Builder
	quote, inWord := byte(0), false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			switch {
			case ch == quote:
				quote = 0
			case ch == '\\' && i+1 < len(s):
				i++
				w.WriteByte(s[i])
			default:
				w.WriteByte(ch)
			}
		case ch == '"' || ch == '\'':
			quote, inWord = ch, true
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case ch == '#' && comments && !inWord:
			for i < len(s) && s[i] != '\n' {
				i++
			}
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// loadJavaApp takes what the config's java command loads besides the JRE: the entries
// of its class path (a directory whole, DIR/* as its jars, a jar with what its
// manifest's Class-Path names, transitively), its -jar, its module path, and a
// single-file source program. The JVM opens these by name only once running, so
// without them an image that names only the jar or the JRE starts and then fails with
// ClassNotFoundException. The launcher ignores missing entries; so does this.
func (p *process) loadJavaApp(why string) error {
	args, ok := p.r.argsOf(p.root.real)
	if !ok {
		return nil
	}
	if opts, ok := rootfs.Getenv(p.r.opts.env, "JDK_JAVA_OPTIONS"); ok {
		args = append(javaArgWords(opts, false), args...)
	}
	var argFileErr error
	l := parseJavaArgs(args, func(name string) []string {
		b, err := p.r.readFile(p.r.inWorkdir(name))
		if err != nil {
			return nil // the launcher fails on it, as the original does
		}
		if err := p.addIfExists(p.r.inWorkdir(name), why+": an @argfile"); err != nil && argFileErr == nil {
			argFileErr = err
		}
		return javaArgWords(string(b), true)
	})
	if argFileErr != nil {
		return argFileErr
	}
	j := javaTaker{p: p, why: why, seen: map[string]bool{}}
	switch {
	case l.jar != "":
		if ok, err := j.jar(p.r.inWorkdir(l.jar)); err != nil || !ok {
			if err == nil {
				p.c.miss("jar %s run by /%s", l.jar, p.root.real)
			}
			return err
		}
		return j.entries(l.modulePath)
	case strings.HasSuffix(l.main, ".java"):
		if err := p.addIfExists(p.r.inWorkdir(l.main), why+": its source program"); err != nil {
			return err
		}
	}
	cp := l.classPath
	if !l.cpSet {
		var ok bool
		if cp, ok = rootfs.Getenv(p.r.opts.env, "CLASSPATH"); !ok && l.main != "" && !l.module {
			cp = "."
		}
	}
	if cp != "" {
		if err := j.entries(strings.Split(cp, ":")); err != nil {
			return err
		}
	}
	return j.entries(l.modulePath)
}

// inWorkdir is name as a process in the config's working directory opens it.
func (r *Resolver) inWorkdir(name string) string {
	if path.IsAbs(name) {
		return name
	}
	return path.Join("/", r.opts.workdir, name)
}

// javaTaker takes class path entries, each jar once.
type javaTaker struct {
	p    *process
	why  string
	seen map[string]bool
}

// entries takes class path or module path entries: a jar, a directory (of classes,
// or of modular jars or exploded modules: taken whole), DIR/* (its jars); an empty
// entry is the working directory.
func (j *javaTaker) entries(list []string) error {
	for _, e := range list {
		name := j.p.r.inWorkdir(e)
		var err error
		if e == "*" || strings.HasSuffix(e, "/*") {
			err = j.dirJars(path.Dir(name))
		} else {
			err = j.dirOrJar(name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (j *javaTaker) dirOrJar(name string) error {
	w, err := j.p.r.walk(name)
	if err != nil {
		if rootfs.IsNotFound(err) {
			return nil
		}
		return err
	}
	fi, err := j.p.r.links.Lstat(w.real)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		_, err := j.jar(name)
		return err
	}
	if w.real == "" || w.real == "." {
		// A class path of / (the working directory of an image without WORKDIR)
		// would take the whole image.
		j.p.r.warn(fmt.Sprintf("the class path of /%s includes /: not taken; name the application's classes with --from", j.p.root.real))
		return nil
	}
	return j.p.addIfExists(name, j.why+": class path directory "+name)
}

// dirJars takes the jars of dir, as a class path entry DIR/* names them.
func (j *javaTaker) dirJars(dir string) error {
	w, err := j.p.r.walk(dir)
	if err != nil {
		if rootfs.IsNotFound(err) {
			return nil
		}
		return err
	}
	ents, err := fs.ReadDir(j.p.r.fsys, w.real)
	if err != nil {
		return nil // not a directory: the launcher skips it
	}
	for _, d := range ents {
		if ext := strings.ToLower(path.Ext(d.Name())); ext != ".jar" || d.IsDir() {
			continue
		}
		if _, err := j.jar(path.Join(dir, d.Name())); err != nil {
			return err
		}
	}
	return nil
}

// jar takes a jar and what its manifest's Class-Path names; it reports whether the
// jar exists.
func (j *javaTaker) jar(name string) (bool, error) {
	w, err := j.p.r.walk(name)
	if err != nil {
		if rootfs.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	if j.seen[w.real] {
		return true, nil
	}
	j.seen[w.real] = true
	if _, err := j.p.addFound(name, j.why+": class path jar "+name); err != nil {
		return true, err
	}
	refs, err := j.manifestClassPath(w.real)
	if err != nil {
		return true, err
	}
	for _, ref := range refs {
		target := ref
		if !path.IsAbs(ref) {
			// Relative to the jar's URL: the directory it was named in.
			target = path.Join(path.Dir(name), ref)
		}
		if err := j.dirOrJar(target); err != nil {
			return true, err
		}
	}
	return true, nil
}

// manifestClassPath reads the Class-Path attribute of a jar's META-INF/MANIFEST.MF:
// space-separated URLs, relative or file:, percent-encoded. A file that is no zip has
// none. The jar is read from its start, where the jar tool and every build tool put the
// manifest (leadingManifest), so a fat jar costs a few kilobytes, not its size in
// memory; only a jar that puts it elsewhere is read whole, up to maxJar.
func (j *javaTaker) manifestClassPath(real string) ([]string, error) {
	f, err := j.p.r.fsys.Open(real)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", real, err)
	}
	mf, ok := leadingManifest(bufio.NewReader(f))
	f.Close()
	if ok {
		return classPathAttr(bytes.NewReader(mf)), nil
	}
	if f, err = j.p.r.fsys.Open(real); err != nil {
		return nil, fmt.Errorf("reading %s: %w", real, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJar+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", real, err)
	}
	if len(b) > maxJar {
		j.p.r.warn(fmt.Sprintf("the manifest of /%s is not at its start and the jar is larger than %d MiB: its Class-Path is not followed", real, maxJar>>20))
		return nil, nil
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil
	}
	for _, zf := range zr.File {
		if !strings.EqualFold(zf.Name, "META-INF/MANIFEST.MF") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, nil
		}
		defer rc.Close()
		return classPathAttr(io.LimitReader(rc, maxManifest)), nil
	}
	return nil, nil
}

const (
	// maxJar bounds a jar read whole for its manifest.
	maxJar = 64 << 20
	// maxManifest bounds the manifest read.
	maxManifest = 1 << 20
	// leadingEntries is how many entries leadingManifest reads past looking for the
	// manifest (META-INF/ comes first, and some tools put a few files before it).
	leadingEntries = 8
)

// leadingManifest reads a zip's local entries from the start for META-INF/MANIFEST.MF;
// ok is false when it is not among the first leadingEntries or the stream cannot be
// followed (a stored entry whose size only a data descriptor after it gives).
func leadingManifest(r *bufio.Reader) (mf []byte, ok bool) {
	for range leadingEntries {
		var h [30]byte
		if _, err := io.ReadFull(r, h[:]); err != nil || binary.LittleEndian.Uint32(h[:]) != 0x04034b50 {
			return nil, false
		}
		flags, method := binary.LittleEndian.Uint16(h[6:]), binary.LittleEndian.Uint16(h[8:])
		csize := int64(binary.LittleEndian.Uint32(h[18:]))
		nameLen, extraLen := int(binary.LittleEndian.Uint16(h[26:])), int64(binary.LittleEndian.Uint16(h[28:]))
		name := make([]byte, nameLen)
		if _, err := io.ReadFull(r, name); err != nil {
			return nil, false
		}
		if _, err := r.Discard(int(extraLen)); err != nil {
			return nil, false
		}
		descriptor := flags&8 != 0
		var body io.Reader
		switch {
		case method == zip.Deflate:
			// flate reads exactly its stream from a ByteReader: the next header follows.
			body = flate.NewReader(r)
		case method == zip.Store && !descriptor:
			body = io.LimitReader(r, csize)
		default:
			return nil, false
		}
		manifest := strings.EqualFold(string(name), "META-INF/MANIFEST.MF")
		if manifest {
			b, err := io.ReadAll(io.LimitReader(body, maxManifest))
			return b, err == nil
		}
		if _, err := io.Copy(io.Discard, io.LimitReader(body, maxJar)); err != nil {
			return nil, false
		}
		if descriptor {
			// Optional signature, CRC, and 4-byte sizes (a jar's entries are small).
			sig, err := r.Peek(4)
			if err != nil {
				return nil, false
			}
			n := 12
			if binary.LittleEndian.Uint32(sig) == 0x08074b50 {
				n = 16
			}
			if _, err := r.Discard(n); err != nil {
				return nil, false
			}
		}
	}
	return nil, false
}

// classPathAttr parses a manifest's main section for Class-Path: a line continues on
// the next one that starts with a space.
func classPathAttr(r io.Reader) []string {
	var attrs []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break // the end of the main section
		}
		if strings.HasPrefix(line, " ") && len(attrs) > 0 {
			attrs[len(attrs)-1] += line[1:]
			continue
		}
		attrs = append(attrs, line)
	}
	var refs []string
	for _, a := range attrs {
		k, v, ok := strings.Cut(a, ":")
		if !ok || !strings.EqualFold(k, "Class-Path") {
			continue
		}
		for _, u := range strings.Fields(v) {
			if rest, ok := strings.CutPrefix(u, "file:"); ok {
				u = rest
			} else if strings.Contains(u, ":") {
				continue // another scheme: nothing in the image
			}
			if d, err := url.PathUnescape(u); err == nil {
				u = d
			}
			refs = append(refs, u)
		}
	}
	return refs
}
