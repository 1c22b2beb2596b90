package main

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/slim-dev/slim/internal/imageref"
)

// globalFlags are the flags every command shares: how to reach and pick images.
type globalFlags struct {
	platform string
	insecure bool
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "slim",
		Short:         "Make container images as small as they can be while they still run",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.platform, "platform", "", "platform to pick from a multi-platform image (os/arch[/variant]; default: this machine's)")
	pf.BoolVar(&g.insecure, "insecure", false, "allow plain HTTP and unverified TLS for registries")
	root.AddCommand(newInspectCmd(g))
	return root
}

// oneLine keeps error output to a single line, as the user sees one failure per run.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

// refOptions turns the shared flags into image-reference options, refusing a malformed
// --platform before any network or disk work.
func (g *globalFlags) refOptions() ([]imageref.Option, error) {
	opts := []imageref.Option{imageref.WithInsecure(g.insecure)}
	if g.platform != "" {
		p, err := v1.ParsePlatform(g.platform)
		if err != nil {
			return nil, fmt.Errorf("parsing --platform %q: %w", g.platform, err)
		}
		opts = append(opts, imageref.WithPlatform(*p))
	}
	return opts, nil
}
