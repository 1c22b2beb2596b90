package extract

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// LookupUser finds a user in the source's /etc/passwd by name, or by number (a numeric
// USER need not be listed: it then runs with group 0, as runc does). It gives the uid and
// the primary gid; an unknown name or a missing /etc/passwd wraps ErrNotFound.
func LookupUser(fsys fs.FS, name string) (uid, gid int, err error) {
	id, numeric := parseID(name)
	var found []string
	err = scanDB(fsys, "etc/passwd", 7, func(f []string) bool {
		if f[0] == name || numeric && f[2] == strconv.Itoa(id) {
			found = f
			return true
		}
		return false
	})
	if err != nil && !(numeric && found == nil) {
		return 0, 0, fmt.Errorf("looking up user %q: %w", name, err)
	}
	if found == nil {
		if numeric {
			return id, 0, nil
		}
		return 0, 0, fmt.Errorf("looking up user %q: not in /etc/passwd: %w", name, ErrNotFound)
	}
	uid, uerr := strconv.Atoi(found[2])
	gid, gerr := strconv.Atoi(found[3])
	if uerr != nil || gerr != nil || uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("looking up user %q: bad uid or gid in /etc/passwd line %q: %w", name, strings.Join(found, ":"), ErrBadSpec)
	}
	return uid, gid, nil
}

// LookupGroup finds a group in the source's /etc/group by name or number; an unknown
// name or a missing /etc/group wraps ErrNotFound.
func LookupGroup(fsys fs.FS, name string) (gid int, err error) {
	id, numeric := parseID(name)
	var found []string
	err = scanDB(fsys, "etc/group", 4, func(f []string) bool {
		if f[0] == name || numeric && f[2] == strconv.Itoa(id) {
			found = f
			return true
		}
		return false
	})
	if err != nil && !(numeric && found == nil) {
		return 0, fmt.Errorf("looking up group %q: %w", name, err)
	}
	if found == nil {
		if numeric {
			return id, nil
		}
		return 0, fmt.Errorf("looking up group %q: not in /etc/group: %w", name, ErrNotFound)
	}
	gid, gerr := strconv.Atoi(found[2])
	if gerr != nil || gid < 0 {
		return 0, fmt.Errorf("looking up group %q: bad gid in /etc/group line %q: %w", name, strings.Join(found, ":"), ErrBadSpec)
	}
	return gid, nil
}

func parseID(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// scanDB calls match for every well-formed line of a colon-separated database with at
// least min fields, until match returns true. Comments, blank lines and NIS "+"/"-" lines
// are skipped, as glibc's files backend does with lines it cannot parse.
func scanDB(fsys fs.FS, name string, min int, match func([]string) bool) error {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("reading /%s: %w: %w", name, ErrNotFound, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < min {
			continue
		}
		if match(f) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading /%s: %w", name, err)
	}
	return nil
}
