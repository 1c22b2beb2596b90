package output

import (
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
)

func TestParseFiles(t *testing.T) {
	for _, tt := range []struct {
		spec string
		want Output
		err  bool
	}{
		{"ex", Output{Type: Local, Dest: "ex"}, false},
		{"ex.tar", Output{Type: Tar, Dest: "ex.tar"}, false},
		{"-", Output{Type: Tar, Dest: "-"}, false},
		{"type=local,dest=ex", Output{Type: Local, Dest: "ex"}, false},
		{"type=tar,dest=files.tgzz", Output{Type: Tar, Dest: "files.tgzz"}, false},
		{"type=tar,dest=-", Output{Type: Tar, Dest: "-"}, false},
		{"type=local", Output{}, true},
		{"type=local,dest=-", Output{}, true},
		{"type=oci,dest=x", Output{}, true},
		{"type=local,dest=x,name=y", Output{}, true},
	} {
		got, err := ParseFiles(tt.spec)
		if (err != nil) != tt.err || (err == nil && (got.Type != tt.want.Type || got.Dest != tt.want.Dest)) {
			t.Errorf("ParseFiles(%q) = %+v, %v; want %+v (error %v)", tt.spec, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrBadOutput) {
			t.Errorf("ParseFiles(%q): %v is not ErrBadOutput", tt.spec, err)
		}
	}
	// The image parser takes no file types, and the file one no image types.
	if _, err := Parse("type=local,dest=x"); err == nil {
		t.Error("Parse took type=local")
	}
}

func TestCheck(t *testing.T) {
	parse := func(s string) Output {
		o, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	for _, tt := range []struct {
		name   string
		outs   []Output
		layers compression.Compression
		tags   []string
		want   error
	}{
		{"load without a name", []Output{{Type: Docker}}, compression.GZip, nil, ErrBadOutput},
		{"load with a tag", []Output{{Type: Docker}}, compression.GZip, []string{"app:1"}, nil},
		{"load zstd is the daemon's to say", []Output{{Type: Docker}}, compression.ZStd, []string{"app:1"}, nil},
		{"push without a name", []Output{{Type: Registry}}, compression.GZip, nil, ErrBadOutput},
		{"image push=true without a name", []Output{parse("type=image,push=true")}, compression.GZip, nil, ErrBadOutput},
		{"push by digest", []Output{{Type: Registry}}, compression.GZip, []string{"r.example/a@sha256:0000000000000000000000000000000000000000000000000000000000000000"}, ErrBadOutput},
		{"zstd in a docker archive", []Output{parse("type=docker,dest=a.tar")}, compression.ZStd, nil, ErrUnsupportedOutput},
		{"gzip in a docker archive", []Output{parse("type=docker,dest=a.tar")}, compression.GZip, nil, nil},
		{"kept layers in a docker archive", []Output{parse("type=docker,dest=a.tar")}, "", nil, nil},
		{"oci", []Output{parse("type=oci,dest=x")}, compression.ZStd, nil, nil},
	} {
		err := Check(tt.outs, tt.layers, WithTags(tt.tags))
		if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
	}
}
