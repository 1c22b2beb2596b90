package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/build"
)

type buildCmdFlags struct {
	build     buildFlags
	stages    []string
	allStages bool
	out       string
}

func (f *buildCmdFlags) Validate() error {
	if f.out == "" {
		return errors.New("give -o DIR: each stage is written there as an OCI layout named after it")
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
			if err := os.MkdirAll(f.out, 0o755); err != nil {
				return err
			}
			req := f.build.request(contextDir, df, ps, g.progress)
			req.ProgressOutput = cmd.ErrOrStderr()
			for _, w := range want {
				dest := filepath.Join(f.out, w)
				if err := client.Export(cmd.Context(), req, w, dest); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "oci-layout://%s\n", dest)
			}
			return nil
		},
	}
	f.build.register(cmd.Flags())
	cmd.Flags().StringArrayVar(&f.stages, "stage", nil, "stage to write, by name or index (repeatable; default: the last)")
	cmd.Flags().BoolVar(&f.allStages, "all-stages", false, "write every stage")
	cmd.Flags().StringVarP(&f.out, "output", "o", "", "directory to write the stages into")
	return cmd
}
