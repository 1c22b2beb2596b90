// Package output owns writing a result to its destinations: an OCI layout (directory or
// tar), a docker archive, a registry, the Docker daemon, one sink per file. Write plans
// every output before it writes any, writes files under temporary names next to their
// destinations, pushes and loads, and only then renames the files into place, so a
// failed or cancelled run leaves nothing under a destination name.
//
// Registries are reached with imageref's options (WithRefOptions), so a name pushed to
// is reached the way it is read back.
package output

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"github.com/google/go-containerregistry/pkg/compression"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"

	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/progress"
	"github.com/slim-dev/slim/internal/regerr"
	"github.com/slim-dev/slim/internal/tempfile"
)

// Output errors. ErrBadOutput is a spec or combination the user must change;
// ErrUnsupportedOutput is an image that the chosen output cannot hold (zstd in a
// docker archive, an index in the Docker daemon); ErrNoDaemon is a daemon that cannot be
// reached; ErrUnauthorized is a registry refusing a push (the message names it and the
// `docker login` to run), the same value as build's.
var (
	ErrBadOutput         = errors.New("invalid output")
	ErrUnsupportedOutput = errors.New("output cannot hold this image")
	ErrNoDaemon          = errors.New("docker daemon unreachable")
	ErrUnauthorized      = regerr.ErrUnauthorized
)

// Type is the kind of place an image is written to, as buildx names them.
type Type string

const (
	// OCI is an OCI image layout, as a directory or as a tar of one.
	OCI Type = "oci"
	// Docker is a `docker save` archive when Dest is set, else a load into the
	// Docker daemon (buildx's `-o type=docker` without dest loads, as --load does).
	Docker Type = "docker"
	// Registry pushes to a registry (buildx: type=image,push=true).
	Registry Type = "registry"
	// Image pushes when Push is set, else loads into the Docker daemon: slim has
	// no image store of its own, the daemon's is the nearest thing to buildx's.
	Image Type = "image"

	// Local is a directory of files, and Tar a tar of them (Dest "-" is standard
	// output): what `slim extract` writes, parsed by ParseFiles, never by Parse.
	Local Type = "local"
	Tar   Type = "tar"
)

// typeKeys lists the -o keys a type takes, so a typo is an error and not a silently
// ignored setting; ok is false for a type that does not exist.
func typeKeys(t Type) (keys []string, ok bool) {
	switch t {
	case OCI:
		return []string{"type", "dest", "name", "tar", "replace"}, true
	case Docker:
		return []string{"type", "dest", "name"}, true
	case Registry:
		return []string{"type", "name"}, true
	case Image:
		return []string{"type", "name", "push"}, true
	case Local, Tar:
		return []string{"type", "dest"}, true
	}
	return nil, false
}

// Output is one place Write puts the image, parsed from a buildx-style `-o` spec.
type Output struct {
	Type Type
	// Dest is the file or directory for oci and docker outputs.
	Dest string
	// Tar writes an oci output as one tar file rather than a directory.
	Tar bool
	// Replace makes an oci directory output replace the whole layout rather than add
	// the image to it (a tar is always written whole).
	Replace bool
	// Name lists the references the image is written under. When empty, the tags
	// given with WithTags are used (as buildx does with -t).
	Name []string
	// Push makes an image output push to a registry.
	Push bool
}

