// Package rebase owns bases (scratch, the built-in offline static base, aliases for upstream
// bases, BaseFor an image's platform) and the assembly of base layers, new layers and
// config into an image or index (Index makes every index slim writes), including the
// fidelity check that the result can start, and moving an image onto another base. The
// whole slim run that uses them is package rebase/job.
//
// # Options
//
// Each function takes its own option type, so the call shows which settings apply:
// ResolveBase and BaseFor a BaseOption (WithGetenv, WithAlias, WithPlatform,
// WithRefOptions),
// Assemble an AssembleOption (WithHistory), AssembleIndex an IndexOption
// (WithPlatforms), Rebase and RebaseOnto a RebaseOption (WithOldBase, WithRefOptions),
// Check and CheckIndexed a CheckOption (WithForce, WithWarn, WithSource). What Assemble, AssembleIndex and
// Rebase share (the config overrides WithEntrypoint, WithCmd, WithEnv, WithUser,
// WithWorkdir, WithLabel, WithExpose, and WithSourceDateEpoch, WithBaseName,
// WithMediaTypes) is an AssemblyOption, which is all three types. Media types and the
// base annotations are internal/mediatype's; Index makes every index.
//
// # Bases
//
// ResolveBase understands:
//
//	scratch              no layers; the config only names the platform
//	static               built in, offline, reproducible: see package rebase/static
//	                     (distroless static's users, /tmp, CA roots, zoneinfo, os-release)
//	an alias             from the table below
//	anything else        an image reference (registry, oci-layout://, docker-archive://,
//	                     docker-daemon://), see internal/imageref
//
// Aliases (pinned by tag: no registry was reachable to read digests when they were
// chosen, so pin by digest with SLIM_BASE_<NAME> or WithAlias where that matters):
//
//	| alias             | reference                                  | override variable            |
//	| ----------------- | ------------------------------------------ | ---------------------------- |
//	| alpine            | docker.io/library/alpine:3.22              | SLIM_BASE_ALPINE             |
//	| distroless        | gcr.io/distroless/static-debian13:latest   | SLIM_BASE_DISTROLESS         |
//	| distroless/static | gcr.io/distroless/static-debian13:latest   | SLIM_BASE_DISTROLESS_STATIC  |
//	| distroless/base   | gcr.io/distroless/base-debian13:latest     | SLIM_BASE_DISTROLESS_BASE    |
//	| distroless/cc     | gcr.io/distroless/cc-debian13:latest       | SLIM_BASE_DISTROLESS_CC      |
//
// WithAlias wins over the variable, which wins over the table. The variables are read
// through WithGetenv (default os.Getenv), so a caller can pass its own environment.
// When a registry cannot be reached the error wraps ErrNoNetwork and suggests
// `--base static` or an oci-layout:// base.
//
// # Assembly
//
// Assemble and AssembleIndex keep the base's layers byte for byte, append the new
// layers, merge the config (base, then the source's runtime config, then overrides;
// PATH is the source's directories followed by the base's that it lacks), write one
// history entry per new layer, stamp every time with SOURCE_DATE_EPOCH or the Unix
// epoch, annotate the manifest with org.opencontainers.image.base.name/.digest, and
// keep one media-type family per manifest.
//
// # Fidelity check
//
// Check refuses, with ErrCheck and a list of fixes, an image whose entrypoint is
// missing or not executable, whose ELF interpreter or libraries do not resolve inside
// it, whose script interpreter is missing, or whose named USER or group is unknown. A
// missing WORKDIR is only a warning, since runtimes create it.
//
// # Rebase
//
// Rebase moves an image's own layers (those above its old base, found from
// WithOldBase or the base annotations) onto a new base, blobs unchanged; RebaseOnto
// does it with the bases named as --base and --old-base name them.
package rebase
