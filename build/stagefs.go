package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	digest "github.com/opencontainers/go-digest"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// chunkSize bounds one ReadFile round trip: large files stream through in
// pieces this big, and it stays well under BuildKit's 16 MiB message limit.
const chunkSize = 4 << 20

// maxSymlinks is Linux's limit on symlinks followed in one lookup (ELOOP).
const maxSymlinks = 40

// StageFS is a solved stage as a read-only file system. It implements
// fs.FS, fs.StatFS, fs.ReadDirFS, fs.ReadFileFS and fs.ReadLinkFS over the
// BuildKit reference, so only the files read cross from the daemon to slim.
// It is valid only inside the Solve callback that received it.
//
// Symlinks are resolved inside the stage: absolute targets start at the
// stage root and ".." stops there, as in a container of the stage.
type StageFS struct {
	// Stage is the Dockerfile stage this is the result of.
	Stage Stage
	// Platform is the platform the stage was solved for ("linux/amd64").
	Platform string
	// ConfigJSON is the stage's image config as BuildKit made it (env,
	// entrypoint, user...), or nil when BuildKit returned none.
	ConfigJSON []byte

	ctx context.Context
	ref gateway.Reference

	mu    sync.Mutex
	root  *fstypes.Stat
	dirs  map[string][]*fstypes.Stat // real dir path ("" = root) → sorted entries
	pages pageCache

	defOnce sync.Once
	def     digest.Digest // see definitionDigest
}

var (
	_ fs.ReadLinkFS  = (*StageFS)(nil)
	_ fs.StatFS      = (*StageFS)(nil)
	_ fs.ReadDirFS   = (*StageFS)(nil)
	_ fs.ReadFileFS  = (*StageFS)(nil)
	_ io.ReaderAt    = (*stageFile)(nil)
	_ io.Seeker      = (*stageFile)(nil)
	_ fs.ReadDirFile = (*stageDir)(nil)
)

func newStageFS(ctx context.Context, st Stage, platform string, ref gateway.Reference, config []byte) *StageFS {
	return &StageFS{Stage: st, Platform: platform, ConfigJSON: config, ctx: ctx, ref: ref, dirs: map[string][]*fstypes.Stat{}, pages: pageCache{m: map[pageKey][]byte{}}}
}

// Config is the stage's image config in go-containerregistry's form.
func (f *StageFS) Config() (*v1.ConfigFile, error) {
	if len(f.ConfigJSON) == 0 {
		return &v1.ConfigFile{}, nil
	}
	cf, err := v1.ParseConfigFile(strings.NewReader(string(f.ConfigJSON)))
	if err != nil {
		return nil, fmt.Errorf("parsing image config of stage %s: %w", f.Stage.Ref(), err)
	}
	return cf, nil
}

func (f *StageFS) rootStat() (*fstypes.Stat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.root != nil {
		return f.root, nil
	}
	st, err := f.ref.StatFile(f.ctx, gateway.StatRequest{Path: "/"})
	if err != nil {
		return nil, err
	}
	f.root = st
	return st, nil
}

// list returns the entries of a directory given by its real path (no
// symlinks in it), cached: the reference is immutable.
func (f *StageFS) list(dir string) ([]*fstypes.Stat, error) {
	f.mu.Lock()
	ents, ok := f.dirs[dir]
	f.mu.Unlock()
	if ok {
		return ents, nil
	}
	ents, err := f.ref.ReadDir(f.ctx, gateway.ReadDirRequest{Path: "/" + dir})
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		// The daemon reports paths relative to the listed directory.
		e.Path = path.Base(e.Path)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Path < ents[j].Path })
	f.mu.Lock()
	f.dirs[dir] = ents
	f.mu.Unlock()
	return ents, nil
}

func (f *StageFS) lookup(dir, name string) (*fstypes.Stat, error) {
	ents, err := f.list(dir)
	if err != nil {
		return nil, err
	}
	i := sort.Search(len(ents), func(i int) bool { return ents[i].Path >= name })
	if i < len(ents) && ents[i].Path == name {
		return ents[i], nil
	}
	return nil, fs.ErrNotExist
}

