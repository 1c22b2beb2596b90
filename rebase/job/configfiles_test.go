package job

import (
	"archive/tar"
	"context"
	"io/fs"
	"reflect"
	"slices"
	"testing"
	"testing/fstest"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
)

func TestZoneFiles(t *testing.T) {
	zone := &fstest.MapFile{Data: []byte("TZif2"), Mode: 0o644}
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: 0o777 | 1<<27} // fs.ModeSymlink
	}
	base := fstest.MapFS{
		"usr/share/zoneinfo/Europe/Berlin": zone,
		"usr/share/zoneinfo/Asia/Tokyo":    zone,
		"usr/share/zoneinfo/Etc/UTC":       zone,
		"opt/zi/Mars":                      zone,
		"custom/zone":                      zone,
		"etc/passwd":                       zone,
	}
	with := func(extra fstest.MapFS) fstest.MapFS {
		m := fstest.MapFS{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		env  []string
		want []string
	}{
		{"no TZ, no localtime", base, nil, nil},
		{"TZ names a zone", base, []string{"TZ=Europe/Berlin"}, []string{"/usr/share/zoneinfo/Europe/Berlin"}},
		{"the last TZ counts", base, []string{"TZ=Europe/Berlin", "TZ=:Asia/Tokyo"}, []string{"/usr/share/zoneinfo/Asia/Tokyo"}},
		{"a zone the source lacks", base, []string{"TZ=Europe/Nowhere"}, nil},
		{"POSIX rule", base, []string{"TZ=CET-1CEST"}, nil},
		{"out of the database", base, []string{"TZ=../../../etc/passwd"}, nil},
		{"TZDIR", base, []string{"TZDIR=/opt/zi", "TZ=Mars"}, []string{"/opt/zi/Mars"}},
		{"absolute TZ", base, []string{"TZ=:/custom/zone"}, []string{"/custom/zone"}},
		{"localtime UTC", with(fstest.MapFS{"etc/localtime": link("/usr/share/zoneinfo/Etc/UTC")}), nil, nil},
		{"localtime Tokyo", with(fstest.MapFS{"etc/localtime": link("/usr/share/zoneinfo/Asia/Tokyo"), "etc/timezone": zone}), nil,
			[]string{"/etc/localtime", "/etc/timezone"}},
		{"localtime a copy", with(fstest.MapFS{"etc/localtime": zone}), nil, []string{"/etc/localtime"}},
	} {
		var got []string
		for _, z := range zoneFiles(tc.fsys, tc.env) {
			got = append(got, z[0])
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: zoneFiles = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestWritableDirs: /tmp unless the base has one, and for a user other than root the
// directories it owns (by name through /etc/passwd, or by number), without /proc and
// the like; root gets /tmp only, and a directory already taken is not named again.
func TestWritableDirs(t *testing.T) {
	ctx := context.Background()
	dir := func(uid int) *fstest.MapFile {
		return &fstest.MapFile{Mode: fs.ModeDir | 0o755, Sys: &tar.Header{Uid: uid, Gid: uid}}
	}
	src := fstest.MapFS{
		"etc/passwd":        &fstest.MapFile{Data: []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")},
		"tmp":               &fstest.MapFile{Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		"home/app":          dir(1000),
		"var/lib/app":       dir(1000),
		"var/lib/app/cache": dir(1000),
		"var/lib/app/db":    &fstest.MapFile{Data: []byte("data"), Sys: &tar.Header{Uid: 1000}},
		"var/lib/other":     dir(0),
		"proc/1":            dir(1000),
	}
	paths := func(user string, set *extract.FileSet) []string {
		t.Helper()
		got, err := writableDirs(ctx, src, v1.Config{User: user}, nil, set)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range got {
			out = append(out, d[0])
		}
		return out
	}
	empty := &extract.FileSet{}
	for user, want := range map[string][]string{
		"app":       {"/tmp", "/home/app", "/var/lib/app", "/var/lib/app/cache"},
		"1000:1000": {"/tmp", "/home/app", "/var/lib/app", "/var/lib/app/cache"},
		"":          {"/tmp"},
		"root":      {"/tmp"},
		"nobody":    {"/tmp"}, // unknown: the fidelity check's
	} {
		if got := paths(user, empty); !slices.Equal(got, want) {
			t.Errorf("user %q: %q, want %q", user, got, want)
		}
	}
	taken, err := extract.Select(src, []extract.Spec{{Path: "/var/lib/app/"}, {Path: "/tmp", Exact: true}}, extract.WithDeps(extract.DepsNone))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := paths("app", taken), []string{"/home/app"}; !slices.Equal(got, want) {
		t.Errorf("with /tmp and /var/lib/app taken: %q, want %q", got, want)
	}
}

// TestNamedFiles: files the config names by absolute path in its arguments (alone, after
// "=" or ":"), its healthcheck's and its Env values are named, and in its arguments by a
// path relative to the working directory; directories, missing paths, URLs, the program
// itself and what PATH-like variables name are not.
func TestNamedFiles(t *testing.T) {
	f := &fstest.MapFile{Data: []byte("x"), Mode: 0o644}
	src := fstest.MapFS{
		"etc/app/config.yaml":      f,
		"etc/app/log.yaml":         f,
		"opt/agent/agent.jar":      f,
		"opt/otel/register.js":     f,
		"etc/app/health.json":      f,
		"run/key.txt":              f,
		"usr/bin/server":           &fstest.MapFile{Data: []byte("x"), Mode: 0o755},
		"usr/lib/jvm/java/release": f,
		"etc/conf.yaml":            &fstest.MapFile{Data: []byte("app/config.yaml"), Mode: fs.ModeSymlink | 0o777},
		"bin/bash":                 f,
		"srv/app/main.py":          f,
		"srv/app/conf/app.yaml":    f,
		"srv/app/start":            f, // named as ../app/start, cleaned
		"main.py":                  f,
	}
	cfg := v1.Config{
		WorkingDir:  "/srv/app",
		Entrypoint:  []string{"/usr/bin/server", "--config", "/etc/app/config.yaml", "--log=/etc/app/log.yaml", "-javaagent:/opt/agent/agent.jar=port=1"},
		Cmd:         []string{"--missing", "/etc/gone.yaml", "--url", "http://host/etc/app/x", "--dir", "/etc/app", "main.py", "--conf=conf/app.yaml", "../app/start", "gone.py"},
		Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "/usr/bin/server", "--check", "/etc/app/health.json"}},
		Env: []string{"PATH=/usr/bin:/bin", "NODE_OPTIONS=--require /opt/otel/register.js", "KEY_FILE=/run/key.txt", "JAVA_HOME=/usr/lib/jvm/java",
			"SHELL=/bin/bash", "LINKED=/etc/conf.yaml"},
	}
	var got []string
	for _, n := range namedFiles(src, cfg) {
		got = append(got, n[0])
	}
	want := []string{"/etc/app/config.yaml", "/etc/app/log.yaml", "/opt/agent/agent.jar", "/srv/app/main.py", "/srv/app/conf/app.yaml", "/srv/app/start",
		"/etc/app/health.json", "/opt/otel/register.js", "/run/key.txt", "/etc/conf.yaml"}
	if !slices.Equal(got, want) {
		t.Errorf("namedFiles = %q, want %q", got, want)
	}
}

// TestUserFilesNumbered: root (no USER) and a listed number bring /etc/passwd and
// /etc/group onto a base without them; an unlisted number, or a passwd already taken,
// brings nothing; a named user as before.
func TestUserFilesNumbered(t *testing.T) {
	ctx := context.Background()
	src := fstest.MapFS{
		"etc/passwd": &fstest.MapFile{Data: []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")},
		"etc/group":  &fstest.MapFile{Data: []byte("root:x:0:\napp:x:1000:\n")},
	}
	empty := &extract.FileSet{}
	for user, want := range map[string]int{"": 2, "0": 2, "1000:1000": 2, "app": 2, "4242": 0, "nobody": 0} {
		got, err := userFiles(ctx, src, v1.Config{User: user}, nil, empty)
		if err != nil || len(got) != want {
			t.Errorf("user %q: %q, %v; want %d files", user, got, err, want)
		}
	}
	taken, err := extract.Select(src, []extract.Spec{{Path: "/etc/passwd"}}, extract.WithDeps(extract.DepsNone))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := userFiles(ctx, src, v1.Config{}, nil, taken); got != nil {
		t.Errorf("with /etc/passwd taken: %q, want nothing", got)
	}
}
