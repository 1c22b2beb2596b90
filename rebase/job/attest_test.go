package job

import (
	"errors"
	"testing"

	"github.com/slim-dev/slim/tarball/output"
)

func TestResolveAttest(t *testing.T) {
	on, off := true, false
	oci := output.Output{Type: output.OCI, Dest: "out"}
	reg := output.Output{Type: output.Registry}
	push := output.Output{Type: output.Image, Push: true}
	archive := output.Output{Type: output.Docker, Dest: "a.tar"}
	load := output.Output{Type: output.Docker}
	for _, tc := range []struct {
		name             string
		outs             []output.Output
		sbom, provenance *bool
		want             Attest
		wantErr          error
	}{
		{"oci: off by default (umoci)", []output.Output{oci}, nil, nil, Attest{}, nil},
		{"registry by default", []output.Output{reg}, nil, nil, Attest{SBOM: true, Provenance: true}, nil},
		{"image push by default", []output.Output{push}, nil, nil, Attest{SBOM: true, Provenance: true}, nil},
		{"oci and registry: off by default", []output.Output{oci, reg}, nil, nil, Attest{}, nil},
		{"oci and registry, asked", []output.Output{oci, reg}, &on, &on, Attest{SBOM: true, Provenance: true}, nil},
		{"turned off", []output.Output{reg}, &off, &off, Attest{}, nil},
		{"sbom off only", []output.Output{reg}, &off, nil, Attest{Provenance: true}, nil},
		{"oci, sbom only asked", []output.Output{oci}, &on, nil, Attest{SBOM: true}, nil},
		{"docker archive: off", []output.Output{archive}, nil, nil, Attest{}, nil},
		{"load: off", []output.Output{load}, nil, nil, Attest{}, nil},
		{"oci and archive: off", []output.Output{oci, archive}, nil, nil, Attest{}, nil},
		{"no output: off", nil, nil, nil, Attest{}, nil},
		{"docker archive, off asked", []output.Output{archive}, &off, &off, Attest{}, nil},
		{"docker archive, sbom asked", []output.Output{archive}, &on, nil, Attest{}, ErrAttestOutput},
		{"load, provenance asked", []output.Output{load}, nil, &on, Attest{}, ErrAttestOutput},
		{"oci and archive, sbom asked", []output.Output{oci, archive}, &on, nil, Attest{}, ErrAttestOutput},
		{"oci, asked", []output.Output{oci}, &on, &on, Attest{SBOM: true, Provenance: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveAttest(tc.outs, tc.sbom, tc.provenance)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("ResolveAttest = %+v, %v; want %+v, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