// resolve walks name component by component from the root, following
// symlinks (the last one only if followLast), and returns the real path
// ("." for the root) and its stat.
// Not internal/rootfs.Resolve: it walks the gateway's listings, keeping the stat.
func (f *StageFS) resolve(op, name string, followLast bool) (string, *fstypes.Stat, error) {
	if !fs.ValidPath(name) {
		return "", nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	fail := func(err error) (string, *fstypes.Stat, error) {
		return "", nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	var comps []string
	if name != "." {
		comps = strings.Split(name, "/")
	}
	cur := "" // real path of the directory reached so far; "" is the root
	var last *fstypes.Stat
	links := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			last = nil
			continue
		case "..":
			// ".." at the root stays at the root, as in a chroot.
			if i := strings.LastIndexByte(cur, '/'); i >= 0 {
				cur = cur[:i]
			} else {
				cur = ""
			}
			last = nil
			continue
		}
		st, err := f.lookup(cur, c)
		if err != nil {
			return fail(err)
		}
		mode := fs.FileMode(st.Mode)
		if mode&fs.ModeSymlink != 0 && (len(comps) > 0 || followLast) {
			links++
			if links > maxSymlinks {
				return fail(syscall.ELOOP)
			}
			t := st.Linkname
			if strings.HasPrefix(t, "/") {
				cur = ""
			}
			comps = append(strings.Split(t, "/"), comps...)
			last = nil
			continue
		}
		if len(comps) > 0 && !mode.IsDir() {
			return fail(syscall.ENOTDIR)
		}
		cur = path.Join(cur, c)
		last = st
	}
	if cur == "" {
		cur = "."
	}
	if last == nil {
		// Reached through ".", ".." or a symlink to a directory: stat the
		// real path itself.
		var err error
		if cur == "." {
			last, err = f.rootStat()
		} else {
			dir := path.Dir(cur)
			if dir == "." {
				dir = ""
			}
			last, err = f.lookup(dir, path.Base(cur))
		}
		if err != nil {
			return fail(err)
		}
	}
	return cur, last, nil
}

// Open opens name, following symlinks inside the stage.
func (f *StageFS) Open(name string) (fs.File, error) {
	real, st, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	info := newFileInfo(path.Base(name), st)
	if info.IsDir() {
		return &stageDir{fs: f, real: real, name: name, info: info}, nil
	}
	return &stageFile{fs: f, real: real, name: name, info: info}, nil
}

// Stat follows symlinks, as os.Stat does.
func (f *StageFS) Stat(name string) (fs.FileInfo, error) {
	_, st, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return newFileInfo(path.Base(name), st), nil
}

// Lstat does not follow a symlink in the last component.
func (f *StageFS) Lstat(name string) (fs.FileInfo, error) {
	_, st, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return newFileInfo(path.Base(name), st), nil
}

// ReadLink returns a symlink's target as stored (not resolved).
func (f *StageFS) ReadLink(name string) (string, error) {
	_, st, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if fs.FileMode(st.Mode)&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return st.Linkname, nil
}

// ReadDir lists a directory sorted by name, following symlinks to it.
func (f *StageFS) ReadDir(name string) ([]fs.DirEntry, error) {
	real, st, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !fs.FileMode(st.Mode).IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: syscall.ENOTDIR}
	}
	return f.entries(real, name)
}

func (f *StageFS) entries(real, name string) ([]fs.DirEntry, error) {
	if real == "." {
		real = ""
	}
	ents, err := f.list(real)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, len(ents))
	for i, e := range ents {
		out[i] = fs.FileInfoToDirEntry(newFileInfo(e.Path, e))
	}
	return out, nil
}

// ReadFile reads a whole file; meant for small files (configs, passwd),
// large ones should be streamed through Open.
func (f *StageFS) ReadFile(name string) ([]byte, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return io.ReadAll(file)
}

// fileInfo is an fs.FileInfo over BuildKit's stat; Sys returns the
// *fstypes.Stat, which has the uid, gid, xattrs and device numbers.
type fileInfo struct {
	name string
	st   *fstypes.Stat
}

func newFileInfo(name string, st *fstypes.Stat) fileInfo {
	if name == "." || name == "/" {
		name = "."
	}
	return fileInfo{name: name, st: st}
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.st.Size }
func (i fileInfo) Mode() fs.FileMode  { return fs.FileMode(i.st.Mode) }
func (i fileInfo) ModTime() time.Time { return time.Unix(0, i.st.ModTime) }
func (i fileInfo) IsDir() bool        { return i.Mode().IsDir() }
func (i fileInfo) Sys() any           { return i.st }

