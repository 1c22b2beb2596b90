package job

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/extract/elfdeps"
	"github.com/slim-dev/slim/internal/imagefs"
	"github.com/slim-dev/slim/internal/rootfs"
	"github.com/slim-dev/slim/rebase"
)

// configFiles takes from src (the source of the result's config, named name) the
// files that the config itself needs, which no program's closure names, as they are:
// the user entries of the USER (userFiles), the time zone files (zoneFiles), the time
// zone database a Go program loads from (goZoneDatabase) and the directories the
// process writes to (writableDirs). What namedFiles names is taken
// with its closure, by packSources. It returns nil when nothing is
// needed.
func configFiles(ctx context.Context, src source, name string, cfg v1.Config, baseImg v1.Image, set *extract.FileSet) (*extract.FileSet, error) {
	if src.FS == nil {
		return nil, nil
	}
	users, err := userFiles(ctx, src.FS, cfg, baseImg, set)
	if err != nil {
		return nil, err
	}
	dirs, err := writableDirs(ctx, src.FS, cfg, baseImg, set)
	if err != nil {
		return nil, err
	}
	zones, err := goZoneDatabase(ctx, src.FS, cfg.Env, baseImg, set)
	if err != nil {
		return nil, err
	}
	var needs [][2]string
	for _, p := range users {
		who := cfg.User
		if who == "" {
			who = "root" // the runtime's default
		}
		needs = append(needs, [2]string{p, fmt.Sprintf("user %q of the config of %s", who, name)})
	}
	needs = append(needs, zoneFiles(src.FS, cfg.Env)...)
	taken := map[string]bool{}
	for _, f := range set.Files() {
		taken[f.Path] = true
	}
	opts := []extract.Option{extract.WithDeps(extract.DepsNone), extract.WithSourceName(name)}
	for _, n := range needs {
		if !taken[n[0]] { // a --from took it: that copy is the one asked for
			opts = append(opts, extract.WithFile(n[0], n[1]))
		}
	}
	var specs []extract.Spec
	for _, d := range dirs {
		// Exact: the directory as the source has it (mode, owner), not its contents.
		specs = append(specs, extract.Spec{Path: d[0], Exact: true, Reason: d[1]})
	}
	for _, z := range zones {
		specs = append(specs, extract.Spec{Path: z[0], Reason: z[1]}) // whole
	}
	if len(opts) == 2 && len(specs) == 0 {
		return nil, nil
	}
	return extract.Select(src.FS, specs, opts...)
}

// maxWritableDirs bounds the directories writableDirs takes for a user: more are a
// tree the user owns, which --from should name.
const maxWritableDirs = 64

// writableDirs names the directories of fsys that the process of the config writes
// to, which no program names, with why: /tmp, where every runtime makes its temporary
// files (Python's tempfile found "no usable temporary directory" on scratch), unless
// the base has one; and for a USER other than root, the directories that user owns
// (state, cache and run directories a Dockerfile chowns, the user's home), without
// their contents. Without them the program started, then failed its first write.
// Directories the files taken so far hold already are left out.
func writableDirs(ctx context.Context, fsys fs.FS, cfg v1.Config, baseImg v1.Image, set *extract.FileSet) ([][2]string, error) {
	taken := map[string]bool{}
	for _, f := range set.Files() {
		taken[f.Path] = true
	}
	var out [][2]string
	if fi, err := fs.Stat(fsys, "tmp"); err == nil && fi.IsDir() && !taken["/tmp"] {
		ok, err := baseHasDir(ctx, baseImg, "tmp")
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, [2]string{"/tmp", "temporary directory of the source"})
		}
	}
	user, _, _ := strings.Cut(cfg.User, ":")
	if user == "" {
		return out, nil
	}
	uid, _, err := extract.LookupUser(fsys, user)
	if err != nil || uid == 0 {
		return out, nil // an unknown user is the fidelity check's to report
	}
	var owned []string
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		switch p {
		case "proc", "sys", "dev":
			return fs.SkipDir // the runtime mounts them
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if h, err := tar.FileInfoHeader(fi, ""); err == nil && h.Uid == uid && p != "." && !taken["/"+p] {
			owned = append(owned, "/"+p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finding the directories user %s owns: %w", cfg.User, err)
	}
	if len(owned) > maxWritableDirs {
		return out, nil
	}
	for _, d := range owned {
		out = append(out, [2]string{d, fmt.Sprintf("directory user %q of the config owns", cfg.User)})
	}
	return out, nil
}

// maxGoCandidates bounds the programs goZoneDatabase reads: a set with more large
// executables than this is a toolchain, not an app.
const maxGoCandidates = 64

// goZoneDatabase names the time zone database of fsys, whole, when a Go program taken
// (set) loads zones by name at run time without its own (elfdeps.GoLoadsZones) and the
// base has none: the directory or zip of ZONEINFO, else the first of Go's system
// directories fsys has. Which zones a program asks for is known only at run time, so
// all of them: without them the result (on scratch, on alpine) started, then failed
// with "unknown time zone" where the original worked.
func goZoneDatabase(ctx context.Context, fsys fs.FS, env []string, baseImg v1.Image, set *extract.FileSet) ([][2]string, error) {
	links, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return nil, nil
	}
	taken := map[string]bool{}
	prog, seen := "", 0
	for _, f := range set.Files() {
		taken[f.Path] = true
		// A Go program is never smaller than a megabyte.
		if prog != "" || f.Size < 1<<20 || seen >= maxGoCandidates {
			continue
		}
		fi, err := fs.Stat(fsys, strings.TrimPrefix(f.Path, "/"))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			continue
		}
		seen++
		loads, err := elfdeps.GoLoadsZonesIn(fsys, strings.TrimPrefix(f.Path, "/"))
		if err != nil {
			return nil, err
		}
		if loads {
			prog = f.Path
		}
	}
	if prog == "" {
		return nil, nil
	}
	dirs := []string{"/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo"}
	if z, ok := rootfs.Getenv(env, "ZONEINFO"); ok && path.IsAbs(z) {
		dirs = []string{path.Clean(z)}
	}
	for _, d := range dirs {
		real, _, err := rootfs.Resolve(links, d, true)
		if err != nil {
			continue
		}
		if taken[d] {
			return nil, nil // a --from took it
		}
		if fi, err := links.Lstat(real); err == nil && fi.IsDir() {
			if has, err := baseHasDir(ctx, baseImg, strings.TrimPrefix(d, "/")); err != nil || has {
				return nil, err
			}
		}
		return [][2]string{{d, fmt.Sprintf("time zones %s loads by name (time.LoadLocation), with no database of its own", prog)}}, nil
	}
	return nil, nil
}

