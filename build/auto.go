package build

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
	"github.com/slim-dev/slim/internal/rootfs"
)

// StagesToSolve names the stages a run needs solved: the target, every stage a --from
// names and, with no --from (auto mode), every stage the target copies from. Other
// SRCs are image references; a bare word that is no stage is almost always a typo, not
// an image on Docker Hub, and is refused with the stages there are.
func (d *Dockerfile) StagesToSolve(target Stage, froms []extract.From) ([]string, error) {
	want := []string{target.Ref()}
	seen := map[string]bool{target.Ref(): true}
	add := func(ref string) {
		if !seen[ref] {
			seen[ref] = true
			want = append(want, ref)
		}
	}
	for _, fr := range froms {
		s, ok := ResolveStage(d.Stages, fr.Source)
		if !ok && !strings.ContainsAny(fr.Source, "/:@.") {
			_, err := LookupStage(d.Stages, fr.Source)
			return nil, fmt.Errorf("%w; for an image, give its full name (docker.io/library/%s:latest)", err, fr.Source)
		}
		if ok && s.Index != target.Index {
			add(fr.Source)
		}
	}
	if len(froms) == 0 {
		for _, e := range target.CopyFrom {
			if s, ok := ResolveStage(d.Stages, e.From); ok && s.Index != target.Index {
				add(e.From)
			}
		}
	}
	return want, nil
}

// Solved finds stage s among the solved stages, whichever key (name or index) asked
// for it; nil when it was not solved.
func (d *Dockerfile) Solved(solved map[string]*StageFS, s Stage) *StageFS {
	for k, sfs := range solved {
		if r, ok := ResolveStage(d.Stages, k); ok && r.Index == s.Index {
			return sfs
		}
	}
	return nil
}

// AutoFroms is what slim takes when no --from is given, read off the target stage as
// BuildKit builds it: every file it copies from another stage or image (its COPY --from
// lines, with COPY's destination rule, WORKDIR, --parents, --chown, --chmod and
// --exclude), taken from that stage so that its closure is resolved where it was built;
// what it copies from the build context, taken from the target as built; its working
// directory whole when its RUNs write there (RunWorkdir); its entrypoint, from the
// target unless a COPY brought it; and the --keep paths. A file
// reached twice is taken once. contextDir is the build context, where COPY's local
// sources are looked up to tell files from directories.
func (d *Dockerfile) AutoFroms(target Stage, solved map[string]*StageFS, keep []string, contextDir string) ([]extract.From, error) {
	tfs := d.Solved(solved, target)
	cf, err := tfs.Config()
	if err != nil {
		return nil, err
	}
	a := &auto{baseWD: d.baseWorkdir(target, cf.Config.WorkingDir), seen: map[string]bool{}}
	for _, e := range target.CopyFrom {
		if err := a.copyFrom(d, e, solved, tfs); err != nil {
			return nil, err
		}
	}
	for _, e := range target.Context {
		if err := a.copyContext(target, e, contextDir); err != nil {
			return nil, err
		}
	}
	if wd := RunWorkdir(target, cf.Config.WorkingDir); wd != "" && !a.covers(wd) {
		if err := a.add(target.Ref(), extract.Spec{Path: wd}, nil); err != nil {
			return nil, err
		}
	}
	ep := EntrypointPath(tfs, cf)
	switch {
	case ep != "" && !a.covers(ep):
		if err := a.add(target.Ref(), extract.Spec{Path: ep}, nil); err != nil {
			return nil, err
		}
	case ep == "" && len(a.out) == 0 && len(keep) == 0:
		return nil, fmt.Errorf("stage %s copies nothing from other stages and has no entrypoint to take: give --from SRC:PATH or --keep PATH", target.Ref())
	}
	for _, k := range keep {
		if err := a.add(target.Ref(), extract.Spec{Path: k}, nil); err != nil {
			return nil, err
		}
	}
	return a.out, nil
}

// RunWorkdir is the working directory that auto mode takes whole from a target stage
// as built, or "": the WORKDIR the stage sets itself (final is the solved config's),
// when the stage has RUN instructions, which write there (npm ci's node_modules, a
// build's dist/, a download), unless it is / or a system directory, which would take
// the image. COPY lines name only what they copy: a single-stage Dockerfile that
// copies package.json, then runs npm ci, lost node_modules.
func RunWorkdir(target Stage, final string) string {
	if target.Workdir == "" || len(target.Runs) == 0 {
		return ""
	}
	wd := path.Join("/", final)
	switch wd {
	case "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt",
		"/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
		"/usr/bin", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/local", "/usr/sbin", "/usr/share", "/usr/src",
		"/var/cache", "/var/lib", "/var/log", "/var/tmp":
		return ""
	}
	return wd
}

// auto collects auto mode's specs.
type auto struct {
	baseWD  string // the WORKDIR of the target's base
	out     []extract.From
	seen    map[string]bool
	covered []string // destinations taken, each a file or a directory
}