// String returns the spec in the form Parse reads back.
func (o Output) String() string {
	parts := []string{"type=" + string(o.Type)}
	if o.Dest != "" {
		parts = append(parts, "dest="+o.Dest)
	}
	if o.Type == OCI {
		parts = append(parts, "tar="+strconv.FormatBool(o.Tar))
		if o.Replace {
			parts = append(parts, "replace=true")
		}
	}
	if len(o.Name) > 0 {
		parts = append(parts, "name="+strings.Join(o.Name, ","))
	}
	if o.Type == Image {
		parts = append(parts, "push="+strconv.FormatBool(o.Push))
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write(parts) // a strings.Builder does not fail
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// parseBare reads an output without keys: a path, or a path in the form slim
// reads images from (oci-layout://DIR, docker-archive://FILE), so that what works as
// a source works as a destination. Any other scheme is refused rather than taken as
// a directory named after it.
func parseBare(spec string) (Output, error) {
	scheme, rest, ok := strings.Cut(spec, "://")
	if !ok {
		return Output{Type: OCI, Dest: spec, Tar: isTarName(spec)}, nil
	}
	if rest == "" {
		return Output{}, fmt.Errorf("parsing output %q: no path after %s://: %w", spec, scheme, ErrBadOutput)
	}
	switch scheme {
	case "oci-layout":
		return Output{Type: OCI, Dest: rest, Tar: isTarName(rest)}, nil
	case "docker-archive":
		return Output{Type: Docker, Dest: rest}, nil
	}
	return Output{}, fmt.Errorf("parsing output %q: unknown scheme %s:// (want oci-layout://DIR, docker-archive://FILE, a path, or type=%s,...): %w", spec, scheme, joinTypes(), ErrBadOutput)
}

// Parse parses one -o value.
//
// The full form is buildx's comma-separated key=value list, with csv quoting so that
// name="a:1,b:2" can hold several names:
//
//	type=oci,dest=DIR            an OCI layout directory: the image is added to the
//	                             layout there (replace=true replaces the whole layout)
//	type=oci,dest=FILE.tar       an OCI layout in one tar file (tar=true|false overrides
//	                             the choice made from the name: a dest ending in ".tar" is a
//	                             tar, anything else a directory)
//	type=docker,dest=FILE        a docker archive for `docker load`
//	type=docker                  load into the Docker daemon (as --load)
//	type=registry,name=REF       push
//	type=image,name=REF,push=true  push; without push, load into the Docker daemon
//
// A value without '=' is a path and means type=oci,dest=PATH; oci-layout://PATH says
// the same, and docker-archive://FILE means type=docker,dest=FILE. buildx reads a bare path
// as type=local (the files of the result); slim's result is an image, and a layout
// directory is the image written as files, so the shorthand keeps the meaning "write
// it here" while staying an image other tools can read.
func Parse(spec string) (Output, error) { return parse(spec, false) }

// ParseFiles parses one -o value of a command that writes files rather than an image
// (slim extract), in the same forms as Parse:
//
//	type=local,dest=DIR   a directory
//	type=tar,dest=FILE    a tar file; dest=- (or the spec "-" alone) is standard output
//	DIR, FILE.tar         a bare path: a tar when it ends in ".tar", else a directory
func ParseFiles(spec string) (Output, error) { return parse(spec, true) }

// parse is the one -o parser: files selects the file types (local, tar) instead of
// the image ones.
func parse(spec string, files bool) (Output, error) {
	types := joinTypes()
	if files {
		types = string(Local) + "|" + string(Tar)
	}
	if strings.TrimSpace(spec) == "" {
		return Output{}, fmt.Errorf("parsing output: empty spec (want type=%s,...): %w", types, ErrBadOutput)
	}
	if i := strings.IndexFunc(spec, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		return Output{}, fmt.Errorf("parsing output %q: control character at byte %d: %w", spec, i, ErrBadOutput)
	}
	if spec == "-" && files {
		return Output{Type: Tar, Dest: "-"}, nil
	}
	if spec == "-" {
		return Output{}, fmt.Errorf("parsing output %q: writing to standard output is not supported (it could not be undone on failure); give dest=FILE: %w", spec, ErrBadOutput)
	}
	if !strings.Contains(spec, "=") {
		if files {
			if isTarName(spec) {
				return Output{Type: Tar, Dest: spec}, nil
			}
			return Output{Type: Local, Dest: spec}, nil
		}
		return parseBare(spec)
	}
	r := csv.NewReader(strings.NewReader(spec))
	fields, err := r.Read()
	if err != nil {
		return Output{}, fmt.Errorf("parsing output %q: %v: %w", spec, err, ErrBadOutput)
	}
	kv := map[string]string{}
	var order []string
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			return Output{}, fmt.Errorf("parsing output %q: %q is not key=value: %w", spec, f, ErrBadOutput)
		}
		if _, dup := kv[k]; dup {
			return Output{}, fmt.Errorf("parsing output %q: %s given twice: %w", spec, k, ErrBadOutput)
		}
		// Values are kept as given: a path may begin or end with a space.
		kv[k] = v
		order = append(order, k)
	}
	typ, ok := kv["type"]
	if !ok {
		return Output{}, fmt.Errorf("parsing output %q: no type (want type=%s): %w", spec, types, ErrBadOutput)
	}
	out := Output{Type: Type(strings.ToLower(strings.TrimSpace(typ)))}
	valid, ok := typeKeys(out.Type)
	if isFiles := out.Type == Local || out.Type == Tar; !ok || isFiles != files {
		hint := ""
		switch {
		case isFiles:
			hint = "; for the files rather than an image use slim extract"
		case ok:
			hint = "; slim extract writes files, use slim recompress or slim for an image"
		}
		return Output{}, fmt.Errorf("parsing output %q: unknown type %q (want %s)%s: %w", spec, typ, types, hint, ErrBadOutput)
	}
	for _, k := range order {
		if !slices.Contains(valid, k) {
			return Output{}, fmt.Errorf("parsing output %q: type=%s takes no key %q (valid: %s): %w", spec, out.Type, k, strings.Join(valid, ", "), ErrBadOutput)
		}
	}
	out.Dest = kv["dest"]
	if s, ok := kv["name"]; ok {
		for n := range strings.SplitSeq(s, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out.Name = append(out.Name, n)
			}
		}
		if len(out.Name) == 0 {
			return Output{}, fmt.Errorf("parsing output %q: empty name: %w", spec, ErrBadOutput)
		}
	}
	for _, k := range []string{"tar", "push", "replace"} {
		s, ok := kv[k]
		if !ok {
			continue
		}
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return Output{}, fmt.Errorf("parsing output %q: %s=%q is not true or false: %w", spec, k, s, ErrBadOutput)
		}
		switch k {
		case "tar":
			out.Tar = b
		case "push":
			out.Push = b
		case "replace":
			out.Replace = b
		}
	}
	if _, ok := kv["tar"]; !ok && out.Type == OCI {
		out.Tar = isTarName(out.Dest)
	}
	if _, ok := kv["dest"]; ok && out.Dest == "" {
		return Output{}, fmt.Errorf("parsing output %q: empty dest: %w", spec, ErrBadOutput)
	}
	if files && out.Dest == "" {
		return Output{}, fmt.Errorf("parsing output %q: type=%s needs dest=: %w", spec, out.Type, ErrBadOutput)
	}
	if out.Dest == "-" && out.Type != Tar {
		return Output{}, fmt.Errorf("parsing output %q: writing to standard output is not supported (it could not be undone on failure); give dest=FILE: %w", spec, ErrBadOutput)
	}
	if out.Type == OCI && out.Dest == "" {
		return Output{}, fmt.Errorf("parsing output %q: type=oci needs dest=DIR or dest=FILE.tar: %w", spec, ErrBadOutput)
	}
	return out, nil
}