// stageFile streams a file's content in chunks, and also reads at offsets
// (ELF parsing reads headers and sections, not the whole file).
//
// Every fetch is a gateway round trip, so a sequential reader is served from a
// window that starts small (a 4-byte magic sniff must not pull 4 MiB across) and
// doubles up to fetchWindow, and from the second fetch on the next windows are
// fetched while the reader consumes this one, a few at once: one round trip
// leaves both the daemon and slim idle half the time.
type stageFile struct {
	fs     *StageFS
	real   string
	name   string
	info   fileInfo
	off    int64
	buf    []byte
	bufO   int64 // offset of buf[0] in the file
	window int   // size of the next sequential fetch
	ahead  []*prefetch
	aheadE int64 // end of the last window fetched ahead
}

// prefetch is one window being fetched in the background.
type prefetch struct {
	off  int64
	done chan struct{}
	b    []byte
	err  error
}

const (
	// firstWindow is the first fetch of a sequential read: enough for any magic
	// number, a #! line or a small config file in one round trip.
	firstWindow = pageSize
	// fetchWindow and fetchDepth shape a long sequential read: windows this big,
	// this many in flight.
	fetchWindow = 1 << 20
	fetchDepth  = 4
)

func (s *stageFile) Stat() (fs.FileInfo, error) { return s.info, nil }
func (s *stageFile) Close() error               { s.buf, s.ahead = nil, nil; return nil }

func (s *stageFile) Read(p []byte) (int, error) {
	if !s.info.Mode().IsRegular() {
		return 0, &fs.PathError{Op: "read", Path: s.name, Err: fs.ErrInvalid}
	}
	if s.off >= s.info.Size() {
		return 0, io.EOF
	}
	if s.off < s.bufO || s.off >= s.bufO+int64(len(s.buf)) {
		sequential := len(s.buf) > 0 && s.off == s.bufO+int64(len(s.buf))
		if err := s.fill(len(p), sequential); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.off-s.bufO:])
	s.off += int64(n)
	return n, nil
}

// fill makes buf hold s.off: from a window fetched ahead when the reader went
// on where it was, else by a fetch of its own.
func (s *stageFile) fill(want int, sequential bool) error {
	if len(s.ahead) > 0 && s.ahead[0].off == s.off {
		a := s.ahead[0]
		s.ahead = s.ahead[1:]
		<-a.done
		if a.err != nil {
			s.ahead = nil
			return a.err
		}
		s.buf, s.bufO = a.b, a.off
	} else {
		s.ahead = nil // a seek elsewhere: the windows ahead are dropped
		if !sequential {
			s.window = firstWindow
		}
		if b, ok := s.fs.pages.get(pageKey{s.real, s.off / pageSize}); ok {
			// Read before, through this or another open (a sniff, then the packer).
			s.buf, s.bufO = b, s.off/pageSize*pageSize
		} else {
			n := min(int64(max(want, s.window)), s.info.Size()-s.off)
			b, err := s.fetch(s.off, int(n))
			if err != nil {
				return err
			}
			s.buf, s.bufO = b, s.off
			if !sequential {
				s.fs.pages.putSpan(s.real, s.off, b, s.info.Size())
			}
		}
		s.aheadE = s.bufO + int64(len(s.buf))
		if !sequential {
			return nil // maybe a sniff: fetch ahead only once the reader comes back
		}
	}
	for len(s.ahead) < fetchDepth && s.aheadE < s.info.Size() {
		s.window = min(2*s.window, fetchWindow)
		a := &prefetch{off: s.aheadE, done: make(chan struct{})}
		n := int(min(int64(s.window), s.info.Size()-a.off))
		go func() {
			defer close(a.done)
			a.b, a.err = s.fetch(a.off, n)
		}()
		s.ahead = append(s.ahead, a)
		s.aheadE += int64(n)
	}
	return nil
}

func (s *stageFile) fetch(off int64, n int) ([]byte, error) {
	b, err := s.fs.ref.ReadFile(s.fs.ctx, gateway.ReadRequest{
		Filename: "/" + s.real,
		Range:    &gateway.FileRange{Offset: int(off), Length: n},
	})
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: s.name, Err: err}
	}
	if len(b) == 0 && n > 0 {
		return nil, &fs.PathError{Op: "read", Path: s.name, Err: io.ErrUnexpectedEOF}
	}
	return b, nil
}

