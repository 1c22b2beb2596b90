// Package tarball owns the layers slim writes: deterministic tar streams, compression with
// klauspost/compress, rewriting existing layers (waste removal, squash) and the outputs
// (OCI layout, docker-archive, registry, daemon).
package tarball
