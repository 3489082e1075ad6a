# The action image. The runner rebuilds `image: Dockerfile` in every job, so this only copies the prebuilt
# static binary for the runner's architecture and the CA roots from dist/ (built in release commits by
# scripts/build-dist.sh): no base image to pull, no compiler, a build of a second or less.
FROM scratch
# Set by BuildKit (GitHub-hosted runners) and by podman/buildah to the platform being built: amd64 on x64
# runners, arm64 on arm64 runners. The legacy builder does not set it; then it is amd64.
ARG TARGETARCH=amd64
COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY dist/${TARGETARCH}/stevedore /stevedore
# rustls reads the roots from here (a scratch image has no system trust store).
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# No USER: GitHub requires Docker actions to run as root (the workspace is owned by the runner).
ENTRYPOINT ["/stevedore"]
