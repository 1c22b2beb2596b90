package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/rebase"
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
	return f.out.Validate()
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
			img, ropts, err := g.openImage(ctx, args[0])
			if err != nil {
				return err
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return fmt.Errorf("reading config of %s: %w", args[0], err)
			}
			p := cf.Platform()
			if p == nil || p.OS == "" {
				p = defaultPlatform(nil)
			}
			bopts := []rebase.BaseOption{rebase.WithRefOptions(ropts...), rebase.WithPlatform(*p)}
			base, err := rebase.ResolveBase(ctx, f.base, bopts...)
			if err != nil {
				return err
			}
			newBase, err := base.ForPlatform(*p)
			if err != nil {
				return err
			}
			opts := []rebase.RebaseOption{rebase.WithRefOptions(ropts...), rebase.WithBaseName(base.AnnotationName())}
			if f.oldBase != "" {
				old, err := rebase.ResolveBase(ctx, f.oldBase, bopts...)
				if err != nil {
					return fmt.Errorf("resolving --old-base: %w", err)
				}
				oldImg, err := old.ForPlatform(*p)
				if err != nil {
					return fmt.Errorf("resolving --old-base: %w", err)
				}
				opts = append(opts, rebase.WithOldBase(oldImg))
			}
			out, err := rebase.Rebase(ctx, img, newBase, opts...)
			if err != nil {
				return err
			}
			if err := f.out.write(cmd, out, g.insecure); err != nil {
				return err
			}
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
