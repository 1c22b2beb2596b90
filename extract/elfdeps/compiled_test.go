package elfdeps

import (
	"testing"
	"testing/fstest"
)

func TestOwnPath(t *testing.T) {
	for _, tc := range []struct {
		s, prog string
		want    bool
	}{
		{"/etc/nginx/nginx.conf", "nginx", true},
		{"/etc/nginx/", "nginx", true},
		{"/run/nginx.pid", "nginx", true},
		{"/var/lib/nginx/body", "nginx", true},
		{"/etc/ssh", "sshd", true},
		{"/etc/ssh/ssh_config", "ssh", true},
		{"/etc/services", "server", false},
		{"/etc/mime.types", "app", false},
		{"/etc/nginxish/x", "nginx", false},
		{"/usr/share/nginx/", "nginx", false},
		{"/etc/nginx/%s.conf", "nginx", false},
		{"/etc/bash.bashrc", "bash", true},
	} {
		if got := ownPath(tc.s, tc.prog); got != tc.want {
			t.Errorf("ownPath(%q, %q) = %v, want %v", tc.s, tc.prog, got, tc.want)
		}
	}
}

// nginxImage is a glibc image with a program that names its configuration, logs and
// pid file in its binary, as nginx does, and the configuration that names the rest.
func nginxImage(t *testing.T) fstest.MapFS {
	m := glibcImage(t)
	prog := mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}})
	prog = append(prog, "\x00/etc/nginx/\x00/etc/nginx/nginx.conf\x00/var/log/nginx/access.log\x00/run/nginx.pid\x00/var/lib/nginx/body\x00/etc/mime.types\x00/usr/share/nginx/\x00"...)
	m["usr/sbin/nginx"] = file(prog)
	m["etc/nginx/nginx.conf"] = text("pid /run/nginx.pid;\nerror_log /var/log/nginx/error.log;\ninclude mime.types;\n" +
		"include /etc/nginx/conf.d/*.conf;\ninclude /etc/nginx/sites-enabled/*;\n# include /etc/commented.conf;\nload_module /usr/lib/nginx/modules/ngx_xslt.so;\n" +
		"include /etc/nginx/modules-enabled/*.conf;\n")
	// Debian's module snippets name modules relative to nginx's prefix, /usr/share/nginx.
	m["etc/nginx/modules-enabled/50-mod-geoip.conf"] = link("/usr/share/nginx/modules-available/mod-geoip.conf")
	m["usr/share/nginx/modules-available/mod-geoip.conf"] = text("load_module modules/ngx_geoip.so;\n")
	m["usr/share/nginx/modules"] = link("../../lib/nginx/modules")
	m["usr/lib/nginx/modules/ngx_geoip.so"] = file(mkELF(t, elfSpec{needed: []string{"libGeoIP.so.1", "libc.so.6"}}))
	m["usr/lib/x86_64-linux-gnu/libGeoIP.so.1"] = file(mkELF(t, elfSpec{soname: "libGeoIP.so.1", needed: []string{"libc.so.6"}}))
	m["etc/nginx/mime.types"] = text("types { text/html html; }\n")
	m["etc/nginx/sites-available/default"] = text("server {\n\tlisten 80;\n\troot /var/www/html;\n\tinclude /etc/snippets/php.conf;\n\tinclude snippets/gzip.conf;\n\tindex index.html;\n}\n")
	m["etc/nginx/snippets/gzip.conf"] = text("gzip on;\n")
	m["etc/nginx/snippets/unused.conf"] = text("")
	m["usr/lib/nginx/modules/ngx_xslt.so"] = file(mkELF(t, elfSpec{needed: []string{"libxslt.so.1", "libc.so.6"}}))
	m["usr/lib/x86_64-linux-gnu/libxslt.so.1"] = file(mkELF(t, elfSpec{soname: "libxslt.so.1", needed: []string{"libc.so.6"}}))
	m["etc/nginx/sites-enabled/default"] = link("../sites-available/default")
	m["etc/snippets/php.conf"] = text("fastcgi_pass unix:/run/php/php-fpm.sock;\ninclude fastcgi.conf;\nenv PHP_RUN_USER=www-data;\n")
	m["etc/snippets/fastcgi.conf"] = text("")
	m["etc/snippets/other.conf"] = text("")
	m["etc/commented.conf"] = text("")
	m["etc/mime.types"] = text("text/html html\n")
	m["etc/passwd"] = text("root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n")
	m["etc/group"] = text("root:x:0:\nwww-data:x:33:\n")
	m["var/www/html/index.html"] = text("<h1>hi</h1>\n")
	m["var/log/nginx/old.log"] = text("old\n")
	m["var/lib/nginx"] = &fstest.MapFile{Mode: 0o755 | 1<<31}
	m["run"] = &fstest.MapFile{Mode: 0o755 | 1<<31}
	return m
}