func isTarName(dest string) bool {
	return strings.HasSuffix(strings.ToLower(dest), ".tar")
}

func joinTypes() string {
	return strings.Join([]string{string(OCI), string(Docker), string(Registry), string(Image)}, "|")
}

// Option configures Write and Load.
type Option func(*options)

type options struct {
	tags     []string
	progress io.Writer
	steps    progress.Sink
	// refOpts reach registries (credentials, insecure, transport) and parse the
	// names pushed to, as imageref reads them back.
	refOpts []imageref.Option
	// daemonClient stands in for the Docker daemon in tests (ko's fakes through
	// unexported options).
	daemonClient daemon.Client
}

func makeOptions(opts ...Option) options {
	o := options{progress: io.Discard}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithTags gives the -t tags: the names of a docker archive, the ref.name annotations of
// an OCI layout, and the references pushed or loaded by an output without name=.
func WithTags(tags []string) Option {
	return func(o *options) { o.tags = slices.Clone(tags) }
}

// WithRefOptions sets how registries are reached and names pushed to are parsed
// (imageref.WithInsecure, WithKeychain, WithTransport, WithUserAgent), the same
// options that read images, so a push goes where a read of the same name would.
// Loopback registries always get plain HTTP, as imageref reads them.
func WithRefOptions(opts ...imageref.Option) Option {
	return func(o *options) { o.refOpts = append(o.refOpts, opts...) }
}

// WithProgress receives one line per output written.
func WithProgress(w io.Writer) Option {
	return func(o *options) {
		if w != nil {
			o.progress = w
		}
	}
}

// WithSteps shows each output written as a step of s, with its duration.
func WithSteps(s progress.Sink) Option { return func(o *options) { o.steps = s } }

func withDaemonClient(c daemon.Client) Option {
	return func(o *options) { o.daemonClient = c }
}

// subject is what Write was given: exactly one of img and idx is set.
type subject struct {
	img v1.Image
	idx v1.ImageIndex
}

func newSubject(v any) (subject, error) {
	switch v := v.(type) {
	case v1.Image:
		if v != nil {
			return subject{img: v}, nil
		}
	case v1.ImageIndex:
		if v != nil {
			return subject{idx: v}, nil
		}
	}
	return subject{}, fmt.Errorf("writing outputs: %T is neither an image nor an index: %w", v, ErrBadOutput)
}

func (s subject) digest() (v1.Hash, error) {
	if s.img != nil {
		return s.img.Digest()
	}
	return s.idx.Digest()
}

// committer finishes an output that was written under a temporary name (rename into
// place) or throws it away.
type committer interface {
	commit() error
	abort()
}

// Write writes an image (v1.Image) or an index (v1.ImageIndex) to every output.
//
// Every output is checked before anything is written, so a spec that cannot work (zstd
// in a docker archive, an index for the Docker daemon, a push without a name) fails
// without side effects. Files and directories are then written under temporary names
// next to their destination, pushes and daemon loads follow, and only when all of them
// succeeded are the files renamed into place: a failed or cancelled run leaves no
// output, partial or whole, under any destination name. (A registry push cannot be
// taken back: it writes every blob and the manifest by digest before any tag, so a
// failed upload leaves no tag, and a refused tag is named with those written before it.)
func Write(ctx context.Context, v any, outs []Output, opts ...Option) (err error) {
	o := makeOptions(opts...)
	s, err := newSubject(v)
	if err != nil {
		return err
	}
	if len(outs) == 0 {
		return fmt.Errorf("writing outputs: no output given (want -o type=%s,... or --push or --load): %w", joinTypes(), ErrBadOutput)
	}
	plans := make([]plan, len(outs))
	dests := map[string]Output{}
	for i, out := range outs {
		if plans[i], err = makePlan(s, out, &o); err != nil {
			return err
		}
		if out.Dest == "" {
			continue
		}
		// Two outputs to one place would race for the final rename.
		key := filepath.Clean(out.Dest)
		if prev, ok := dests[key]; ok {
			return fmt.Errorf("checking outputs %s and %s: both write to %s: %w", prev, out, key, ErrBadOutput)
		}
		dests[key] = out
	}
	// What killed runs left next to these destinations goes first.
	for d := range dests {
		tempfile.RemoveDead(filepath.Dir(d))
	}

	var pending []committer
	defer func() {
		if err != nil {
			for _, c := range pending {
				c.abort()
			}
		}
	}()
	written := make([]string, len(plans))
	// Local files first: they are the likeliest to fail (disk full, permissions) and
	// the only ones that can be undone.
	// Layouts are locked from their write to the commit: taken in one order (by
	// path), two runs writing into the same layouts cannot each hold one the other
	// waits for.
	order := make([]int, len(plans))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(plans[a].lock, plans[b].lock) })
	for _, i := range order {
		p := plans[i]
		if p.file == nil {
			continue
		}
		st := progress.Start(o.steps, "writing "+p.desc)
		c, what, err := p.file(ctx)
		st.Done(err)
		if err != nil {
			return err
		}
		pending = append(pending, c)
		written[i] = what
	}
	for i, p := range plans {
		if p.remote == nil {
			continue
		}
		st := progress.Start(o.steps, "writing "+p.desc)
		what, err := p.remote(ctx, st)
		st.Done(err)
		if err != nil {
			return err
		}
		written[i] = what
	}
	for i, c := range pending {
		if err := c.commit(); err != nil {
			pending = pending[i+1:]
			return err
		}
	}
	pending = nil
	for i, p := range plans {
		fmt.Fprintf(o.progress, "wrote %s (%s)\n", p.desc, written[i])
	}
	return nil
}

