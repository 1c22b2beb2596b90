package job

import (
	"reflect"
	"testing"
	"testing/fstest"
)

func TestZoneFiles(t *testing.T) {
	zone := &fstest.MapFile{Data: []byte("TZif2"), Mode: 0o644}
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: 0o777 | 1<<27} // fs.ModeSymlink
	}
	base := fstest.MapFS{
		"usr/share/zoneinfo/Europe/Berlin": zone,
		"usr/share/zoneinfo/Asia/Tokyo":    zone,
		"usr/share/zoneinfo/Etc/UTC":       zone,
		"opt/zi/Mars":                      zone,
		"custom/zone":                      zone,
		"etc/passwd":                       zone,
	}
	with := func(extra fstest.MapFS) fstest.MapFS {
		m := fstest.MapFS{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		env  []string
		want []string
	}{
		{"no TZ, no localtime", base, nil, nil},
		{"TZ names a zone", base, []string{"TZ=Europe/Berlin"}, []string{"/usr/share/zoneinfo/Europe/Berlin"}},
		{"the last TZ counts", base, []string{"TZ=Europe/Berlin", "TZ=:Asia/Tokyo"}, []string{"/usr/share/zoneinfo/Asia/Tokyo"}},
		{"a zone the source lacks", base, []string{"TZ=Europe/Nowhere"}, nil},
		{"POSIX rule", base, []string{"TZ=CET-1CEST"}, nil},
		{"out of the database", base, []string{"TZ=../../../etc/passwd"}, nil},
		{"TZDIR", base, []string{"TZDIR=/opt/zi", "TZ=Mars"}, []string{"/opt/zi/Mars"}},
		{"absolute TZ", base, []string{"TZ=:/custom/zone"}, []string{"/custom/zone"}},
		{"localtime UTC", with(fstest.MapFS{"etc/localtime": link("/usr/share/zoneinfo/Etc/UTC")}), nil, nil},
		{"localtime Tokyo", with(fstest.MapFS{"etc/localtime": link("/usr/share/zoneinfo/Asia/Tokyo"), "etc/timezone": zone}), nil,
			[]string{"/etc/localtime", "/etc/timezone"}},
		{"localtime a copy", with(fstest.MapFS{"etc/localtime": zone}), nil, []string{"/etc/localtime"}},
	} {
		var got []string
		for _, z := range zoneFiles(tc.fsys, tc.env) {
			got = append(got, z[0])
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: zoneFiles = %q, want %q", tc.name, got, tc.want)
		}
	}
}
