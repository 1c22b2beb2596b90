// Package build owns slim's use of BuildKit: finding or starting a daemon, reading the
// Dockerfile's stage graph, solving the stages that --from names in one session, and
// exposing each solved stage as an fs.FS.
package build