// plan is a checked output: a file written under a temporary name, or a push or
// load. Both say what they wrote (a digest, an image ID) for the progress line.
type plan struct {
	desc string
	// lock is the absolute path of a layout the plan locks, "" for none.
	lock   string
	file   func(context.Context) (committer, string, error)
	remote func(context.Context, progress.Step) (string, error)
}

func makePlan(s subject, out Output, o *options) (plan, error) {
	names := out.Name
	if len(names) == 0 {
		names = o.tags
	}
	switch out.Type {
	case OCI:
		if out.Dest == "" {
			return plan{}, fmt.Errorf("checking output %s: type=oci needs dest=DIR or dest=FILE.tar: %w", out, ErrBadOutput)
		}
		annotations, err := layoutAnnotations(names)
		if err != nil {
			return plan{}, fmt.Errorf("checking output %s: %w", out, err)
		}
		write, desc, lock := writeLayoutStore, "oci layout ", ""
		switch {
		case out.Tar:
			write, desc = writeLayoutTar, "oci layout tar "
		case out.Replace:
			write = writeLayoutDir
		default:
			if lock, err = filepath.Abs(out.Dest); err != nil {
				return plan{}, fmt.Errorf("checking output %s: %w", out, err)
			}
		}
		return plan{desc: desc + out.Dest, lock: lock, file: func(ctx context.Context) (committer, string, error) {
			c, d, err := write(ctx, s, filepath.Clean(out.Dest), annotations)
			return c, d.String(), err
		}}, nil

	case Docker:
		if out.Dest == "" {
			return planLoad(s, out, names, o)
		}
		if s.img == nil {
			return plan{}, fmt.Errorf("checking output %s: a docker archive holds one platform's image and this is a multi-platform index; choose one with --platform: %w", out, ErrUnsupportedOutput)
		}
		if err := checkDockerLayers(s.img, false); err != nil {
			return plan{}, fmt.Errorf("checking output %s: %w", out, err)
		}
		tags, err := dockerTags(names)
		if err != nil {
			return plan{}, fmt.Errorf("checking output %s: %w", out, err)
		}
		return plan{desc: "docker archive " + out.Dest, file: func(ctx context.Context) (committer, string, error) {
			c, err := writeDockerArchive(ctx, s.img, filepath.Clean(out.Dest), tags)
			return c, imageID(s.img), err
		}}, nil

	case Image:
		if !out.Push {
			return planLoad(s, out, names, o)
		}
		return planPush(s, out, names, o)

	case Registry:
		return planPush(s, out, names, o)
	}
	return plan{}, fmt.Errorf("checking output %s: unknown type %q (want %s): %w", out, out.Type, joinTypes(), ErrBadOutput)
}

