package main

import (
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/internal/tempfile"
	"github.com/slim-dev/slim/tarball"
	"github.com/slim-dev/slim/tarball/output"
)

// outputFlags are the buildx-shaped output flags shared by every command that writes an
// image: -o, -t, --push, --load.
type outputFlags struct {
	outputs []string
	tags    []string
	push    bool
	load    bool
	// iidfile and metadataFile are buildx's --iidfile and --metadata-file.
	iidfile      string
	metadataFile string

	parsed []output.Output
}

func (f *outputFlags) register(fl *pflag.FlagSet) {
	fl.StringArrayVarP(&f.outputs, "output", "o", nil, "output: type=oci,dest=DIR|FILE.tar; type=docker,dest=FILE; type=registry,name=REF; oci-layout://DIR; docker-archive://FILE; or a bare DIR (an OCI layout) (repeatable)")
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, "name the result (repeatable): pushed with --push, loaded with --load, recorded in archives")
	fl.BoolVar(&f.push, "push", false, "push the result to the registry of every -t tag")
	fl.BoolVar(&f.load, "load", false, "load the result into the Docker daemon")
	fl.StringVar(&f.iidfile, "iidfile", "", "write the image ID (its config digest; an index's digest) to this file, as buildx does")
	fl.StringVar(&f.metadataFile, "metadata-file", "", "write the result's metadata as JSON to this file, with buildx's keys (containerimage.digest, containerimage.config.digest, containerimage.descriptor, image.name)")
}

// writeIDFiles writes --iidfile and --metadata-file for subject (a v1.Image or
// v1.ImageIndex), atomically, once the outputs are written.
func (f *outputFlags) writeIDFiles(subject any) error {
	if f.iidfile != "" {
		id, err := output.ImageID(subject)
		if err != nil {
			return err
		}
		if err := tempfile.WriteAtomic(f.iidfile, []byte(id)); err != nil {
			return fmt.Errorf("writing --iidfile: %w", err)
		}
	}
	if f.metadataFile != "" {
		b, err := output.Metadata(subject, f.tags)
		if err != nil {
			return err
		}
		if err := tempfile.WriteAtomic(f.metadataFile, append(b, '\n')); err != nil {
			return fmt.Errorf("writing --metadata-file: %w", err)
		}
	}
	return nil
}

// Validate parses the outputs and refuses, before any work, what no image could be
// written to; layers is the compression of the layers slim writes ("" when it keeps them).
func (f *outputFlags) Validate(layers tarball.Compression) error {
	f.parsed = nil
	for _, s := range f.outputs {
		o, err := output.Parse(s)
		if err != nil {
			return err
		}
		f.parsed = append(f.parsed, o)
	}
	if f.push {
		if len(f.tags) == 0 {
			return fmt.Errorf("--push needs a name: add -t REGISTRY/REPO:TAG")
		}
		f.parsed = append(f.parsed, output.Output{Type: output.Registry})
	}
	if f.load {
		f.parsed = append(f.parsed, output.Output{Type: output.Docker})
	}
	return output.Check(f.parsed, layers.Algorithm(), output.WithTags(f.tags))
}

// noOutput says that a run wrote nothing because nothing was asked for.
const noOutput = "slim: no output requested (-o, --push or --load): the result was checked but not written"

// options are the output options every command's outputs take.
func (f *outputFlags) options(insecure bool) []output.Option {
	return []output.Option{output.WithTags(f.tags), output.WithRefOptions(imageref.WithInsecure(insecure))}
}

// write writes subject (a v1.Image or v1.ImageIndex) to every output; with none asked
// for it writes nothing (say so with noteNone once the display is closed).
func (f *outputFlags) write(cmd *cobra.Command, subject any, insecure bool, extra ...output.Option) error {
	if len(f.parsed) == 0 {
		return f.writeIDFiles(subject)
	}
	if err := output.Write(cmd.Context(), subject, f.parsed, append(f.options(insecure), extra...)...); err != nil {
		return err
	}
	return f.writeIDFiles(subject)
}

// noteNone says that nothing was written when no output was asked for.
func (f *outputFlags) noteNone(cmd *cobra.Command) {
	if len(f.parsed) == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), noOutput)
	}
}

// printDigest prints the result's digest alone (-q), as buildx -q prints the image ID.
func printDigest(w io.Writer, img v1.Image, idx v1.ImageIndex) error {
	var d v1.Hash
	var err error
	if idx != nil {
		d, err = idx.Digest()
	} else {
		d, err = img.Digest()
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, d)
	return err
}
