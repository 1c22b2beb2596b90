package build

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	fstypes "github.com/tonistiigi/fsutil/types"
	"google.golang.org/protobuf/proto"
)

// ContentID names a file's content without reading it, for slim's layer cache (see
// extract.ContentIDFS): a warm build whose stage files are unchanged then moves no
// file content across the gateway, which was most of its time (BENCHMARKS.md, the
// whole job's warm row). BuildKit offers no content digest for a path,
// so the name is made of what it does offer, and given only where that is as good:
//
//   - the stage's build definition, with the session IDs that change every run
//     taken out, so that two builds that differ in anything BuildKit is told (a
//     build arg, a base image digest, a Dockerfile line) never share an ID; and
//   - the file's real path and BuildKit's stat of it: size, mode, owner, xattrs
//     and mtime to the nanosecond. BuildKit's snapshots are immutable, and a
//     rebuilt file gets the clock of its rebuild, so what the definition leaves
//     out (the build context's content, a step re-run after its cache was
//     pruned) shows in the mtime.
//
// A file whose mtime has no sub-second part gets no ID: whole-second mtimes are
// the mark of normalised timestamps (SOURCE_DATE_EPOCH, files unpacked from image
// layers or tar archives), which a changed file can share with its old self. Such
// files, and every file when the definition cannot be had, are hashed as before.
// The one case left is a file rewritten with the same size whose mtime is then
// forged back to the old nanosecond (touch -r); --no-cache reads everything.
func (f *StageFS) ContentID(name string) (string, bool) {
	real, st, err := f.resolve("contentid", name, true)
	if err != nil || !fs.FileMode(st.Mode).IsRegular() || st.ModTime%1e9 == 0 {
		return "", false
	}
	def, ok := f.definitionDigest()
	if !ok {
		return "", false
	}
	return fmt.Sprintf("buildkit-stage def=%s path=/%s size=%d mode=%o uid=%d gid=%d mtime=%d xattrs=%s",
		def, real, st.Size, st.Mode, st.Uid, st.Gid, st.ModTime, xattrsDigest(st)), true
}

// definitionDigest is computed once per stage; a failure (a daemon that returns no
// definition with its references) means no IDs, not an error.
func (f *StageFS) definitionDigest() (digest.Digest, bool) {
	f.defOnce.Do(func() {
		st, err := f.ref.ToState()
		if err != nil {
			return
		}
		def, err := st.Marshal(f.ctx)
		if err != nil {
			return
		}
		f.def, _ = stableDefinitionDigest(def.Def)
	})
	return f.def, f.def != ""
}

// stableDefinitionDigest digests an LLB definition (its marshalled ops) as it would
// be without the session IDs in its sources' attributes (local.session,
// oci.session...), which are new every run. Every op is digested again with its
// inputs' new digests, so the result changes exactly when an op other than by a
// session ID does.
func stableDefinitionDigest(ops [][]byte) (digest.Digest, error) {
	byDigest := make(map[digest.Digest]*pb.Op, len(ops))
	for _, dt := range ops {
		var op pb.Op
		if err := proto.Unmarshal(dt, &op); err != nil {
			return "", fmt.Errorf("reading the stage definition: %w", err)
		}
		byDigest[digest.FromBytes(dt)] = &op
	}
	stable := map[digest.Digest]digest.Digest{}
	var visit func(d digest.Digest, depth int) (digest.Digest, error)
	visit = func(d digest.Digest, depth int) (digest.Digest, error) {
		if s, ok := stable[d]; ok {
			return s, nil
		}
		op, ok := byDigest[d]
		if !ok || depth > len(ops) {
			return "", fmt.Errorf("reading the stage definition: op %s missing or in a cycle", d)
		}
		op = proto.Clone(op).(*pb.Op)
		for _, in := range op.Inputs {
			s, err := visit(digest.Digest(in.Digest), depth+1)
			if err != nil {
				return "", err
			}
			in.Digest = string(s)
		}
		if src := op.GetSource(); src != nil {
			for k := range src.Attrs {
				if strings.HasSuffix(k, ".session") {
					delete(src.Attrs, k)
				}
			}
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(op)
		if err != nil {
			return "", err
		}
		s := digest.FromBytes(b)
		stable[d] = s
		return s, nil
	}
	var all []string
	for d := range byDigest {
		s, err := visit(d, 0)
		if err != nil {
			return "", err
		}
		all = append(all, string(s))
	}
	slices.Sort(all)
	return digest.FromString(strings.Join(all, "\n")), nil
}

func xattrsDigest(st *fstypes.Stat) string {
	if len(st.Xattrs) == 0 {
		return "-"
	}
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(st.Xattrs)) {
		fmt.Fprintf(h, "%q=%q\n", k, st.Xattrs[k])
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:16])
}
