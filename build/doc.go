// Package build owns slim's use of BuildKit: finding or starting a daemon, reading the
// Dockerfile's stage graph, solving the stages that --from names in one session, and
// exposing each solved stage as an fs.FS.
//
// Connect looks for a daemon in the order buildx users expect (WithAddr, $BUILDKIT_HOST,
// the Docker daemon's BuildKit, then a private buildkitd that it starts and leaves
// running). ParseStages reads the stage graph with BuildKit's own Dockerfile parser.
// Client.Solve runs the dockerfile frontend once per wanted stage inside a single
// session and hands the callback a StageFS per stage: an fs.ReadLinkFS over the solved
// reference that reads files in ranges, so only the bytes slim needs leave the daemon.
package build
