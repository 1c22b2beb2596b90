package output

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slim-dev/slim/internal/tempfile"
)

// An OCI layout directory is a store, as skopeo, umoci and BuildKit's local exporter
// treat it: writing adds an image and leaves the others. Writers take an exclusive lock
// on the layout (lockDir) from before they look at it until index.json is replaced, so
// concurrent runs into one layout all land. Blobs are named by digest and written
// once, under temporary names then renamed; one already there is kept when its size
// matches (another image's layer, written and digest-checked by the run that put it
// there). index.json is replaced whole (temporary name, rename), keeping every entry
// it had but the ones named by a tag this write sets. Blobs that no entry needs any
// more are left, as in other stores (`umoci gc` removes them).

// layoutStore is an image being added to a layout directory: its blobs are in place,
// the lock is held, and commit publishes it in index.json.
type layoutStore struct {
	dest    string
	c       *layoutContents
	unlock  func()
	created bool     // dest did not exist before this write
	marked  bool     // this write put the oci-layout file in
	parents []string // parents of dest this write created
	added   []string // blobs this write put in
}

func writeLayoutStore(ctx context.Context, s subject, dest string, annotations []map[string]string) (committer, v1.Hash, error) {
	fail := func(err error) (committer, v1.Hash, error) {
		return nil, v1.Hash{}, fmt.Errorf("writing oci layout %s: %w", dest, err)
	}
	if err := checkLayoutDir(dest); err != nil {
		return fail(err)
	}
	c, err := collectLayout(s, annotations)
	if err != nil {
		return fail(err)
	}
	st, err := openStore(ctx, dest)
	if err != nil {
		return fail(err)
	}
	st.c = c
	if err := st.addBlobs(ctx); err != nil {
		st.abort()
		return fail(err)
	}
	return st, c.top.Digest, nil
}

// openStore creates dest when missing and locks it. The lock is on the directory
// itself, so it adds no file to the layout; a directory replaced or removed while this
// run waited for it (replace=true, or a failed first write) is locked again under its
// new identity.
func openStore(ctx context.Context, dest string) (*layoutStore, error) {
	parents, err := makeParents(dest)
	if err != nil {
		return nil, err
	}
	st := &layoutStore{dest: dest, parents: parents}
	for {
		err := os.Mkdir(dest, 0o755)
		st.created = err == nil
		if err != nil && !errors.Is(err, fs.ErrExist) {
			removeParents(parents)
			return nil, err
		}
		unlock, err := lockDir(ctx, dest)
		if errors.Is(err, errLockMoved) {
			continue
		}
		if err != nil {
			st.removeNew()
			return nil, err
		}
		st.unlock = unlock
		break
	}
	// Checked again under the lock: another run may have filled it meanwhile.
	if err := checkLayoutDir(st.dest); err != nil {
		st.unlock()
		return nil, err
	}
	// The oci-layout file goes in first: a run killed before its index.json leaves a
	// layout the next write accepts, not a directory it must refuse.
	marker := filepath.Join(dest, "oci-layout")
	if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
		if err := tempfile.WriteFunc(marker, func(w io.Writer) error {
			_, err := io.WriteString(w, ociLayoutFile)
			return err
		}); err != nil {
			st.abort()
			return nil, err
		}
		st.marked = true
	}
	blobs := filepath.Join(dest, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		st.abort()
		return nil, err
	}
	tempfile.RemoveDead(blobs)
	tempfile.RemoveDead(dest)
	return st, nil
}

func (st *layoutStore) addBlobs(ctx context.Context) error {
	dir := filepath.Join(st.dest, "blobs", "sha256")
	for _, b := range st.c.blobs {
		p := filepath.Join(dir, b.digest.Hex)
		fi, err := os.Lstat(p)
		if err == nil && fi.Mode().IsRegular() && fi.Size() == b.size {
			continue
		}
		// A blob of the wrong size (a crash of some other tool, a truncated copy) is
		// replaced by the verified one this write brings.
		existed := err == nil
		if err := tempfile.WriteFunc(p, func(w io.Writer) error { return writeBlob(ctx, w, b) }); err != nil {
			return err
		}
		if !existed {
			st.added = append(st.added, p)
		}
	}
	return syncDir(dir)
}

