// Package build owns slim's use of BuildKit and its knowledge of Dockerfiles: finding or
// starting a daemon, reading a Dockerfile once (ReadDockerfile: its stage graph with
// BuildKit's own parser), the Dockerfile rules of the whole job (which stages a run
// solves, auto mode's translation of COPY --from lines into --from specs with COPY's
// destination rule, the entrypoint's lookup, and the equivalent multi-stage Dockerfile
// that --emit-dockerfile writes), solving the stages in one session, and exposing each
// solved stage as an fs.FS.
//
// Connect looks for a daemon in the order buildx users expect (WithAddr, $BUILDKIT_HOST,
// the Docker daemon's BuildKit, then a private buildkitd that it starts and leaves
// running). Client.Solve runs the dockerfile frontend once per wanted stage inside a
// single session and hands the callback a StageFS per stage: an fs.ReadLinkFS over the
// solved reference that reads files in ranges, so only the bytes slim needs leave the
// daemon. A Runner (Client.Run, or RunnerFrom inside a Solve callback) runs a process in
// a solved stage or in an image handed over as an OCI layout through the session, as
// `docker run` would (DockerRun), with no network and a time limit: --verify.
package build
