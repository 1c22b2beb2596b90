package build

import (
	"fmt"
	"io/fs"
	"path"
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

// AutoFroms is what slim takes when no --from is given: the files the target stage
// copies from other stages (its COPY --from lines), translated to --from specs with
// COPY's rules, plus the target's entrypoint (for a single-stage Dockerfile, where there
// are no such lines) and any --keep paths.
func (d *Dockerfile) AutoFroms(target Stage, solved map[string]*StageFS, keep []string) ([]extract.From, error) {
	var out []extract.From
	seen := map[string]bool{}
	add := func(src, p, dest string) error {
		sp, err := extract.NewSpec(p, dest)
		if err != nil {
			return fmt.Errorf("translating COPY --from=%s %s %s: %w", src, p, dest, err)
		}
		fr := extract.From{Source: src, Spec: sp}
		if k := fr.String(); !seen[k] {
			seen[k] = true
			out = append(out, fr)
		}
		return nil
	}
	for _, e := range target.CopyFrom {
		s, ok := ResolveStage(d.Stages, e.From)
		if !ok {
			// COPY --from=image: that image is a source of its own.
			for _, src := range e.Src {
				if err := add(e.From, "/"+strings.TrimPrefix(src, "/"), copyDest(e, src, false)); err != nil {
					return nil, err
				}
			}
			continue
		}
		sfs := d.Solved(solved, s)
		for _, src := range e.Src {
			abs := "/" + strings.TrimPrefix(src, "/")
			isDir := false
			if fi, err := fs.Stat(sfs, strings.TrimPrefix(path.Clean(abs), "/")); err == nil {
				isDir = fi.IsDir()
			}
			if err := add(s.Ref(), abs, copyDest(e, src, isDir)); err != nil {
				return nil, err
			}
		}
	}
	tfs := d.Solved(solved, target)
	cf, err := tfs.Config()
	if err != nil {
		return nil, err
	}
	if ep := EntrypointPath(tfs, cf); ep != "" {
		if err := add(target.Ref(), ep, ""); err != nil {
			return nil, err
		}
	} else if len(out) == 0 && len(keep) == 0 {
		return nil, fmt.Errorf("stage %s copies nothing from other stages and has no entrypoint to take: give --from SRC:PATH or --keep PATH", target.Ref())
	}
	for _, k := range keep {
		if err := add(target.Ref(), k, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// copyDest applies COPY's destination rule: into the directory when DEST ends in "/" or
// several sources share it (for files), as the directory itself for a directory source.
func copyDest(e CopyEdge, src string, isDir bool) string {
	dest := e.Dest
	if !strings.HasPrefix(dest, "/") {
		dest = "/" + dest // relative to WORKDIR in Docker; slim assumes / (see README)
	}
	if isDir || strings.ContainsAny(src, "*?[") {
		return dest
	}
	if strings.HasSuffix(e.Dest, "/") || len(e.Src) > 1 {
		return path.Join(dest, path.Base(src))
	}
	return dest
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