// TestClosureCompiledFiles: a program the config starts brings the configuration its
// binary names, its own /etc directory, the directories it writes its logs, pid file
// and temporary files in (their entries alone), what the configuration includes (a
// glob's matches, through symlinks; a relative name next to the file), the modules it
// loads with their libraries, the directory it serves, and the passwd entries of the
// user it runs as; paths of other programs and commented ones bring nothing.
func TestClosureCompiledFiles(t *testing.T) {
	t.Parallel()
	m := nginxImage(t)
	r, err := New(m, WithArgs("/usr/sbin/nginx", []string{"-g", "daemon off;"}))
	if err != nil {
		t.Fatal(err)
	}
	deps, err := r.Closure("usr/sbin/nginx")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Dep{}
	for _, d := range deps {
		got[d.Path] = d
	}
	for _, p := range []string{"etc/nginx/nginx.conf", "etc/nginx/mime.types", "etc/nginx/sites-available/default", "etc/snippets/php.conf",
		"etc/snippets/fastcgi.conf", "var/www/html/index.html", "etc/passwd", "etc/group", "usr/lib/nginx/modules/ngx_xslt.so", "usr/lib/x86_64-linux-gnu/libxslt.so.1",
		"usr/share/nginx/modules-available/mod-geoip.conf", "usr/lib/nginx/modules/ngx_geoip.so", "usr/lib/x86_64-linux-gnu/libGeoIP.so.1"} {
		if d, ok := got[p]; !ok || d.Dir {
			t.Errorf("%s: not taken as a file (%+v)", p, d)
		}
	}
	for _, p := range []string{"var/log/nginx", "var/lib/nginx", "run"} {
		if d, ok := got[p]; !ok || !d.Dir {
			t.Errorf("%s: not taken as a directory entry (%+v)", p, d)
		}
	}
	for _, p := range []string{"etc/mime.types", "etc/commented.conf", "var/log/nginx/old.log", "etc/snippets/other.conf"} {
		if d, ok := got[p]; ok {
			t.Errorf("%s taken: %s", p, d.Reason)
		}
	}
	if d := got["etc/nginx/nginx.conf"]; d.Reason != "path /etc/nginx/ compiled into /usr/sbin/nginx" && d.Reason != "path /etc/nginx/nginx.conf compiled into /usr/sbin/nginx" {
		t.Errorf("nginx.conf's reason: %q", d.Reason)
	}

	// The same program not started by the config (a tool a library names) brings none.
	r, err = New(m)
	if err != nil {
		t.Fatal(err)
	}
	deps, err = r.Closure("usr/sbin/nginx")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps {
		if d.Path == "etc/nginx/nginx.conf" {
			t.Errorf("taken for a program the config does not start: %s", d.Reason)
		}
	}
}

// TestClosureCompiledMainConfig: a server that names its directory and its main
// configuration's bare name (apache2's /etc/apache2 and apache2.conf) has that
// configuration read: the modules it loads, and those of the files its relative
// includes match, come with their libraries; a module only an unused file names stays
// out.
func TestClosureCompiledMainConfig(t *testing.T) {
	t.Parallel()
	m := glibcImage(t)
	prog := mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}})
	m["usr/sbin/httpd2"] = file(append(prog, "\x00/etc/httpd2\x00absent.conf\x00httpd2.conf\x00"...))
	m["etc/httpd2/httpd2.conf"] = text("LoadModule x_module /usr/lib/httpd2/modules/mod_x.so\nIncludeOptional mods-enabled/*.load\n")
	m["etc/httpd2/mods-enabled/a.load"] = link("../mods-available/a.load")
	m["etc/httpd2/mods-available/a.load"] = text("LoadModule a_module /usr/lib/httpd2/modules/mod_a.so\n")
	m["etc/httpd2/mods-available/b.load"] = text("LoadModule b_module /usr/lib/httpd2/modules/mod_b.so\n")
	for _, mod := range []string{"x", "a", "b"} {
		m["usr/lib/httpd2/modules/mod_"+mod+".so"] = file(mkELF(t, elfSpec{needed: []string{"lib" + mod + ".so.1"}}))
		m["usr/lib/x86_64-linux-gnu/lib"+mod+".so.1"] = file(mkELF(t, elfSpec{soname: "lib" + mod + ".so.1"}))
	}
	r, err := New(m, WithArgs("/usr/sbin/httpd2", nil))
	if err != nil {
		t.Fatal(err)
	}
	deps, err := r.Closure("usr/sbin/httpd2")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range deps {
		got[d.Path] = d.Reason
	}
	for _, p := range []string{"usr/lib/httpd2/modules/mod_x.so", "usr/lib/x86_64-linux-gnu/libx.so.1", "usr/lib/httpd2/modules/mod_a.so", "usr/lib/x86_64-linux-gnu/liba.so.1"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s not taken", p)
		}
	}
	for _, p := range []string{"usr/lib/httpd2/modules/mod_b.so", "usr/lib/x86_64-linux-gnu/libb.so.1"} {
		if why, ok := got[p]; ok {
			t.Errorf("%s taken: %s", p, why)
		}
	}
}
