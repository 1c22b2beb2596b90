package extract

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseFrom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    From
		wantErr error
	}{
		{in: "builder:/app/server", want: From{"builder", Spec{Path: "/app/server", Dest: "/app/server"}}},
		{in: "0:/app/server:/srv/server", want: From{"0", Spec{Path: "/app/server", Dest: "/srv/server"}}},
		{in: "myapp:fat:/app/server", want: From{"myapp:fat", Spec{Path: "/app/server", Dest: "/app/server"}}},
		{in: "localhost:5000/x:y:/usr/lib/*/libc.so*", want: From{"localhost:5000/x:y", Spec{Path: "/usr/lib/*/libc.so*", Dest: "/usr/lib/*/libc.so*"}}},
		{in: "reg.io/a/b@sha256:0123abcd:/bin/sh", want: From{"reg.io/a/b@sha256:0123abcd", Spec{Path: "/bin/sh", Dest: "/bin/sh"}}},
		{in: "oci-layout:///dir:tag:/app", want: From{"oci-layout:///dir:tag", Spec{Path: "/app", Dest: "/app"}}},
		{in: "oci-layout:///dir:/app:/srv", want: From{"oci-layout:///dir", Spec{Path: "/app", Dest: "/srv"}}},
		{in: "oci-layout://./rel/dir@sha256:abc:/app/", want: From{"oci-layout://./rel/dir@sha256:abc", Spec{Path: "/app/", Dest: "/app/"}}},
		{in: "docker-archive:///tmp/img.tar:/app", want: From{"docker-archive:///tmp/img.tar", Spec{Path: "/app", Dest: "/app"}}},
		{in: "docker-daemon://myapp:fat:/app/server:/server", want: From{"docker-daemon://myapp:fat", Spec{Path: "/app/server", Dest: "/server"}}},
		{in: "b:/app/lib/:/srv/", want: From{"b", Spec{Path: "/app/lib/", Dest: "/srv/"}}},
		{in: "b:/app/./lib/.:/srv//x/../y", want: From{"b", Spec{Path: "/app/lib/", Dest: "/srv/y"}}},
		{in: "b:/app/**/*.so", want: From{"b", Spec{Path: "/app/**/*.so", Dest: "/app/**/*.so"}}},
		{in: "b:/", want: From{"b", Spec{Path: "/", Dest: "/"}}},
		{in: "b:/a/../x", want: From{"b", Spec{Path: "/x", Dest: "/x"}}},

		{in: "", wantErr: ErrBadSpec},
		{in: "builder", wantErr: ErrBadSpec},
		{in: "builder:app/server", wantErr: ErrBadSpec},
		{in: ":/app", wantErr: ErrBadSpec},
		{in: "oci-layout://:/app", wantErr: ErrBadSpec},
		{in: "oci-layout:/dir:/app", wantErr: ErrBadSpec},
		{in: "oci-layout://dir", wantErr: ErrBadSpec},
		{in: "my app:/x", wantErr: ErrBadSpec},
		{in: "b:/app/[a", wantErr: ErrBadSpec},
		{in: "b:/app/a**b", wantErr: ErrBadSpec},
		{in: "b:/app:/../x", wantErr: ErrUnsafePath},
		{in: "b:/app:/srv/../../x", wantErr: ErrUnsafePath},
		{in: "b:/../etc/passwd", wantErr: ErrUnsafePath},
		{in: "docker-image://reg.io/a:1:/app", want: From{"docker-image://reg.io/a:1", Spec{Path: "/app", Dest: "/app"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFrom(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseFrom(%q) = %+v, %v; want error %v", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFrom(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseFrom(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			again, err := ParseFrom(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("ParseFrom(%q) = %+v, %v: does not round-trip %+v", got.String(), again, err, got)
			}
		})
	}
}

// Issue 13, item 11: "http://x/y:/p" was read as source "http", path "//x/y".
func TestParseFromUnknownScheme(t *testing.T) {
	for _, in := range []string{"http://x/y:/p", "oci://dir:/app", "docker-achive:///a.tar:/app"} {
		_, err := ParseFrom(in)
		scheme, _, _ := strings.Cut(in, "://")
		if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), "unknown scheme "+scheme+"://") {
			t.Errorf("ParseFrom(%q): %v; want %v naming the scheme %s://", in, err, ErrBadSpec, scheme)
		}
	}
}

func FuzzParseFrom(f *testing.F) {
	for _, s := range []string{
		"builder:/app/server", "myapp:fat:/app/server:/srv/", "localhost:5000/x:y:/a/**/b",
		"oci-layout:///dir:tag:/app", "docker-archive://x.tar:/a:/b", "b:/app:/../x", "b:/[",
		"docker-daemon://:/", "a::/b", "a:/b:", "a:/:/", "a:/b/.:/c/.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseFrom(s)
		if err != nil {
			if !errors.Is(err, ErrBadSpec) && !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("ParseFrom(%q): error %v wraps no sentinel", s, err)
			}
			return
		}
		again, err := ParseFrom(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("ParseFrom(%q) = %+v; its String %q parses as %+v, %v", s, got, got.String(), again, err)
		}
		if got.Path[0] != '/' || got.Dest[0] != '/' || got.Source == "" {
			t.Fatalf("ParseFrom(%q) = %+v: want absolute paths and a source", s, got)
		}
	})
}
