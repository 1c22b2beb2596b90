package main

import (
	"archive/tar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/testimage"
	"github.com/slim-dev/slim/internal/testimage/apps"
	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball"
)

// TestSlimLangsVariants: the ways images start their runtimes besides the runtime
// tests' own (java -jar, java from $JAVA_HOME in a script, jars outside /app on the class path (exec and shell form), Python HTTPS with a private CA, python3 -c and -m of an installed module, a module imported by a name in a string or in the arguments, a #!/usr/bin/env python3 entrypoint, programs a Python or Node app starts, a directory it adds to sys.path, a relative command after cd, a package from NODE_PATH, scripts starting java, python3 and node with arguments, files named by path in a source or a redirection, a directory the app writes into, a pip console script and scripts named by #! alone, a script that goes to its own directory, apps reading a directory next to their source or by a relative name, a distribution's metadata read by name, a library loaded by its bare name, python3 -m with a
// package, a shell script calling python3, Node ES modules, a bash script, a Perl
// script using core modules, a Python HTTP round trip on loopback), each named by
// --from IMG:/app alone on the static base, run with runc as the fat image ran. Slow
// (the Debian fixture); its cases run in parallel.
func TestSlimLangsVariants(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	skipShort(t)
	dir := t.TempDir()
	written := map[string]bool{}
	write := func(name, body string, mode os.FileMode) string {
		// Cases run in parallel from these files: one written twice would be another
		// case's.
		if written[name] {
			t.Fatalf("%s written twice", name)
		}
		written[name] = true
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	javac, jar := testimage.NeedTool(t, "javac"), testimage.NeedTool(t, "jar")
	src := write("jar/Main.java", `public class Main { public static void main(String[] a) throws Exception {
	System.out.println("jar " + java.util.Base64.getEncoder().encodeToString("slim".getBytes("UTF-8")) + " " + java.nio.charset.Charset.defaultCharset()); } }`, 0o644)
	manifest := write("jar/manifest.txt", "Main-Class: Main\n", 0o644)
	for _, argv := range [][]string{{javac, "--release", "17", "-d", filepath.Dir(src), src}, {jar, "cfm", filepath.Join(dir, "app.jar"), manifest, "-C", filepath.Dir(src), "Main.class"}} {
		if b, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", argv[0], err, b)
		}
	}
	// An app whose classes are in jars outside /app: -jar with a manifest Class-Path
	// going up to /opt/lib, whose jar names a sibling in its own manifest; and the
	// same classes on a -cp with a DIR/* wildcard.
	write("cp/Util.java", `public class Util { static String v() { return "util"; } }`, 0o644)
	write("cp/Greet.java", `public class Greet { static String hi() { return "greet " + Util.v(); } }`, 0o644)
	write("cp/UsesGreet.java", `public class UsesGreet { public static void main(String[] a) { System.out.println("classpath " + Greet.hi()); } }`, 0o644)
	write("cp/greet.mf", "Class-Path: util.jar\n", 0o644)
	write("cp/app.mf", "Main-Class: UsesGreet\nClass-Path: ../opt/lib/greet.jar\n", 0o644)
	cp := func(p string) string { return filepath.Join(dir, "cp", p) }
	for _, argv := range [][]string{
		{javac, "--release", "17", "-d", cp("util"), cp("Util.java")},
		{javac, "--release", "17", "-cp", cp("util"), "-d", cp("greet"), cp("Greet.java")},
		{javac, "--release", "17", "-cp", cp("greet") + ":" + cp("util"), "-d", cp("main"), cp("UsesGreet.java")},
		{jar, "cf", cp("util.jar"), "-C", cp("util"), "."},
		{jar, "cfm", cp("greet.jar"), cp("greet.mf"), "-C", cp("greet"), "."},
		{jar, "cfm", cp("app.jar"), cp("app.mf"), "-C", cp("main"), "."},
	} {
		if b, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", argv[0], err, b)
		}
	}
	emptyDir := filepath.Join(dir, "empty")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	optLib := []string{"opt/lib/greet.jar=" + cp("greet.jar"), "opt/lib/util.jar=" + cp("util.jar")}
	// A private CA in the image's bundle, which no base's bundle has.
	caPEM, certPEM, keyPEM, err := apps.PKI()
	if err != nil {
		t.Fatal(err)
	}
	tlsFiles := []string{"etc/ssl/certs/ca-certificates.crt=" + write("tls/ca.pem", string(caPEM), 0o644),
		"app/cert.pem=" + write("tls/cert.pem", string(certPEM), 0o644), "app/key.pem=" + write("tls/key.pem", string(keyPEM), 0o600)}
	write("pkg/app/__init__.py", "", 0o644)
	write("pkg/app/helper.py", "VALUE = 7\n", 0o644)
	write("pkg/app/__main__.py", "import json\nfrom . import helper\nprint(\"dash m\", helper.VALUE, json.dumps([1]))\n", 0o644)
	cases := []struct {
		name  string
		files []string
		cfg   func(*v1.Config)
		want  string
	}{
		{"java -jar", []string{"app/app.jar=" + filepath.Join(dir, "app.jar")}, func(c *v1.Config) { c.Cmd = []string{"java", "-jar", "/app/app.jar"} }, "jar c2xpbQ== "},
		// Jars outside the directory named: only the JRE and /app were taken, and the
		// JVM failed with NoClassDefFoundError.
		{"java manifest class-path", append([]string{"app/app.jar=" + cp("app.jar")}, optLib...),
			func(c *v1.Config) { c.Cmd = []string{"java", "-jar", "/app/app.jar"} }, "classpath greet util"},
		// The same in a Dockerfile's shell form: sh -c "java -jar …" gave java no
		// arguments to read the class path from.
		{"java shell form", append([]string{"app/app.jar=" + cp("app.jar")}, optLib...),
			func(c *v1.Config) { c.Cmd = []string{"/bin/sh", "-c", "java -jar /app/app.jar"} }, "classpath greet util"},
		{"java class-path wildcard", append([]string{"app/UsesGreet.class=" + cp("main/UsesGreet.class")}, optLib...),
			func(c *v1.Config) { c.Cmd = []string{"java", "-cp", "/app:/opt/lib/*", "UsesGreet"} }, "classpath greet util"},
		// An entrypoint script that runs java as official images do, from JAVA_HOME:
		// only the script was taken, with a warning, and it died with exit 127.
		{"java from JAVA_HOME", []string{"app/app.jar=" + filepath.Join(dir, "app.jar"),
			"app/run.sh=" + write("java-home.sh", "#!/bin/sh\nJAVA=\"$JAVA_HOME/bin/java\"\nexec \"$JAVA\" -jar /app/app.jar\n", 0o755)},
			func(c *v1.Config) {
				c.Entrypoint = []string{"/app/run.sh"}
				c.Env = append(c.Env, "JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64")
			}, "jar c2xpbQ== "},
		// Python's ssl is an extension module linking libssl, not python3: the CA
		// bundle and openssl.cnf were left out, and the first HTTPS request failed.
		{"python https", append([]string{"app/tls.py=" + write("tls.py", `import http.server, ssl, threading, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"hello over TLS")
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("/app/cert.pem", "/app/key.pem")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
try:
    print("https", urllib.request.urlopen("https://localhost:%d/" % srv.server_address[1]).read().decode())
except Exception as e:
    print("https failed:", e)
`, 0o644)}, tlsFiles...), func(c *v1.Config) { c.Cmd = []string{"python3", "/app/tls.py"} }, "https hello over TLS"},
		// What python3 -c and -m import first is named by no source file: the image
		// died with ModuleNotFoundError.
		{"python -c", []string{"app/README=" + write("README", "the app is its command line\n", 0o644)},
			func(c *v1.Config) {
				c.Cmd = []string{"python3", "-c", "import yaml; print('dash c', yaml.safe_dump({'a': [1, 2]}).strip())"}
			}, "dash c a:"},
		{"python -m installed", []string{"app/README=" + filepath.Join(dir, "README"),
			"usr/local/lib/python3.11/dist-packages/greetmod/__init__.py=" + write("greetmod/__init__.py", "", 0o644),
			"usr/local/lib/python3.11/dist-packages/greetmod/__main__.py=" + write("greetmod/__main__.py", "import yaml\nprint('dash m installed', yaml.safe_load('[3]'))\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"python3", "-m", "greetmod"} }, "dash m installed [3]"},
		// A module the app names in a string (Django's INSTALLED_APPS, a plugin list)
		// and imports by name: no import statement names it.
		{"python module by name", []string{"app/byname.py=" + write("byname.py", "import importlib\nPLUGINS = [\"yaml\"]\n"+
			"mod = importlib.import_module(PLUGINS[0])\nprint(\"by name\", mod.safe_dump([1]).strip())\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"python3", "/app/byname.py"} }, "by name - 1"},
		// A runner that imports the class its arguments name, as gunicorn -k does.
		{"python class named by args", []string{"app/README=" + filepath.Join(dir, "README"),
			"usr/local/lib/python3.11/dist-packages/runner/__init__.py=" + write("runner/__init__.py", "", 0o644),
			"usr/local/lib/python3.11/dist-packages/runner/__main__.py=" + write("runner/__main__.py", "import importlib, sys\n"+
				"mod, _, cls = sys.argv[1].rpartition('.')\nprint('runner', getattr(importlib.import_module(mod), cls)().hello())\n", 0o644),
			"usr/local/lib/python3.11/dist-packages/greetplug/__init__.py=" + write("greetplug/__init__.py", "", 0o644),
			"usr/local/lib/python3.11/dist-packages/greetplug/workers.py=" + write("greetplug/workers.py", "class Greeter:\n    def hello(self):\n        return 'plugged'\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"python3", "-m", "runner", "greetplug.workers.Greeter"} }, "runner plugged"},
		// Programs the app's own source starts: exec form through PATH, and /bin/sh
		// with what a command line runs (exit 1, "No such file or directory: 'uname'").
		{"python subprocess", []string{"app/p.py=" + write("p.py", "import subprocess\nprint('sub', subprocess.run(['uname', '-s'], capture_output=True, text=True).stdout.strip(), "+
			"subprocess.check_output('basename /a/b | tr b c', shell=True, text=True).strip())\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"python3", "/app/p.py"} }, "sub Linux c"},
		{"node child_process", []string{"app/c.js=" + write("c.js", "const cp = require('child_process');\nconsole.log('child', cp.execSync('uname -s').toString().trim(), "+
			"cp.execFileSync('basename', ['/x/y']).toString().trim());\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"node", "/app/c.js"} }, "child Linux y"},
		// A directory the app adds to sys.path by name ("No module named 'helper'").
		{"python sys.path dir", []string{"app/s.py=" + write("s.py", "import sys\nsys.path.insert(0, '/opt/lib')\nimport helper\nprint('syspath', helper.X)\n", 0o644),
			"opt/lib/helper.py=" + write("helper.py", "import yaml\nX = yaml.safe_load('[5]')\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"python3", "/app/s.py"} }, "syspath [5]"},
		{"env python3", []string{"app/run.py=" + write("run.py", "#!/usr/bin/env python3\nimport json, collections\nprint(\"env python ok\", json.dumps(collections.OrderedDict(a=1)))\n", 0o755)},
			func(c *v1.Config) { c.Entrypoint = []string{"/app/run.py"} }, "env python ok"},
		{"python3 -m", []string{"app=" + filepath.Join(dir, "pkg/app")}, func(c *v1.Config) { c.Cmd = []string{"python3", "-m", "app"}; c.WorkingDir = "/" }, "dash m 7"},
		{"sh calls python3", []string{"app/run.sh=" + write("run.sh", "#!/bin/sh\nv=$(python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])')\necho \"from sh: $v\"\n", 0o755)},
			func(c *v1.Config) { c.Entrypoint = []string{"/app/run.sh"} }, "from sh: 3."},
		{"node esm", []string{"app/main.mjs=" + write("main.mjs", "import { answer } from './lib.mjs';\nimport { createHash } from 'node:crypto';\n"+
			"console.log('esm', answer, createHash('sha1').update('x').digest('hex').slice(0, 6));\n", 0o644), "app/lib.mjs=" + write("lib.mjs", "export const answer = 42;\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"node", "/app/main.mjs"} }, "esm 42"},
		// CMD in shell form, as a Dockerfile writes `CMD node /app/main.mjs`: only sh
		// was taken, and node was missing at start.
		{"shell form", []string{"app/main.mjs=" + filepath.Join(dir, "main.mjs"), "app/lib.mjs=" + filepath.Join(dir, "lib.mjs")},
			func(c *v1.Config) { c.Cmd = []string{"/bin/sh", "-c", "exec node /app/main.mjs"} }, "esm 42"},
		// An exec wrapper before the runtime (as tini, gosu or dumb-init are).
		{"env wrapper", []string{"app/plain.py=" + write("plain.py", "import json\nprint(\"wrapped python\", json.dumps([2]))\n", 0o644)},
			func(c *v1.Config) {
				c.Entrypoint = []string{"env", "PYTHONDONTWRITEBYTECODE=1", "python3", "/app/plain.py"}
			}, "wrapped python [2]"},
		// The official images' docker-entrypoint.sh: ENTRYPOINT a script that ends in
		// exec "$@", CMD the program it runs. Only the script and its shell were taken.
		{"entrypoint exec args", []string{"app/plain.py=" + filepath.Join(dir, "plain.py"), "app/docker-entrypoint.sh=" + write("docker-entrypoint.sh", `#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ]; then
	set -- python3 "$@"
fi
exec "$@"
`, 0o755)}, func(c *v1.Config) {
			c.Entrypoint, c.Cmd = []string{"/app/docker-entrypoint.sh"}, []string{"python3", "/app/plain.py"}
		}, "wrapped python [2]"},
		// The same through a wrapper the script names: exec env … "$@" (gosu, su-exec).
		{"entrypoint wraps args", []string{"app/plain.py=" + filepath.Join(dir, "plain.py"), "app/entry.sh=" + write("entry.sh", `#!/bin/bash
if [ "$1" = python3 ]; then
	exec env PYTHONDONTWRITEBYTECODE=1 "${@}"
fi
"$@"
`, 0o755)},
			func(c *v1.Config) {
				c.Entrypoint, c.Cmd = []string{"/app/entry.sh"}, []string{"python3", "/app/plain.py"}
			}, "wrapped python [2]"},
		// A script that moves to a directory and runs a program there by a relative
		// name (exit 127 before).
		{"sh cd then relative", []string{"app/run.sh=" + write("cd-run.sh", "#!/bin/sh\ncd /opt/tool\n./tool.sh\n", 0o755),
			"opt/tool/tool.sh=" + write("tool.sh", "#!/bin/sh\necho tool ran in \"$(pwd)\"\n", 0o755)},
			func(c *v1.Config) { c.Cmd = []string{"/app/run.sh"} }, "tool ran in /opt/tool"},
		// A package required by name from a NODE_PATH directory, with the dependency its
		// package.json lists ("Cannot find module 'greetnp'" before).
		{"node NODE_PATH", []string{"app/n.js=" + write("n.js", "console.log('np', require('greetnp').x);\n", 0o644),
			"usr/local/lib/node_modules/greetnp/package.json=" + write("np/package.json", `{"name": "greetnp", "main": "main.js", "dependencies": {"npdep": "1"}}`, 0o644),
			"usr/local/lib/node_modules/greetnp/main.js=" + write("np/main.js", "module.exports = {x: require('npdep')};\n", 0o644),
			"usr/local/lib/node_modules/npdep/index.js=" + write("npdep/index.js", "module.exports = 'ok';\n", 0o644)},
			func(c *v1.Config) {
				c.Cmd = []string{"node", "/app/n.js"}
				c.Env = append(c.Env, "NODE_PATH=/usr/local/lib/node_modules")
			}, "np ok"},
		// Scripts that start a runtime with arguments: java -jar whose class path reaches
		// /opt/lib past an expansion (NoClassDefFoundError before), and programs outside
		// /app that python3 and node are given (can't open file, Cannot find module).
		{"script java jar", append([]string{"app/app.jar=" + cp("app.jar"), "app/run.sh=" + write("java-run.sh", "#!/bin/sh\nset -e\njava -version 2>/dev/null\nexec java $JAVA_OPTS -jar /app/app.jar \"$@\"\n", 0o755)}, optLib...),
			func(c *v1.Config) { c.Entrypoint = []string{"/app/run.sh"} }, "classpath greet util"},
		{"script python file", []string{"app/run.sh=" + write("py-run.sh", "#!/bin/sh\nexec python3 -u /opt/svc/main.py\n", 0o755),
			"opt/svc/main.py=" + write("svc/main.py", "import helper\nprint('svc', helper.load('[1]'))\n", 0o644),
			"opt/svc/helper.py=" + write("svc/helper.py", "import yaml\ndef load(s):\n    return yaml.safe_load(s)\n", 0o644)},
			func(c *v1.Config) { c.Entrypoint = []string{"/app/run.sh"} }, "svc [1]"},
		{"script node file", []string{"app/run.sh=" + write("node-run.sh", "#!/bin/sh\ncd /srv/web\nexec node server.js\n", 0o755),
			"srv/web/server.js=" + write("web/server.js", "console.log('web', require('./lib').v);\n", 0o644),
			"srv/web/lib.js=" + write("web/lib.js", "module.exports = {v: 7};\n", 0o644)},
			func(c *v1.Config) { c.Entrypoint = []string{"/app/run.sh"} }, "web 7"},
		// Files outside /app that the app names by a literal path: in a Python or Node
		// source, or a script's redirection (FileNotFoundError, ENOENT, cannot open).
		{"python names a file", []string{"app/cfg.py=" + write("cfg.py", "import json, os\nCONFIG = os.path.join('/etc/myapp', 'config.json')\nprint('py', json.load(open(CONFIG))['greeting'])\n", 0o644),
			"etc/myapp/config.json=" + write("myapp/config.json", `{"greeting": "hello"}`, 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"python3", "/app/cfg.py"} }, "py hello"},
		{"node names a file", []string{"app/cfg.js=" + write("cfg.js", "const fs = require('fs');\nconsole.log('js', JSON.parse(fs.readFileSync('/etc/myapp/config.json')).greeting);\n", 0o644),
			"etc/myapp/config.json=" + filepath.Join(dir, "myapp/config.json")},
			func(c *v1.Config) { c.Cmd = []string{"node", "/app/cfg.js"} }, "js hello"},
		{"sh redirect", []string{"app/read.sh=" + write("read.sh", "#!/bin/sh\nwhile read -r l; do echo \"line $l\"; done < /etc/myapp/list.txt\n", 0o755),
			"etc/myapp/list.txt=" + write("myapp/list.txt", "one\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"/app/read.sh"} }, "line one"},
		// A state file written into a directory the fat image has empty ("No such file or
		// directory" at the first write before).
		{"python writes into an empty directory", []string{"app/w.py=" + write("w.py", "import os\nSTATE = '/var/lib/myapp/state.json'\nwith open(STATE, 'w') as f:\n    f.write('{}')\nprint('state', os.path.getsize(STATE))\n", 0o644),
			"var/lib/myapp=" + emptyDir},
			func(c *v1.Config) { c.Cmd = []string{"python3", "/app/w.py"} }, "state 2"},
		// Scripts that name their runtime by #! alone, no extension: a pip console script
		// in /usr/local/bin as CMD (gunicorn, uvicorn, celery are such), an app's tool;
		// ModuleNotFoundError and Cannot find module before.
		{"python console script", []string{"app/README=" + filepath.Join(dir, "README"),
			"usr/local/bin/greet=" + write("greet", "#!/usr/bin/python3\nimport sys\nfrom greetcli.main import main\nsys.exit(main())\n", 0o755),
			"usr/local/lib/python3.11/dist-packages/greetcli/__init__.py=" + write("greetcli/__init__.py", "", 0o644),
			"usr/local/lib/python3.11/dist-packages/greetcli/main.py=" + write("greetcli/main.py", "import yaml\ndef main():\n    print('cli', yaml.safe_load('[3]'))\n    return 0\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"greet"}; c.WorkingDir = "/app" }, "cli [3]"},
		{"python script without extension", []string{"app/tool=" + write("tool", "#!/usr/bin/env python3\nimport yaml\nprint('tool', yaml.safe_load('[4]'))\n", 0o755)},
			func(c *v1.Config) { c.Cmd = []string{"/app/tool"} }, "tool [4]"},
		{"node script without extension", []string{"app/ntool=" + write("ntool", "#!/usr/bin/env node\nconsole.log('ntool', require('greetx').v);\n", 0o755),
			"usr/local/lib/node_modules/greetx/index.js=" + write("greetx/index.js", "module.exports = {v: 5};\n", 0o644)},
			func(c *v1.Config) {
				c.Cmd = []string{"/app/ntool"}
				c.Env = append(c.Env, "NODE_PATH=/usr/local/lib/node_modules")
			}, "ntool 5"},
		// An entrypoint outside /app that goes to its own directory and runs what is
		// there by relative name (can't open file 'main.py' before).
		{"script in its own directory", []string{"app/README=" + filepath.Join(dir, "README"),
			"opt/svc2/start.sh=" + write("svc2/start.sh", "#!/bin/sh\nset -e\ncd \"$(dirname \"$0\")\"\nexec python3 main.py\n", 0o755),
			"opt/svc2/main.py=" + write("svc2/main.py", "import helper2\nprint('own dir', helper2.V)\n", 0o644),
			"opt/svc2/helper2.py=" + write("svc2/helper2.py", "V = 9\n", 0o644)},
			func(c *v1.Config) { c.Entrypoint = []string{"/opt/svc2/start.sh"} }, "own dir 9"},
		// Apps outside /app that read a directory next to their source, named from
		// their own location (ENOENT, FileNotFoundError before: the directory was not
		// taken, or only its entry).
		{"node reads a directory next to it", []string{"app/README=" + filepath.Join(dir, "README"),
			"opt/web/server.js=" + write("webviews/server.js", "const path = require('path');\nconst fs = require('fs');\nconst views = path.join(__dirname, 'views');\n"+
				"for (const f of fs.readdirSync(views).sort()) console.log('view', f, fs.readFileSync(path.join(views, f), 'utf8').trim());\n", 0o644),
			"opt/web/views/a.html=" + write("webviews/views/a.html", "<p>a</p>\n", 0o644), "opt/web/views/b.html=" + write("webviews/views/b.html", "<p>b</p>\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"node", "/opt/web/server.js"} }, "view a.html <p>a</p>\nview b.html <p>b</p>"},
		{"python reads a directory next to it", []string{"app/README=" + filepath.Join(dir, "README"),
			"opt/pyweb/app.py=" + write("pyweb/app.py", "from pathlib import Path\nBASE = Path(__file__).resolve().parent\n"+
				"for p in sorted((BASE / 'templates').rglob('*.txt')):\n    print('tpl', p.relative_to(BASE), p.read_text().strip())\n", 0o644),
			"opt/pyweb/templates/base.txt=" + write("pyweb/templates/base.txt", "base\n", 0o644),
			"opt/pyweb/templates/mail/hi.txt=" + write("pyweb/templates/mail/hi.txt", "hi\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"python3", "/opt/pyweb/app.py"} }, "tpl templates/base.txt base\ntpl templates/mail/hi.txt hi"},
		// The same by a relative name, read from the working directory, the script
		// itself named relative to it (python3 app.py under a WORKDIR outside /app:
		// can't open file before).
		{"python reads a directory by a relative name", []string{"app/README=" + filepath.Join(dir, "README"),
			"opt/rel/app.py=" + write("rel/app.py", "import os\nfor f in sorted(os.listdir('static')):\n    print('static', f, open(os.path.join('static', f)).read().strip())\n", 0o644),
			"opt/rel/static/s.css=" + write("rel/static/s.css", "css\n", 0o644)},
			func(c *v1.Config) { c.WorkingDir, c.Cmd = "/opt/rel", []string{"python3", "app.py"} }, "static s.css css"},
		// A distribution read by name that nothing imports (PackageNotFoundError
		// before), and a library loaded by its bare name (OSError: cannot open shared
		// object file before).
		{"python metadata by name", []string{"app/meta.py=" + write("meta.py", "import importlib.metadata as md\nprint('dist', md.version('pyyaml'))\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"python3", "/app/meta.py"} }, "dist 6"},
		{"python ctypes by soname", []string{"app/dl.py=" + write("dl.py", "import ctypes\nlib = ctypes.CDLL('libyaml-0.so.2')\n"+
			"lib.yaml_get_version_string.restype = ctypes.c_char_p\nprint('libyaml', lib.yaml_get_version_string().decode())\n", 0o644)},
			func(c *v1.Config) { c.Cmd = []string{"python3", "/app/dl.py"} }, "libyaml 0."},
		{"bash", []string{"app/run.bash=" + write("run.bash", "#!/bin/bash\nset -euo pipefail\narr=(a b c)\necho \"bash arrays ${#arr[@]}\"\nprintf '%s\\n' \"${arr[@]}\" | tac | tr '\\n' ' '\necho\n", 0o755)},
			func(c *v1.Config) { c.Entrypoint = []string{"/app/run.bash"} }, "bash arrays 3"},
		{"perl", []string{"app/run.pl=" + write("run.pl", "#!/usr/bin/perl\nuse strict;\nuse warnings;\nuse File::Basename qw(basename);\nuse List::Util qw(sum);\n"+
			"print \"perl \", basename(\"/a/b/c.txt\"), \" \", sum(1, 2, 3), \"\\n\";\n", 0o755)},
			func(c *v1.Config) { c.Entrypoint = []string{"/app/run.pl"} }, "perl c.txt 6"},
		{"python http", []string{"app/srv.py=" + write("srv.py", `import http.server, threading, urllib.request, json, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(json.dumps({"ok": True}).encode())
    def log_message(self, *a): pass
s = socketserver.TCPServer(("127.0.0.1", 0), H)
threading.Thread(target=s.serve_forever, daemon=True).start()
r = urllib.request.urlopen("http://localhost:%d/" % s.server_address[1]).read()
print("http ok" if json.loads(r)["ok"] else "http bad")
s.shutdown()
`, 0o644)}, func(c *v1.Config) { c.Cmd = []string{"python3", "/app/srv.py"} }, "http ok"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			// Each case is its own image, slim run and containers: two at once keep
			// both cores busy through the runs' waits.
			t.Parallel()
			img, ref := langsImage(t, hostEntries(t, c.files...), c.cfg)
			fat := runFat(t, img, c.want)
			slimRuns(t, fat, "--from", ref+":/app", "--base", "static")
		})
	}
}

// TestSlimLangsScripting: Ruby (stdlib and C extensions), PHP (its ini and extension
// directories), Lua and Tcl (whose init.tcl tclsh reads at start) from Debian's
// packages, each app named by --from IMG:/app alone on the static base, run with runc
// as the fat image ran: their library directories are named in their binaries. Slow
// (a Debian fixture of its own).
func TestSlimLangsScripting(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	skipShort(t)
	d := scriptingDebian()
	cases := []struct {
		name, file, body string
		cmd              []string
		want             string
	}{
		// Each app also runs programs as its language spells it (`…`, system,
		// shell_exec, io.popen, exec): on static there is neither /bin/sh nor uname
		// unless slim reads the source for them.
		{"ruby", "main.rb", "require 'json'\nrequire 'set'\nrequire 'digest'\nrequire 'bigdecimal'\n" +
			"puts \"ruby #{JSON.generate({a: 1})} #{Set[1, 2].size} #{Digest::SHA256.hexdigest('slim')[0, 8]} #{BigDecimal('1.10').to_s} #{`uname -s`.strip} #{system('true')}\"\n",
			[]string{"ruby", "/app/main.rb"}, "ruby {\"a\":1} 2 ebe4136f 0.11e1 Linux true"},
		{"php", "index.php", "<?php\n$d = new DateTime('@0');\necho 'php ', json_encode(['a' => 1]), ' ', substr(hash('sha256', 'slim'), 0, 8), ' ', " +
			"$d->format('Y'), ' ', ctype_digit('42') ? 'ctype' : 'no', ' ', trim(shell_exec('uname -s')), \"\\n\";\n",
			[]string{"php", "/app/index.php"}, "php {\"a\":1} ebe4136f 1970 ctype Linux"},
		{"lua", "main.lua", "local t = {3, 1, 2}\ntable.sort(t)\nlocal h = io.popen('uname -s')\n" +
			"print('lua ' .. table.concat(t, ',') .. ' ' .. string.format('%5.2f', math.pi) .. ' ' .. h:read('l'))\n",
			[]string{"lua5.4", "/app/main.lua"}, "lua 1,2,3  3.14 Linux"},
		{"tcl", "main.tcl", "puts \"tcl [expr {6 * 7}] [string toupper slim] [clock format 0 -gmt 1 -format %Y] [exec uname -s]\"\n",
			[]string{"tclsh", "/app/main.tcl"}, "tcl 42 SLIM 1970 Linux"},
		{"perl", "main.pl", "use strict;\nuse POSIX qw(floor);\nmy $u = `uname -s`;\nchomp $u;\nsystem('true') == 0 or die 'true failed';\n" +
			"print 'perl ', floor(2.5), \" $u\\n\";\n",
			[]string{"perl", "/app/main.pl"}, "perl 2 Linux"},
	}
	testimage.DebianLayout(t, d) // made once, before the cases share it
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each case has its own image, slim run and containers
			img, ref := debianImage(t, d, hostEntries(t, "app/"+c.file+"="+hostFile(t, c.file, c.body)), func(cfg *v1.Config) { cfg.Cmd = c.cmd })
			fat := runFat(t, img, c.want)
			slimRuns(t, fat, "--from", ref+":/app", "--base", "static")
		})
	}
}

// scriptingDebian is the fixture of the scripting runtimes' tests and of nginx's.
func scriptingDebian() testimage.Debian {
	return testimage.Debian{Packages: []string{"ruby", "php-cli", "lua5.4", "tcl", "nginx", "libnginx-mod-http-xslt-filter"}}
}

// TestSlimServerCompiledConfig: nginx, a C server, reads its configuration by a path
// compiled into it (/etc/nginx/nginx.conf), which includes more (mime.types, the
// sites-enabled/* link to sites-available/default), runs its workers as www-data and
// writes into /var/log/nginx and /var/lib/nginx; a dynamic module (XSLT, linking
// libxslt and libxml2) is loaded by a name relative to its prefix, /usr/share/nginx.
// `nginx -T` (test the configuration,
// then print it) runs on static as in the fat image. Before, slim took the binary and
// its libraries only, and it failed: open() "/etc/nginx/nginx.conf" failed.
func TestSlimServerCompiledConfig(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	skipShort(t)
	img, ref := debianImage(t, scriptingDebian(), hostEntries(t, "app/README="+hostFile(t, "README", "served by nginx\n")),
		func(cfg *v1.Config) { cfg.Cmd = []string{"nginx", "-T"} })
	fat := runFat(t, img, "# configuration file /etc/nginx/sites-enabled/default:", "include /etc/nginx/mime.types;",
		"load_module modules/ngx_http_xslt_filter_module.so;") // Debian's module snippet: relative to nginx's prefix
	report, _ := slimRuns(t, fat, "--from", ref+":/usr/sbin/nginx", "--base", "static")
	for _, want := range []string{"compiled into /usr/sbin/nginx", "user www-data of /etc/nginx/nginx.conf"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report does not say %q", want)
		}
	}
}

// TestSlimLangsNpmStart: CMD ["npm", "start"] with npm installed globally as the
// official Node images install it (/usr/local/bin/npm → ../lib/node_modules/npm/bin/npm-cli.js).
// npm needs its whole package, then runs the app's prestart and start scripts
// through sh; the slim image prints what the fat one does. Before, npm died at start
// ("Cannot find module '../lib/cli.js'") and slim said nothing.
func TestSlimLangsNpmStart(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	skipShort(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	npm := testimage.NPMInstall(t, "npm@10.8.2")
	files := []string{
		"app/package.json=" + write("package.json", `{"name": "app", "version": "1.0.0", "scripts": {"prestart": "echo pre-start", "start": "node server.js"}}`),
		"app/server.js=" + write("server.js", "console.log('served by node', process.versions.node.split('.')[0] > 0);\n"),
		"usr/local/lib/node_modules/npm=" + filepath.Join(npm, "npm"),
	}
	entries := append(hostEntries(t, files...), symlinkEntry("usr/local/bin/npm", "../lib/node_modules/npm/bin/npm-cli.js"))
	img, ref := langsImage(t, entries, func(c *v1.Config) { c.Cmd = []string{"npm", "start"}; c.WorkingDir = "/app" })
	fat := runFat(t, img, "pre-start", "served by node true")
	report, _ := slimRuns(t, fat, "--from", ref+":/app", "--base", "static")
	for _, want := range []string{`package /usr/local/lib/node_modules/npm of`, `shell of the script "prestart" of /app/package.json`} {
		if !strings.Contains(report, want) {
			t.Errorf("the report does not say %q", want)
		}
	}
	if strings.Contains(report, "python3") {
		t.Errorf("npm's own tools (node-gyp's Python) were followed:\n%s", report)
	}
}

// TestSlimLangsHealthcheck: the result keeps the config's HEALTHCHECK, so it keeps what
// the healthcheck runs: CMD-SHELL through /bin/sh -c, CMD of curl (with its libraries
// and the CA bundle), and CMD of env running a script that calls curl and grep. Each is run in the
// fat and the slim image alike. Before, the container started and was then reported
// unhealthy, and slim said nothing.
func TestSlimLangsHealthcheck(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	skipShort(t)
	d := testimage.Debian{Packages: []string{"curl", "openssl", "netbase"}} // the curl app's fixture
	health := hostFile(t, "health.sh", "#!/bin/sh\ncurl -fsS file:///app/status.txt | grep -q ok && echo healthy\n")
	if err := os.Chmod(health, 0o755); err != nil {
		t.Fatal(err)
	}
	status := hostFile(t, "status.txt", "ok\n")
	for _, tc := range []struct {
		name string
		test []string
		want string
	}{
		{"CMD-SHELL", []string{"CMD-SHELL", "curl -fsS file:///app/status.txt || exit 1"}, "ok\n"},
		{"CMD", []string{"CMD", "curl", "-fsS", "file:///app/status.txt"}, "ok\n"},
		// Through a wrapper, as the entrypoint's arguments are followed.
		{"CMD env", []string{"CMD", "env", "LC_ALL=C", "/app/health.sh"}, "healthy\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, ref := debianImage(t, d, hostEntries(t, "app/status.txt="+status, "app/health.sh="+health), func(c *v1.Config) {
				c.Entrypoint = []string{"/bin/cat", "/app/status.txt"}
				c.Healthcheck = &v1.HealthConfig{Test: tc.test}
			})
			runFat(t, img, "ok")
			fat := runHealthcheck(t, img)
			if fat.Code != 0 || fat.Stdout != tc.want {
				t.Fatalf("the fat image's healthcheck: %s, want %q", fat, tc.want)
			}
			out := filepath.Join(t.TempDir(), "out")
			stdout := slimOK(t, "--from", ref+":/app", "--base", "static", "-t", "hc:slim", "-o", "type=oci,dest="+out, "--sbom=false", "--provenance=false")
			if !strings.Contains(stdout, "healthcheck") {
				t.Errorf("the report names nothing taken for the healthcheck:\n%s", stdout)
			}
			slim := layoutImage(t, out)
			if got := runImage(t, slim); got.Stdout != "ok\n" {
				t.Errorf("the slim image's entrypoint: %s", got)
			}
			if got := runHealthcheck(t, slim); got.Code != fat.Code || got.Stdout != fat.Stdout || got.Stderr != fat.Stderr {
				t.Errorf("the slim image's healthcheck ran differently from the fat one's:\nslim: %s\nfat: %s", got, fat)
			}
		})
	}
}

// runHealthcheck runs the command of img's healthcheck as Docker does, in its config's
// environment and working directory.
func runHealthcheck(t *testing.T, img v1.Image) testimage.Ran {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	argv := rebase.HealthcheckArgv(cf.Config)
	if len(argv) == 0 {
		t.Fatalf("no healthcheck in the config: %+v", cf.Config.Healthcheck)
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	if skipped := testimage.UnpackOverlay(t, img, root); len(skipped) > 0 {
		t.Fatalf("unpacking skipped %d entries (first %s)", len(skipped), skipped[0].Name)
	}
	return testimage.RunC(t, root, testimage.Container{Args: argv, Env: cf.Config.Env, Cwd: cf.Config.WorkingDir})
}

// TestSlimLangsWritableDirs: a Python app running as a user other than root writes a
// temporary file and its state into a directory the Dockerfile chowned to it. On
// scratch /tmp comes from the source, and on both bases the user's directories come
// (without their contents). Before, tempfile found "no usable temporary directory"
// on scratch, and the state directory was missing on both.
func TestSlimLangsWritableDirs(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	skipShort(t)
	app := hostFile(t, "state.py", `import os, tempfile
with tempfile.NamedTemporaryFile(prefix="slim") as f:
    f.write(b"x"); f.flush()
    print("tmp", os.path.dirname(f.name), os.path.getsize(f.name))
with open("/var/lib/app/state", "w") as f:
    f.write("1")
print("state", open("/var/lib/app/state").read(), os.getuid())
`)
	entries := append(hostEntries(t, "app/state.py="+app),
		tarball.Entry{Header: &tar.Header{Typeflag: tar.TypeDir, Name: "var/lib/app/", Mode: 0o750, Uid: 1000, Gid: 1000}},
		tarball.Entry{Header: &tar.Header{Typeflag: tar.TypeDir, Name: "var/lib/app/cache/", Mode: 0o700, Uid: 1000, Gid: 1000}})
	img, ref := langsImage(t, entries, func(c *v1.Config) {
		c.Cmd = []string{"python3", "/app/state.py"}
		c.User = "1000"
	})
	fat := runFat(t, img, "tmp /tmp 1", "state 1 1000")
	for _, base := range []string{"scratch", "static"} {
		t.Run(base, func(t *testing.T) {
			_, has := slimRuns(t, fat, "--from", ref+":/app", "--base", base)
			if !has("var/lib/app/cache") {
				t.Errorf("/var/lib/app/cache, owned by the user, was not taken")
			}
		})
	}
}

// TestSlimLangsConfigNamedFiles: files outside the app that the config names by path,
// in the arguments (--config /etc/app/config.json) and in Env (KEY_FILE=…,
// NODE_OPTIONS="--require /opt/…"), come with the result. Before, the app started
// and failed to open them.
func TestSlimLangsConfigNamedFiles(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	skipShort(t)
	py := hostFile(t, "cfg.py", `import json, os, sys
cfg = json.load(open(sys.argv[2]))
print("config", cfg["name"], open(os.environ["KEY_FILE"]).read().strip())
`)
	js := hostFile(t, "main.js", "console.log('node', globalThis.preloaded);\n")
	pre := hostFile(t, "register.js", "globalThis.preloaded = 'registered';\n")
	conf := hostFile(t, "config.json", `{"name": "slim"}`)
	key := hostFile(t, "key.txt", "s3cret\n")
	for _, tc := range []struct {
		name  string
		files []string
		cfg   func(*v1.Config)
		want  string
	}{
		{"args and env", []string{"app/cfg.py=" + py, "etc/app/config.json=" + conf, "run/keys/key.txt=" + key}, func(c *v1.Config) {
			c.Cmd = []string{"python3", "/app/cfg.py", "--config", "/etc/app/config.json"}
			c.Env = append(c.Env, "KEY_FILE=/run/keys/key.txt")
		}, "config slim s3cret"},
		{"NODE_OPTIONS", []string{"app/main.js=" + js, "opt/otel/register.js=" + pre}, func(c *v1.Config) {
			c.Cmd = []string{"node", "/app/main.js"}
			c.Env = append(c.Env, "NODE_OPTIONS=--require /opt/otel/register.js")
		}, "node registered"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			img, ref := langsImage(t, hostEntries(t, tc.files...), tc.cfg)
			fat := runFat(t, img, tc.want)
			slimRuns(t, fat, "--from", ref+":/app", "--base", "static")
		})
	}
}

// TestSlimLangsRunningUser: a program that looks up the user it runs as (Python's
// getpass, pwd) finds it on scratch too: root, the default, is listed in the source's
// /etc/passwd, which comes along. Before: KeyError "getpwuid(): uid not found: 0".
func TestSlimLangsRunningUser(t *testing.T) {
	t.Parallel() // its own images, slim runs and containers: it overlaps the others' waits
	skipShort(t)
	py := hostFile(t, "who.py", "import getpass, os, pwd\nprint(\"user\", getpass.getuser(), pwd.getpwuid(os.getuid()).pw_dir)\n")
	img, ref := langsImage(t, hostEntries(t, "app/who.py="+py), func(c *v1.Config) { c.Cmd = []string{"python3", "/app/who.py"} })
	fat := runFat(t, img, "user root /root")
	_, has := slimRuns(t, fat, "--from", ref+":/app", "--base", "scratch")
	if !has("etc/group") {
		t.Errorf("/etc/group did not come with /etc/passwd")
	}
}
