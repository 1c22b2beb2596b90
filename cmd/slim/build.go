package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/internal/imageref"
	"github.com/slim-dev/slim/tarball/output"
)

type buildCmdFlags struct {
	build     buildFlags
	stages    []string
	allStages bool
	out       string
	// ids are buildx's --iidfile and --metadata-file, for the one stage written.
	ids outputFlags

	dir string // parsed from out
}

func (f *buildCmdFlags) Validate() error {
	if f.out == "" {
		return errors.New("give -o DIR (or type=oci,dest=DIR): each stage is written there as an OCI layout named after it")
	}
	o, err := output.Parse(f.out)
	if err != nil {
		return err
	}
	if o.Type != output.OCI || o.Tar {
		return fmt.Errorf("-o %s: slim build writes each stage as an OCI layout directory: give type=oci,dest=DIR or a DIR", f.out)
	}
	f.dir = o.Dest
	// --target names the stage to write, as it names the stage to build in buildx.
	if f.build.target != "" {
		if len(f.stages) > 0 || f.allStages {
			return errors.New("give --target, --stage or --all-stages, not two of them")
		}
		f.stages = []string{f.build.target}
	}
	if f.allStages && len(f.stages) > 0 {
		return errors.New("give --stage or --all-stages, not both")
	}
	if (f.ids.iidfile != "" || f.ids.metadataFile != "") && (f.allStages || len(f.stages) > 1) {
		return errors.New("--iidfile and --metadata-file name one image: write one stage (--target or one --stage)")
	}
	return f.build.Validate()
}

func newBuildCmd(g *globalFlags) *cobra.Command {
	f := &buildCmdFlags{}
	cmd := &cobra.Command{
		Use:   "build [CONTEXT] -o DIR",
		Short: "Run a Dockerfile and write its stages as images",
		Long: `Run a Dockerfile through BuildKit and write the chosen stages (default: the last) as
OCI layouts: DIR/<stage> for each, readable as oci-layout://DIR/<stage> by every slim command.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.Validate(); err != nil {
				return err
			}
			contextDir := "."
			if len(args) > 0 {
				contextDir = args[0]
			}
			df, err := f.build.readDockerfile(contextDir)
			if err != nil {
				return err
			}
			want, err := df.Select(f.stages, f.allStages)
			if err != nil {
				return err
			}
			platforms, err := g.platforms()
			if err != nil {
				return err
			}
			var ps []string
			for _, p := range platforms {
				ps = append(ps, p.String())
			}
			client, err := build.Connect(cmd.Context(), f.build.connectOptions()...)
			if err != nil {
				return err
			}
			defer client.Close()
			if err := os.MkdirAll(f.dir, 0o755); err != nil {
				return err
			}
			req := f.build.request(contextDir, df, ps, g.progress)
			req.ProgressOutput = cmd.ErrOrStderr()
			for _, w := range want {
				dest := filepath.Join(f.dir, w)
				if err := client.Export(cmd.Context(), req, w, dest); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "oci-layout://%s\n", dest)
				if f.ids.iidfile != "" || f.ids.metadataFile != "" {
					if err := writeLayoutIDFiles(cmd, &f.ids, dest); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	f.build.register(cmd.Flags())
	cmd.Flags().Lookup("target").Usage = "stage to write, by name or index, as buildx --target (default: the last)"
	cmd.Flags().StringArrayVar(&f.stages, "stage", nil, "stage to write, by name or index (repeatable; default: the last)")
	cmd.Flags().BoolVar(&f.allStages, "all-stages", false, "write every stage")
	cmd.Flags().StringVarP(&f.out, "output", "o", "", "directory to write the stages into: type=oci,dest=DIR, oci-layout://DIR or DIR")
	cmd.Flags().StringVar(&f.ids.iidfile, "iidfile", "", "write the stage's image ID (its config digest; an index's digest) to this file, as buildx does")
	cmd.Flags().StringVar(&f.ids.metadataFile, "metadata-file", "", "write the stage's metadata as JSON to this file, with buildx's keys")
	return cmd
}

// writeLayoutIDFiles writes --iidfile and --metadata-file for the image (or index) a
// stage's OCI layout holds.
func writeLayoutIDFiles(cmd *cobra.Command, ids *outputFlags, dir string) error {
	ref, err := imageref.Parse("oci-layout://" + dir)
	if err != nil {
		return err
	}
	img, idx, err := imageref.Open(cmd.Context(), ref)
	if err != nil {
		return fmt.Errorf("reading the stage written to %s: %w", dir, err)
	}
	var subject any = img
	if idx != nil {
		subject = idx
	}
	return ids.writeIDFiles(subject)
}