// commit adds the image to index.json and releases the layout.
func (st *layoutStore) commit() error {
	defer st.unlock()
	err := st.writeIndex()
	if err != nil {
		st.undo()
		return fmt.Errorf("writing oci layout %s: %w", st.dest, err)
	}
	return nil
}

func (st *layoutStore) writeIndex() error {
	idx, err := readIndex(st.dest)
	if err != nil {
		return err
	}
	b, err := mergeIndex(idx, st.c.entries)
	if err != nil {
		return err
	}
	if err := tempfile.WriteFunc(filepath.Join(st.dest, "index.json"), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}); err != nil {
		return err
	}
	return syncDir(st.dest)
}

func (st *layoutStore) abort() {
	st.undo()
	st.unlock()
}

// undo takes out what this write added; under the lock nobody else can have come to
// depend on it. os.Remove only takes empty directories, so a dest this write created
// goes only when it holds nothing else.
func (st *layoutStore) undo() {
	for _, p := range st.added {
		_ = os.Remove(p)
	}
	st.added = nil
	if st.marked {
		if _, err := os.Stat(filepath.Join(st.dest, "index.json")); errors.Is(err, fs.ErrNotExist) {
			_ = os.Remove(filepath.Join(st.dest, "oci-layout"))
		}
	}
	st.removeNew()
}

// removeNew removes dest when this write created it and it holds nothing.
func (st *layoutStore) removeNew() {
	if !st.created {
		return
	}
	_ = os.Remove(filepath.Join(st.dest, "blobs", "sha256"))
	_ = os.Remove(filepath.Join(st.dest, "blobs"))
	_ = os.Remove(st.dest)
	removeParents(st.parents)
}

// layoutIndex is index.json as found: its other fields and entries are kept as they
// were written, whoever wrote them.
type layoutIndex struct {
	fields  map[string]json.RawMessage
	entries []json.RawMessage
}

func readIndex(dir string) (*layoutIndex, error) {
	idx := &layoutIndex{fields: map[string]json.RawMessage{}}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, err
	}
	// A layout whose index cannot be read is not overwritten: that would lose every
	// image in it.
	if err := json.Unmarshal(b, &idx.fields); err != nil {
		return nil, fmt.Errorf("reading index.json: %v (fix or remove it, or write with replace=true): %w", err, ErrBadOutput)
	}
	if m, ok := idx.fields["manifests"]; ok && string(m) != "null" {
		if err := json.Unmarshal(m, &idx.entries); err != nil {
			return nil, fmt.Errorf("reading index.json: manifests: %v (fix or remove it, or write with replace=true): %w", err, ErrBadOutput)
		}
	}
	return idx, nil
}

// mergeIndex drops the entries named by a tag one of ours sets (an untagged write
// replaces nothing, but is not added twice) and appends ours.
func mergeIndex(idx *layoutIndex, ours []v1.Descriptor) ([]byte, error) {
	tags := map[string]bool{}
	for _, d := range ours {
		if t := d.Annotations[annotationRefName]; t != "" {
			tags[t] = true
		}
	}
	var keep []json.RawMessage
	for _, raw := range idx.entries {
		var d v1.Descriptor
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("reading index.json: an entry: %v: %w", err, ErrBadOutput)
		}
		t := d.Annotations[annotationRefName]
		if tags[t] || (t == "" && len(tags) == 0 && d.Digest == ours[0].Digest) {
			continue
		}
		keep = append(keep, raw)
	}
	for _, d := range ours {
		raw, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("encoding index.json: %w", err)
		}
		keep = append(keep, raw)
	}
	m, err := json.Marshal(keep)
	if err != nil {
		return nil, fmt.Errorf("encoding index.json: %w", err)
	}
	idx.fields["manifests"] = m
	idx.fields["schemaVersion"] = json.RawMessage("2")
	if _, ok := idx.fields["mediaType"]; !ok {
		idx.fields["mediaType"] = json.RawMessage(`"application/vnd.oci.image.index.v1+json"`)
	}
	return json.Marshal(idx.fields)
}

// syncDir makes the renames in dir durable before what depends on them is published.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
