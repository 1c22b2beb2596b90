package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/build"
	"github.com/slim-dev/slim/tarball/output"
)

type buildCmdFlags struct {
	build     buildFlags
	stages    []string
	allStages bool
	out       string

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
			}
			return nil
		},
	}
	f.build.register(cmd.Flags())
	cmd.Flags().Lookup("target").Usage = "stage to write, by name or index, as buildx --target (default: the last)"
	cmd.Flags().StringArrayVar(&f.stages, "stage", nil, "stage to write, by name or index (repeatable; default: the last)")
	cmd.Flags().BoolVar(&f.allStages, "all-stages", false, "write every stage")
	cmd.Flags().StringVarP(&f.out, "output", "o", "", "directory to write the stages into: type=oci,dest=DIR, oci-layout://DIR or DIR")
	return cmd
}