func (a *auto) add(src string, sp extract.Spec, e *CopyEdge) error {
	clean, err := extract.NewSpec(sp.Path, sp.Dest)
	if err != nil {
		if e != nil {
			return fmt.Errorf("line %d: translating COPY --from=%s %s %s: %w", e.Line, e.From, sp.Path, sp.Dest, err)
		}
		return fmt.Errorf("taking %s:%s: %w", src, sp.Path, err)
	}
	clean.Owner, clean.Mode, clean.Exclude, clean.Pivot = sp.Owner, sp.Mode, sp.Exclude, sp.Pivot
	fr := extract.From{Source: src, Spec: clean}
	if k := fr.String(); !a.seen[k] {
		a.seen[k] = true
		a.out = append(a.out, fr)
	}
	dest := clean.Dest
	if dest == "" {
		dest = clean.Path
	}
	a.covered = append(a.covered, path.Clean(dest))
	return nil
}

// covers says whether p is a destination taken, or inside one.
func (a *auto) covers(p string) bool {
	p = path.Clean(p)
	for _, d := range a.covered {
		if p == d || d == "/" || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// copyFrom translates one COPY --from: from a stage, read there; from an image, as is.
func (a *auto) copyFrom(d *Dockerfile, e CopyEdge, solved map[string]*StageFS, tfs *StageFS) error {
	owner, err := chownOf(e, tfs)
	if err != nil {
		return err
	}
	mode, err := chmodOf(e)
	if err != nil {
		return err
	}
	src := e.From
	var sfs fs.FS
	if s, ok := ResolveStage(d.Stages, e.From); ok {
		src, sfs = s.Ref(), d.Solved(solved, s)
	}
	for _, p := range e.Src {
		abs := path.Join("/", strings.ReplaceAll(p, "/./", "/"))
		isDir := strings.HasSuffix(p, "/")
		if sfs != nil && !hasGlob(p) {
			if fi, err := fs.Stat(sfs, strings.TrimPrefix(abs, "/")); err == nil {
				isDir = fi.IsDir()
			}
		}
		if e.Parents && hasGlob(p) {
			return fmt.Errorf("line %d: COPY --parents with a wildcard is not supported in auto mode: give --from %s:PATH:DEST for each file", e.Line, src)
		}
		dest := copyDest(e, a.baseWD, p, isDir)
		sp := extract.Spec{Path: abs, Dest: dest, Owner: owner, Mode: mode, Exclude: e.Exclude}
		if e.Parents {
			sp.Pivot = "/"
			if before, _, ok := strings.Cut(p, "/./"); ok {
				sp.Pivot = path.Join("/", before)
			}
		}
		if isDir && dest == "/" {
			sp.Path = strings.TrimSuffix(abs, "/") + "/" // its contents: the root stays
		}
		if err := a.add(src, sp, &e); err != nil {
			return err
		}
	}
	return nil
}

// copyContext takes what a COPY or ADD from the build context, or of a here-document,
// put into the target, from the target as BuildKit built it (owners, modes and
// exclusions applied).
func (a *auto) copyContext(target Stage, e CopyEdge, contextDir string) error {
	for _, name := range e.Inline {
		if err := a.add(target.Ref(), extract.Spec{Path: copyDest(e, a.baseWD, name, false)}, &e); err != nil {
			return err
		}
	}
	for _, p := range e.Src {
		if e.Add && isRemote(p) {
			dest := copyDest(e, a.baseWD, p, false)
			return fmt.Errorf("line %d: ADD %s in the target stage is not supported in auto mode: give --from %s:%s", e.Line, p, target.Ref(), dest)
		}
		matches, err := filepath.Glob(filepath.Join(contextDir, filepath.FromSlash(p)))
		if err != nil || len(matches) == 0 {
			// Not on disk (or not ours to read): what COPY would make of a file.
			matches = []string{filepath.Join(contextDir, filepath.FromSlash(p))}
		}
		for _, m := range matches {
			isDir := false
			if fi, err := os.Stat(m); err == nil {
				isDir = fi.IsDir() || (e.Add && isArchive(m)) // ADD unpacks a local tar
			}
			rel, err := filepath.Rel(contextDir, m)
			if err != nil {
				rel = p
			}
			dest := copyDest(e, a.baseWD, filepath.ToSlash(rel), isDir)
			if isDir && dest == "/" {
				// COPY dir/ /: take what the directory holds, not the whole root.
				kids, err := os.ReadDir(m)
				if err != nil {
					return fmt.Errorf("line %d: reading %s in the build context: %w", e.Line, m, err)
				}
				for _, k := range kids {
					if err := a.add(target.Ref(), extract.Spec{Path: "/" + k.Name()}, &e); err != nil {
						return err
					}
				}
				continue
			}
			if err := a.add(target.Ref(), extract.Spec{Path: dest}, &e); err != nil {
				return err
			}
		}
	}
	return nil
}

// baseWorkdir is the WORKDIR of s's base, against which s's relative WORKDIRs and COPY
// destinations are taken: that of the stage it is built FROM, else the image's, found
// from the stage's final WORKDIR (final, from its solved config) less the relative ones
// the stage adds; "/" when that cannot be told.
func (d *Dockerfile) baseWorkdir(s Stage, final string) string {
	if parent, ok := ResolveStage(d.Stages, s.BaseName); ok && parent.Index < s.Index {
		return absWorkdir(parent.Workdir, d.baseWorkdir(parent, ""))
	}
	final = path.Join("/", final)
	switch {
	case path.IsAbs(s.Workdir):
		return "/"
	case s.Workdir == "":
		return final
	case final == "/"+s.Workdir:
		return "/"
	case strings.HasSuffix(final, "/"+s.Workdir):
		return strings.TrimSuffix(final, "/"+s.Workdir)
	}
	return "/"
}

// absWorkdir is a CopyEdge.Workdir made absolute with the base's WORKDIR.
func absWorkdir(wd, base string) string {
	if path.IsAbs(wd) {
		return wd
	}
	return path.Join("/", base, wd)
}

// copyDest applies COPY's destination rule as BuildKit does: a relative DEST is taken
// from the WORKDIR; "." or a trailing "/" (or several sources) means into the
// directory; a directory source's contents, and wildcard matches, go into DEST; a
// here-document is a file named as its marker; with
// --parents each source keeps its path (below a "/./" in it, if any).
func copyDest(e CopyEdge, baseWD, src string, isDir bool) string {
	dest := e.Dest
	into := dest == "" || dest == "." || strings.HasSuffix(dest, "/")
	if path.IsAbs(dest) {
		dest = path.Clean(dest)
	} else {
		dest = path.Join(absWorkdir(e.Workdir, baseWD), dest)
	}
	if e.Parents {
		keep := strings.TrimPrefix(src, "/")
		if _, after, ok := strings.Cut(src, "/./"); ok {
			keep = after
		} else if after, ok := strings.CutPrefix(src, "./"); ok {
			keep = after
		}
		return path.Join(dest, keep)
	}
	if isDir || hasGlob(src) {
		return dest
	}
	if into || len(e.Src)+len(e.Inline) > 1 {
		return path.Join(dest, path.Base(src))
	}
	return dest
}

// chownOf resolves --chown in the target stage as BuildKit does: names in its
// /etc/passwd and /etc/group; a user without a group gets its own number as the group.
func chownOf(e CopyEdge, tfs fs.FS) (*extract.Owner, error) {
	if e.Chown == "" {
		return nil, nil
	}
	u, g, hasGroup := strings.Cut(e.Chown, ":")
	var o extract.Owner
	var err error
	if o.UID, err = strconv.Atoi(u); err != nil {
		if o.UID, _, err = extract.LookupUser(tfs, u); err != nil {
			return nil, fmt.Errorf("line %d: COPY --chown=%s: %w", e.Line, e.Chown, err)
		}
	}
	o.GID = o.UID
	if hasGroup {
		if o.GID, err = strconv.Atoi(g); err != nil {
			if o.GID, err = extract.LookupGroup(tfs, g); err != nil {
				return nil, fmt.Errorf("line %d: COPY --chown=%s: %w", e.Line, e.Chown, err)
			}
		}
	}
	return &o, nil
}

// chmodOf reads --chmod's octal mode.
func chmodOf(e CopyEdge) (*uint32, error) {
	if e.Chmod == "" {
		return nil, nil
	}
	m, err := strconv.ParseUint(e.Chmod, 8, 32)
	if err != nil || m > 0o7777 {
		return nil, fmt.Errorf("line %d: COPY --chmod=%s: only octal modes are supported in auto mode: give --from with the file and set its mode in the build stage", e.Line, e.Chmod)
	}
	mode := uint32(m)
	return &mode, nil
}

func hasGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// isRemote says whether an ADD source is a URL or a git repository, which BuildKit
// fetches itself.
func isRemote(src string) bool {
	return strings.Contains(src, "://") || strings.HasPrefix(src, "git@")
}

// isArchive says whether a local ADD source is a tar that ADD unpacks, which makes
// it a directory in the target.
func isArchive(name string) bool {
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// EntrypointPath is the absolute path of the entrypoint program inside a stage with
// config cf, found as execvp would find it (rootfs.LookPath, as the fidelity check and
// the closure do), or "" when it has none. When only a match without an execute bit
// exists it is taken, so that the check says it is not executable rather than missing;
// a name with a slash is taken as it is, so that taking it fails naming it.
func EntrypointPath(fsys fs.ReadLinkFS, cf *v1.ConfigFile) string {
	argv := append(append([]string{}, cf.Config.Entrypoint...), cf.Config.Cmd...)
	if len(argv) == 0 || argv[0] == "" {
		return ""
	}
	p, _ := rootfs.LookPath(fsys, argv[0], rootfs.PathEnv(cf.Config.Env), cf.Config.WorkingDir)
	return p
}