// baseHasDir reports whether the base image has a directory at name.
func baseHasDir(ctx context.Context, base v1.Image, name string) (bool, error) {
	return inBase(ctx, base, func(bfs fs.FS) bool {
		fi, err := fs.Stat(bfs, name)
		return err == nil && fi.IsDir()
	})
}

// inBase reports what has says of the base image's file system: false for a base
// without layers (scratch).
func inBase(ctx context.Context, base v1.Image, has func(fs.FS) bool) (bool, error) {
	if base == nil {
		return false, nil
	}
	if ls, err := base.Layers(); err != nil {
		return false, fmt.Errorf("reading base layers: %w", err)
	} else if len(ls) == 0 {
		return false, nil
	}
	bfs, err := imagefs.New(ctx, base)
	if err != nil {
		return false, fmt.Errorf("reading the base: %w", err)
	}
	defer bfs.Close()
	return has(bfs), nil
}

// userFiles names /etc/passwd and /etc/group when the config's USER needs them and
// the files taken so far (set) hold no /etc/passwd:
//
//   - it names a user or a group (not numbers) that the base does not list and fsys
//     does. A Dockerfile's `RUN useradd app` then `USER app` in the target, or an
//     image's own named user, otherwise gave an image that the runtime refuses to start
//     ("unable to find user app"). A source without the entries is left to the
//     fidelity check, which names the fixes;
//   - it is a number, or empty (root), that fsys lists, and the base has no
//     /etc/passwd at all (scratch). The runtime starts such a user without an entry,
//     but what looks the running user up then fails: Python's getpass.getuser() and
//     Node's os.userInfo() raise, PostgreSQL and ssh refuse to run, bash says "I have
//     no name!".
func userFiles(ctx context.Context, fsys fs.FS, cfg v1.Config, baseImg v1.Image, set *extract.FileSet) ([]string, error) {
	user, group, _ := strings.Cut(cfg.User, ":")
	uid := user
	user, group = nameOnly(user), nameOnly(group)
	for _, f := range set.Files() {
		if f.Path == "/etc/passwd" || f.Path == "/etc/group" {
			return nil, nil // taken by a --from: the check reads them
		}
	}
	if user == "" && group == "" {
		if uid == "" {
			uid = "0"
		}
		ok, err := inBase(ctx, baseImg, func(bfs fs.FS) bool { _, err := fs.Stat(bfs, "etc/passwd"); return err == nil })
		if err != nil || ok || !listsUID(fsys, uid) {
			return nil, err
		}
		return []string{"/etc/passwd", "/etc/group"}, nil
	}
	if ok, err := baseHas(ctx, baseImg, user, group); err != nil || ok {
		return nil, err
	}
	if !has(fsys, user, group) {
		return nil, nil
	}
	return []string{"/etc/passwd", "/etc/group"}, nil
}

// listsUID reports whether fsys's /etc/passwd has an entry for the user number uid.
func listsUID(fsys fs.FS, uid string) bool {
	b, err := fs.ReadFile(fsys, "etc/passwd")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) >= 7 && f[2] == uid {
			return true
		}
	}
	return false
}

