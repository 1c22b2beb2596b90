package elfdeps

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// mkJar is a jar whose manifest has the given Class-Path (none when "").
func mkJar(t *testing.T, classPath string) *fstest.MapFile {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("META-INF/MANIFEST.MF")
	if err != nil {
		t.Fatal(err)
	}
	mf := "Manifest-Version: 1.0\r\nMain-Class: app.Main\r\n"
	if classPath != "" {
		// Manifest lines are at most 72 bytes: longer values continue on lines that
		// start with a space, as the jar tool writes them.
		line := "Class-Path: " + classPath
		for len(line) > 70 {
			mf += line[:70] + "\r\n"
			line = " " + line[70:]
		}
		mf += line + "\r\n"
	}
	w.Write([]byte(mf + "\r\n"))
	if w, err = zw.Create("app/Main.class"); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte{0xca, 0xfe, 0xba, 0xbe})
	zw.Close()
	return &fstest.MapFile{Data: buf.Bytes(), Mode: 0o644}
}

// javaImage is a glibc image with a JRE at /usr/lib/jvm/jre (java on PATH through
// /usr/bin) and an application's files: jars and classes in and out of /app.
func javaImage(t *testing.T) fstest.MapFS {
	m := glibcImage(t)
	const home = "usr/lib/jvm/jre"
	m[home+"/bin/java"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	m[home+"/lib/modules"] = text("jimage")
	m["usr/bin/java"] = link("/" + home + "/bin/java")
	m["app/app.jar"] = mkJar(t, "lib/dep%20one.jar lib/dep2.jar ../../usr/share/java/shared.jar /opt/abs.jar file:/opt/url.jar http://example.com/x.jar lib/classes/")
	m["app/lib/dep one.jar"] = mkJar(t, "nested.jar")
	m["app/lib/dep2.jar"] = mkJar(t, "dep one.jar") // a cycle back
	m["app/lib/nested.jar"] = mkJar(t, "")
	m["app/lib/classes/x/Y.class"] = text("class")
	m["app/lib/unrelated.txt"] = text("")
	m["usr/share/java/shared.jar"] = mkJar(t, "")
	m["opt/abs.jar"] = mkJar(t, "")
	m["opt/url.jar"] = mkJar(t, "")
	m["opt/libs/a.jar"] = mkJar(t, "a-dep.jar")
	m["opt/libs/a-dep.jar"] = mkJar(t, "")
	m["opt/libs/B.JAR"] = mkJar(t, "")
	m["opt/libs/notes.txt"] = text("")
	m["opt/libs/sub/c.jar"] = mkJar(t, "")
	m["opt/classes/p/Main.class"] = text("class")
	m["opt/classes/p/res.properties"] = text("k=v")
	m["opt/mods/m.jar"] = mkJar(t, "")
	m["opt/args.txt"] = text("# options\n-cp '/opt/classes'\n")
	m["srv/Main.class"] = text("class")
	m["srv/Tool.java"] = text("class Tool {}")
	m["unrelated/z.jar"] = mkJar(t, "")
	return m
}

// TestClosureJavaClassPath: the java command's class path, -jar and module path bring
// the application's jars and classes wherever they are, with what jar manifests name.
func TestClosureJavaClassPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		env     []string
		workdir string
		want    []string
		not     []string
	}{
		{name: "jar manifest", args: []string{"-Xmx64m", "-jar", "/app/app.jar"},
			want: []string{"app/app.jar", "app/lib/dep one.jar", "app/lib/dep2.jar", "app/lib/nested.jar", "usr/share/java/shared.jar",
				"opt/abs.jar", "opt/url.jar", "app/lib/classes/x/Y.class"},
			not: []string{"app/lib/unrelated.txt", "opt/libs/a.jar"}},
		{name: "relative jar", args: []string{"-jar", "app.jar"}, workdir: "/app",
			want: []string{"app/app.jar", "app/lib/nested.jar"}},
		{name: "wildcard and directory", args: []string{"-cp", "/opt/libs/*:/opt/classes", "p.Main", "/unrelated/z.jar"},
			want: []string{"opt/libs/a.jar", "opt/libs/a-dep.jar", "opt/libs/B.JAR", "opt/classes/p/Main.class", "opt/classes/p/res.properties"},
			not:  []string{"opt/libs/notes.txt", "opt/libs/sub/c.jar", "unrelated/z.jar", "app/app.jar"}},
		{name: "--class-path=", args: []string{"--class-path=/opt/abs.jar", "Main"}, want: []string{"opt/abs.jar"}, not: []string{"srv/Main.class"}},
		{name: "CLASSPATH", args: []string{"p.Main"}, env: []string{"CLASSPATH=/opt/libs/*"}, want: []string{"opt/libs/a.jar"}},
		{name: "-cp beats CLASSPATH", args: []string{"-cp", "/opt/abs.jar", "p.Main"}, env: []string{"CLASSPATH=/opt/libs/*"},
			want: []string{"opt/abs.jar"}, not: []string{"opt/libs/a.jar"}},
		{name: "working directory", args: []string{"Main"}, workdir: "/srv", want: []string{"srv/Main.class", "srv/Tool.java"}},
		{name: "source program", args: []string{"Tool.java"}, workdir: "/srv", want: []string{"srv/Tool.java"}},
		{name: "argfile", args: []string{"@/opt/args.txt", "p.Main"}, want: []string{"opt/args.txt", "opt/classes/p/Main.class"}},
		{name: "JDK_JAVA_OPTIONS", args: []string{"p.Main"}, env: []string{"JDK_JAVA_OPTIONS=--class-path \"/opt/classes\""},
			want: []string{"opt/classes/p/Main.class"}},
		{name: "module path", args: []string{"-p", "/opt/mods", "-m", "m/p.Main"}, want: []string{"opt/mods/m.jar"}, not: []string{"srv/Main.class"}},
		{name: "options with values", args: []string{"--add-opens", "/opt/abs.jar", "-cp", "/opt/url.jar", "p.Main"},
			want: []string{"opt/url.jar"}, not: []string{"opt/abs.jar"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []Option{WithArgs("/usr/bin/java", tc.args), WithEnv(tc.env)}
			if tc.workdir != "" {
				opts = append(opts, WithWorkdir(tc.workdir))
			}
			got := closureReasons(t, javaImage(t), "usr/bin/java", opts...)
			for _, p := range tc.want {
				if !strings.HasPrefix(got[p], "run by /usr/lib/jvm/jre/bin/java") {
					t.Errorf("%s: reason %q", p, got[p])
				}
			}
			for _, p := range tc.not {
				if r, ok := got[p]; ok {
					t.Errorf("%s taken: %s", p, r)
				}
			}
		})
	}
}

