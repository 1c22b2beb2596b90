package build

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/extract"
)

// Emit writes the multi-stage Dockerfile equivalent to what slim did: the original
// stages, then a final stage on base with one COPY --from per file taken, and the
// result's runtime config cfg. static says base is slim's built-in static base, which
// is in no registry. A single-stage project can adopt the result as it is.
func (d *Dockerfile) Emit(froms []extract.From, base string, static bool, files []extract.File, cfg v1.Config) string {
	df := d.Source
	// The original comes first and unchanged, so its parser directives (# syntax,
	// # escape) stay on its first lines where they count. slim adds no syntax line of
	// its own: one makes BuildKit pull that frontend image, which fails offline, and
	// the built-in frontend reads everything written below.
	var b strings.Builder
	b.Write(df)
	if !strings.HasSuffix(string(df), "\n") {
		b.WriteString("\n")
	}
	b.WriteString("\n# Written by slim --emit-dockerfile: your stages above, the slim stage below.\n")
	from := base
	if static {
		from = "scratch"
		b.WriteString("\n# slim's built-in static base is not in a registry: scratch plus the files below\n# runs the same only for programs that need no /etc/passwd, certificates or zoneinfo.\n")
	}
	fmt.Fprintf(&b, "\nFROM %s AS slim\n", from)

	srcOf := map[string]string{} // source name → stage reference usable in COPY --from
	for _, s := range d.Stages {
		srcOf[s.Ref()] = s.Ref()
		srcOf[fmt.Sprint(s.Index)] = s.Ref()
	}
	copyFrom := func(src string) string {
		if r, ok := srcOf[src]; ok {
			return r
		}
		return src
	}
	named := map[string]bool{}
	for _, f := range froms {
		dest := f.Dest
		if dest == "" {
			dest = f.Path
		}
		named[strings.TrimPrefix(dest, "/")] = true
		if f.Pivot != "" {
			// --parents appends the path below the pivot to DEST itself.
			keep := strings.TrimPrefix(f.Path, strings.TrimSuffix(f.Pivot, "/"))
			dest = strings.TrimSuffix(dest, keep) + "/"
		}
		fmt.Fprintf(&b, "COPY --from=%s%s %s %s\n", copyFrom(f.Source), copyFlags(f.Spec), copySource(f.Spec), dest)
	}
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b extract.File) int { return strings.Compare(a.Path, b.Path) })
	for _, f := range files {
		p := strings.TrimPrefix(f.Path, "/")
		if named[p] || !f.Added() || coveredBy(named, p) {
			continue
		}
		fmt.Fprintf(&b, "# %s\nCOPY --from=%s /%s /%s\n", f.Reason, copyFrom(f.Source), p, p)
	}
	writeConfig(&b, cfg)
	return b.String()
}

// coveredBy reports whether p lies inside a directory already copied whole.
func coveredBy(named map[string]bool, p string) bool {
	for d := range named {
		if strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

func writeConfig(b *strings.Builder, c v1.Config) {
	for _, e := range c.Env {
		k, v, _ := strings.Cut(e, "=")
		fmt.Fprintf(b, "ENV %s=%s\n", k, quoteIfNeeded(v))
	}
	for p := range c.ExposedPorts {
		fmt.Fprintf(b, "EXPOSE %s\n", p)
	}
	for k, v := range c.Labels {
		fmt.Fprintf(b, "LABEL %s=%s\n", quoteIfNeeded(k), quoteIfNeeded(v))
	}
	if c.WorkingDir != "" {
		fmt.Fprintf(b, "WORKDIR %s\n", c.WorkingDir)
	}
	if c.User != "" {
		fmt.Fprintf(b, "USER %s\n", c.User)
	}
	if len(c.Entrypoint) > 0 {
		j, _ := json.Marshal(c.Entrypoint)
		fmt.Fprintf(b, "ENTRYPOINT %s\n", j)
	}
	if len(c.Cmd) > 0 {
		j, _ := json.Marshal(c.Cmd)
		fmt.Fprintf(b, "CMD %s\n", j)
	}
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"'$\\") {
		j, _ := json.Marshal(s)
		return string(j)
	}
	return s
}

// copyFlags are the COPY flags that give a spec's owner, mode, exclusions and parents.
func copyFlags(sp extract.Spec) string {
	var b strings.Builder
	if sp.Owner != nil {
		fmt.Fprintf(&b, " --chown=%d:%d", sp.Owner.UID, sp.Owner.GID)
	}
	if sp.Mode != nil {
		fmt.Fprintf(&b, " --chmod=%04o", *sp.Mode)
	}
	for _, x := range sp.Exclude {
		fmt.Fprintf(&b, " --exclude=%s", x)
	}
	if sp.Pivot != "" {
		b.WriteString(" --parents")
	}
	return b.String()
}

// copySource is a spec's path as COPY writes it: with --parents, the pivot marked
// by "/./".
func copySource(sp extract.Spec) string {
	if sp.Pivot == "" || sp.Pivot == "/" {
		return sp.Path
	}
	return strings.TrimSuffix(sp.Pivot, "/") + "/." + strings.TrimPrefix(sp.Path, sp.Pivot)
}