// Check refuses, before any work is done, the outputs no image could be written to: a
// push or a daemon load without a name, names that do not parse, and zstd layers (layers
// is the compression of the layers the caller will write, "" when unknown) in a docker
// archive. Write checks all of this again with the image in hand.
func Check(outs []Output, layers compression.Compression, opts ...Option) error {
	o := makeOptions(opts...)
	for _, out := range outs {
		names := out.Name
		if len(names) == 0 {
			names = o.tags
		}
		push := out.Type == Registry || (out.Type == Image && out.Push)
		switch {
		case push:
			if len(names) == 0 {
				return fmt.Errorf("checking output %s: pushing needs a name; give -t REGISTRY/REPO:TAG or name=: %w", out, ErrBadOutput)
			}
			if _, err := registryRefs(names, o.refOpts); err != nil {
				return fmt.Errorf("checking output %s: %w", out, err)
			}
		case out.Type == Image || (out.Type == Docker && out.Dest == ""):
			if len(names) == 0 {
				return fmt.Errorf("checking output %s: loading into the Docker daemon needs a name; give -t NAME:TAG: %w", out, ErrBadOutput)
			}
			if _, err := dockerTags(names); err != nil {
				return fmt.Errorf("checking output %s: %w", out, err)
			}
		case out.Type == Docker:
			if layers == compression.ZStd {
				return fmt.Errorf("checking output %s: zstd layers cannot go into a docker archive, which Docker before 25 cannot load; use --compression gzip, or -o type=oci: %w", out, ErrUnsupportedOutput)
			}
			if _, err := dockerTags(names); err != nil {
				return fmt.Errorf("checking output %s: %w", out, err)
			}
		}
	}
	return nil
}