// TestClosureJavaClassPathRoot: a class path of / (no WORKDIR) is not the whole image.
func TestClosureJavaClassPathRoot(t *testing.T) {
	t.Parallel()
	var warned []string
	got := closureReasons(t, javaImage(t), "usr/bin/java", WithArgs("/usr/bin/java", []string{"Main"}),
		WithWarn(func(s string) { warned = append(warned, s) }))
	if _, ok := got["unrelated/z.jar"]; ok {
		t.Error("a class path of / took the image")
	}
	if !slices.ContainsFunc(warned, func(s string) bool { return strings.Contains(s, "class path") }) {
		t.Errorf("no warning about the class path /: %q", warned)
	}
}

func TestJavaArgWords(t *testing.T) {
	for in, want := range map[string][]string{
		"-cp a:b  Main":                {"-cp", "a:b", "Main"},
		"# c\n-Dx='a b' \"c\\\"d\"\n#": {"-Dx=a b", "c\"d"},
		"":                             nil,
	} {
		if got := javaArgWords(in, true); !slices.Equal(got, want) {
			t.Errorf("javaArgWords(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestJarManifestPlaces: the manifest is read from the jar's first entries as the jar
// tool and Go's zip writer lay them out (deflated, with data descriptors), and found
// by the central directory when other entries come first.
func TestJarManifestPlaces(t *testing.T) {
	mk := func(before int, method uint16) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for i := range before {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("x/%d.class", i), Method: method})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(bytes.Repeat([]byte{byte(i)}, 100*i))
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "META-INF/MANIFEST.MF", Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("Manifest-Version: 1.0\r\nClass-Path: a.jar\r\n  b.jar\r\n\r\nName: x\r\nClass-Path: no.jar\r\n"))
		zw.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name    string
		jar     []byte
		leading bool
	}{
		{"first, deflated", mk(0, zip.Deflate), true},
		{"after three, deflated", mk(3, zip.Deflate), true},
		{"after twenty", mk(20, zip.Deflate), false},
		{"stored with descriptors", mk(2, zip.Store), false},
	} {
		mf, ok := leadingManifest(bufio.NewReader(bytes.NewReader(tc.jar)))
		if ok != tc.leading || ok && !strings.Contains(string(mf), "Class-Path") {
			t.Errorf("%s: leadingManifest = %q, %v; want found %v", tc.name, mf, ok, tc.leading)
		}
		m := glibcImage(t)
		m["app/app.jar"] = &fstest.MapFile{Data: tc.jar, Mode: 0o644}
		r, err := New(m)
		if err != nil {
			t.Fatal(err)
		}
		j := javaTaker{p: &process{r: r}, seen: map[string]bool{}}
		refs, err := j.manifestClassPath("app/app.jar")
		if err != nil || !slices.Equal(refs, []string{"a.jar", "b.jar"}) {
			t.Errorf("%s: Class-Path %q, %v; want a.jar b.jar (the main section's only)", tc.name, refs, err)
		}
	}
}

func TestSimpleCommand(t *testing.T) {
	for body, want := range map[string][]string{
		"java -jar /app/app.jar":      {"java", "-jar", "/app/app.jar"},
		"  exec python3 -m app  ":     {"python3", "-m", "app"},
		"node server.js && echo done": nil,
		"java -cp $CP Main":           nil,
		"python3 -c 'import x'":       nil,
		"java -cp /opt/libs/* Main":   nil,
		"X=1 node app.js":             nil,
		"exec":                        nil,
		"node app.js # started":       nil,
		"node app.js\nnode other.js":  nil,
		"gunicorn -k gevent main:app": {"gunicorn", "-k", "gevent", "main:app"},
	} {
		if got := simpleCommand(body); !slices.Equal(got, want) {
			t.Errorf("simpleCommand(%q) = %q, want %q", body, got, want)
		}
	}
}

// TestClosureShellFormJava: a Dockerfile's shell-form CMD (sh -c "java -jar …") gives
// java its arguments, so the jar's manifest Class-Path is followed as in exec form.
func TestClosureShellFormJava(t *testing.T) {
	t.Parallel()
	m := javaImage(t)
	m["bin/sh"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	got := closureReasons(t, m, "bin/sh", WithArgs("/bin/sh", []string{"-c", "exec java -jar /app/app.jar"}))
	for _, p := range []string{"app/app.jar", "app/lib/dep2.jar", "usr/share/java/shared.jar"} {
		if !strings.HasPrefix(got[p], "run by /usr/lib/jvm/jre/bin/java") {
			t.Errorf("%s: reason %q", p, got[p])
		}
	}
}

// TestClosureScriptLines: a script's command lines run their programs with the
// arguments they give (an expansion the script cannot settle left out, one it can
// read), so java's -jar brings the jar's class path even after a java -version, and
// the files the lines name (absolute, or relative to a literal cd) and redirect from
// come; a word only a run can tell, a directory, and the files of a line whose program
// is missing do not.
func TestClosureScriptLines(t *testing.T) {
	t.Parallel()
	m := javaImage(t)
	m["bin/sh"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	m["usr/bin/tool"] = file(mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}}))
	m["etc/tool.conf"] = text("x")
	m["srv/data/in.txt"] = text("x")
	m["opt/missing-prog.conf"] = text("x")
	m["etc/tool.list"] = text("x")
	m["app/run.sh"] = &fstest.MapFile{Mode: 0o755, Data: []byte("#!/bin/sh\nset -e\nJ=/app/app.jar\njava -version\n" +
		"tool --config=/etc/tool.conf /opt $UNSET/x < /etc/tool.list\ncd /srv\ntool data/in.txt\nnothere /opt/missing-prog.conf\n" +
		"exec java $JAVA_OPTS -Dx=1 -jar \"$J\" \"$@\"\n")}
	got := closureReasons(t, m, "app/run.sh", WithPath("/usr/bin:/bin"))
	for p, why := range map[string]string{
		"app/app.jar":               "run by /usr/lib/jvm/jre/bin/java",
		"app/lib/dep2.jar":          "run by /usr/lib/jvm/jre/bin/java",
		"usr/share/java/shared.jar": "run by /usr/lib/jvm/jre/bin/java",
		"etc/tool.conf":             `file named by the arguments of command "tool" run by /app/run.sh`,
		"srv/data/in.txt":           `file named by the arguments of command "tool" run by /app/run.sh`,
		"etc/tool.list":             "file a redirection of /app/run.sh names",
	} {
		if !strings.HasPrefix(got[p], why) {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	for _, p := range []string{"opt/missing-prog.conf", "opt/libs/a.jar", "unrelated/z.jar"} {
		if r, ok := got[p]; ok {
			t.Errorf("%s taken: %s", p, r)
		}
	}
}
