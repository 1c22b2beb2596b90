package extract

import (
	"errors"
	"testing"
	"testing/fstest"
)

func TestLookupUser(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"etc/passwd": file("# comment\n\nroot:x:0:0:root:/root:/bin/sh\n+nis\nbroken:x\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nbad:x:a:1::/:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n", 0o644),
		"etc/group":  file("root:x:0:\nnonroot:x:65532:\nstaff:x:50:app\nbadg:x:-1:\n", 0o644),
	}
	tests := []struct {
		name     string
		uid, gid int
		wantErr  error
	}{
		{name: "root", uid: 0, gid: 0},
		{name: "nonroot", uid: 65532, gid: 65532},
		{name: "app", uid: 1000, gid: 1001},
		{name: "1000", uid: 1000, gid: 1001},
		{name: "4242", uid: 4242, gid: 0}, // numeric and unlisted: runs as group 0
		{name: "nobody", wantErr: ErrNotFound},
		{name: "broken", wantErr: ErrNotFound},
		{name: "bad", wantErr: ErrBadSpec},
		{name: "", wantErr: ErrNotFound},
	}
	for _, tt := range tests {
		uid, gid, err := LookupUser(fsys, tt.name)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("LookupUser(%q) = %d, %d, %v; want error %v", tt.name, uid, gid, err, tt.wantErr)
			}
			continue
		}
		if err != nil || uid != tt.uid || gid != tt.gid {
			t.Errorf("LookupUser(%q) = %d, %d, %v; want %d, %d", tt.name, uid, gid, err, tt.uid, tt.gid)
		}
	}

	groups := []struct {
		name    string
		gid     int
		wantErr error
	}{
		{name: "root", gid: 0},
		{name: "staff", gid: 50},
		{name: "65532", gid: 65532},
		{name: "777", gid: 777},
		{name: "wheel", wantErr: ErrNotFound},
		{name: "badg", wantErr: ErrBadSpec},
	}
	for _, tt := range groups {
		gid, err := LookupGroup(fsys, tt.name)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("LookupGroup(%q) = %d, %v; want error %v", tt.name, gid, err, tt.wantErr)
			}
			continue
		}
		if err != nil || gid != tt.gid {
			t.Errorf("LookupGroup(%q) = %d, %v; want %d", tt.name, gid, err, tt.gid)
		}
	}

	empty := fstest.MapFS{}
	if _, _, err := LookupUser(empty, "root"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupUser without /etc/passwd: %v, want ErrNotFound", err)
	}
	if uid, gid, err := LookupUser(empty, "65532"); err != nil || uid != 65532 || gid != 0 {
		t.Errorf("LookupUser(65532) without /etc/passwd = %d, %d, %v", uid, gid, err)
	}
	if _, err := LookupGroup(empty, "root"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupGroup without /etc/group: %v, want ErrNotFound", err)
	}
}