// zoneFiles names the time zone files a program of the config reads by name, with
// why: TZ's zone (from TZDIR or /usr/share/zoneinfo, a leading ":" dropped, an absolute
// path as it is, as glibc and Go take it), and the source's local time
// (/etc/localtime, with Debian's /etc/timezone) unless it is UTC, which is what a
// program without it gets anyway. Without them the result runs, but tells the time
// of another zone than the original. Only files fsys has are named.
func zoneFiles(fsys fs.FS, env []string) [][2]string {
	links, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return nil
	}
	var out [][2]string
	exists := func(p string) bool { return isFile(links, p) }
	if tz, ok := rootfs.Getenv(env, "TZ"); ok {
		zone := strings.TrimPrefix(tz, ":")
		if zone != "" && !path.IsAbs(zone) {
			dir, ok := rootfs.Getenv(env, "TZDIR")
			if !ok || !path.IsAbs(dir) {
				dir = "/usr/share/zoneinfo"
			}
			zone = path.Join(dir, zone)
			if !strings.HasPrefix(zone, dir+"/") {
				zone = "" // TZ=../x: no zone of the database
			}
		}
		if zone != "" && exists(zone) {
			out = append(out, [2]string{path.Clean(zone), fmt.Sprintf("time zone of TZ=%s in the config", tz)})
		}
	}
	target, err := links.ReadLink("etc/localtime")
	utc := false
	for _, name := range []string{"UTC", "UCT", "Universal", "Zulu"} {
		utc = utc || err == nil && path.Base(target) == name
	}
	if !utc && exists("/etc/localtime") {
		out = append(out, [2]string{"/etc/localtime", "the local time zone of the source"})
		if exists("/etc/timezone") {
			out = append(out, [2]string{"/etc/timezone", "the local time zone of the source"})
		}
	}
	return out
}

// isFile reports whether p is a regular file of fsys, symlinks followed.
func isFile(fsys fs.ReadLinkFS, p string) bool {
	real, _, err := rootfs.Resolve(fsys, p, true)
	if err != nil {
		return false
	}
	fi, err := fsys.Lstat(real)
	return err == nil && fi.Mode().IsRegular()
}

// maxNamedFiles bounds the files namedFiles takes: a config naming more is not
// naming its own files.
const maxNamedFiles = 64

// namedFiles names, with why, the regular files of fsys that the config names by
// absolute path, or in its arguments by a path relative to its working directory: in the entrypoint's and the healthcheck's arguments (--config
// /etc/app/config.yaml, --config=…, -javaagent:/opt/agent.jar=…) and in Env values
// (APP_CONFIG=/etc/app.json, NODE_OPTIONS="--require /opt/otel/register.js",
// JAVA_TOOL_OPTIONS), as rootfs.PathsIn reads a word. Directories are never taken this way (JAVA_HOME names a whole
// JRE), nor what PATH, LD_LIBRARY_PATH, LD_PRELOAD, HOME and SHELL name: the
// closure takes what programs need of them. Without these files the program started,
// then failed to open the file it was told to read.
func namedFiles(fsys fs.FS, cfg v1.Config) [][2]string {
	links, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return nil
	}
	var out [][2]string
	seen := map[string]bool{}
	add := func(word, why string) {
		for _, p := range rootfs.PathsIn(word) {
			if len(out) < maxNamedFiles && !seen[p] && isFile(links, p) {
				seen[p] = true
				out = append(out, [2]string{p, why})
			}
		}
	}
	argv := slices.Concat(cfg.Entrypoint, cfg.Cmd)
	for i, a := range argv {
		if i > 0 { // the program itself is the entrypoint's to take, with its closure
			add(a, "named by the config's arguments")
			// A relative name is a file of the working directory: python3 app.py,
			// node server.js, --config=conf/app.yaml under WORKDIR /srv/app.
			for _, tok := range rootfs.Words(a) {
				if !strings.HasPrefix(tok, "/") && !strings.HasPrefix(tok, "-") && tok != "." && tok != ".." {
					add(path.Join("/", cfg.WorkingDir, tok), "named by the config's arguments, in the working directory")
				}
			}
		}
	}
	if hc := rebase.HealthcheckArgv(cfg); len(hc) > 1 {
		for _, a := range hc[1:] {
			add(a, "named by the healthcheck's arguments")
		}
	}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "HOME", "SHELL":
			continue
		}
		add(v, "named by "+k+" in the config")
	}
	return out
}

// nameOnly is s when it is a name, "" when it is empty or a number (which needs no
// entry: runc runs a numeric user without one).
func nameOnly(s string) string {
	if strings.Trim(s, "0123456789") == "" {
		return ""
	}
	return s
}

// has reports whether fsys lists user in /etc/passwd and group in /etc/group ("" for
// either: not asked).
func has(fsys fs.FS, user, group string) bool {
	if user != "" {
		if _, _, err := extract.LookupUser(fsys, user); err != nil {
			return false
		}
	}
	if group != "" {
		if _, err := extract.LookupGroup(fsys, group); err != nil {
			return false
		}
	}
	return true
}

// baseHas reports whether the base image lists user and group.
func baseHas(ctx context.Context, base v1.Image, user, group string) (bool, error) {
	return inBase(ctx, base, func(bfs fs.FS) bool {
		if _, err := fs.Stat(bfs, "etc/passwd"); errors.Is(err, fs.ErrNotExist) {
			return false
		}
		return has(bfs, user, group)
	})
}
