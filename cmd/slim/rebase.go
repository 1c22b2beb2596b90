package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/rebase"
	"github.com/slim-dev/slim/tarball/output"
)

type rebaseFlags struct {
	base    string
	oldBase string
	out     outputFlags
}

func (f *rebaseFlags) Validate() error {
	if f.base == "" {
		return fmt.Errorf("give the new base with --base")
	}
	return f.out.Validate("")
}

func newRebaseCmd(g *globalFlags) *cobra.Command {
	f := &rebaseFlags{}
	cmd := &cobra.Command{
		Use:   "rebase IMAGE --base NEW [--old-base OLD]",
		Short: "Move an image's own layers onto another base",
		Long: `Move the layers an image added above its base onto a new base; the moved layers keep
their digests. The old base is found from the image's base annotations (which slim writes)
or given with --old-base.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.Validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			img, ropts, err := g.openImage(ctx, args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			opts := []rebase.RebaseOption{rebase.WithRefOptions(ropts...)}
			if warn := g.lenientWarn(cmd.ErrOrStderr()); warn != nil {
				opts = append(opts, rebase.WithLenient(warn))
			}
			disp, err := g.display(cmd, "Rebasing")
			if err != nil {
				return err
			}
			defer disp.Close()
			st := disp.Start("moving the layers onto " + f.base)
			out, err := rebase.RebaseOnto(ctx, img, f.base, f.oldBase, opts...)
			st.Done(err)
			if err != nil {
				return err
			}
			if err := f.out.write(cmd, out, g.insecure, output.WithSteps(disp)); err != nil {
				return err
			}
			disp.Close()
			f.out.noteNone(cmd)
			d, err := out.Digest()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", d)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.base, "base", "", "the new base: scratch, static, an alias or any image reference")
	cmd.Flags().StringVar(&f.oldBase, "old-base", "", "the image's current base, when its annotations do not say")
	f.out.register(cmd.Flags())
	return cmd
}