// ReadAt serves small reads (ELF headers, sections) through the stage's page
// cache and streams large ones. It is safe for concurrent use.
func (s *stageFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: s.name, Err: fs.ErrInvalid}
	}
	size := s.info.Size()
	if off >= size {
		return 0, io.EOF
	}
	if len(p) <= smallRead {
		return s.readPages(p, off)
	}
	total := 0
	for total < len(p) {
		pos := off + int64(total)
		if pos >= size {
			return total, io.EOF
		}
		n := min(len(p)-total, chunkSize, int(size-pos))
		b, err := s.fetch(pos, n)
		if err != nil {
			return total, err
		}
		total += copy(p[total:], b)
	}
	return total, nil
}

// readPages copies p from the pages that hold it, fetching the ones not cached
// in one round trip.
func (s *stageFile) readPages(p []byte, off int64) (int, error) {
	size := s.info.Size()
	end := min(off+int64(len(p)), size)
	first, last := off/pageSize, (end-1)/pageSize
	got := make([][]byte, last-first+1)
	lo, hi := int64(-1), int64(-1) // the span of pages missing from the cache
	for n := first; n <= last; n++ {
		if b, ok := s.fs.pages.get(pageKey{s.real, n}); ok {
			got[n-first] = b
			continue
		}
		if lo < 0 {
			lo = n
		}
		hi = n
	}
	if lo >= 0 {
		start := lo * pageSize
		want := min((hi+1)*pageSize, size) - start
		b, err := s.fetch(start, int(want))
		if err != nil {
			return 0, err
		}
		if int64(len(b)) != want {
			return 0, &fs.PathError{Op: "read", Path: s.name, Err: io.ErrUnexpectedEOF}
		}
		s.fs.pages.putSpan(s.real, start, b, size)
		for n := lo; n <= hi; n++ {
			got[n-first] = b[(n-lo)*pageSize : min((n-lo+1)*pageSize, want)]
		}
	}
	total := 0
	for i, b := range got {
		from := int64(0)
		if i == 0 {
			from = off - first*pageSize
		}
		total += copy(p[total:], b[from:])
	}
	if total < len(p) {
		return total, io.EOF
	}
	return total, nil
}

func (s *stageFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.off
	case io.SeekEnd:
		offset += s.info.Size()
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	s.off = offset
	return offset, nil
}

type stageDir struct {
	fs   *StageFS
	real string
	name string
	info fileInfo
	ents []fs.DirEntry
	read bool
}

func (d *stageDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *stageDir) Close() error               { return nil }
func (d *stageDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: syscall.EISDIR}
}

func (d *stageDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		ents, err := d.fs.entries(d.real, d.name)
		if err != nil {
			return nil, err
		}
		d.ents, d.read = ents, true
	}
	if n <= 0 {
		ents := d.ents
		d.ents = nil
		return ents, nil
	}
	if len(d.ents) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.ents))
	ents := d.ents[:n]
	d.ents = d.ents[n:]
	return ents, nil
}

const (
	// pageSize is the unit of the small reads a stage file system keeps. ELF
	// parsing and magic sniffs read a few bytes here and there (the file header,
	// the program headers, the section headers at the end), often through
	// separate opens of one file, and each read is otherwise a gateway round trip.
	pageSize = 64 << 10
	// maxPages bounds the cache: 4 MiB per stage.
	maxPages = 64
	// smallRead is the largest ReadAt served through pages; larger ones stream.
	smallRead = 4 * pageSize
)

type pageKey struct {
	path string // real path
	n    int64  // page number
}

// pageCache keeps the pages of a stage's files read last, evicting the oldest.
// The reference is immutable, so a page never goes stale.
type pageCache struct {
	mu    sync.Mutex
	m     map[pageKey][]byte
	order []pageKey
}

func (c *pageCache) get(k pageKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[k]
	return b, ok
}

// putSpan keeps the whole pages of b, the content of the file from off, and the
// last page when b reaches the file's end. Pages b only partly covers are not kept.
func (c *pageCache) putSpan(path string, off int64, b []byte, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := (off + pageSize - 1) / pageSize; ; n++ {
		from := n*pageSize - off
		to := from + pageSize
		if from >= int64(len(b)) {
			return
		}
		if to > int64(len(b)) {
			if off+int64(len(b)) != size {
				return
			}
			to = int64(len(b))
		}
		k := pageKey{path, n}
		if _, ok := c.m[k]; ok {
			continue
		}
		if len(c.order) >= maxPages {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.m[k] = b[from:to:to]
		c.order = append(c.order, k)
	}
}
