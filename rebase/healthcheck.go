package rebase

import v1 "github.com/google/go-containerregistry/pkg/v1"

// HealthcheckArgv is the command line a runtime runs for the config's healthcheck, as
// Docker runs it: HEALTHCHECK CMD ["curl", "-f", URL] as written, CMD-SHELL through the
// config's Shell (else /bin/sh -c). It is nil when there is none (no healthcheck, NONE,
// an empty test that inherits one). A command the result lacks does not stop the
// container from starting: it is reported unhealthy, and an orchestrator restarts it.
func HealthcheckArgv(c v1.Config) []string {
	h := c.Healthcheck
	if h == nil || len(h.Test) < 2 {
		return nil
	}
	switch h.Test[0] {
	case "CMD":
		if h.Test[1] == "" {
			return nil
		}
		return append([]string{}, h.Test[1:]...)
	case "CMD-SHELL":
		shell := c.Shell
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		return append(append([]string{}, shell...), h.Test[1])
	}
	return nil
}
