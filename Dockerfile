# The action image. The runner rebuilds `image: Dockerfile` in every job, so this only copies the prebuilt
# static binary and the CA roots from dist/ (rebuild them with scripts/build-dist.sh): no base image to
# pull, no compiler, a build of a few seconds.
FROM scratch
COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY dist/stevedore /stevedore
# rustls reads the roots from here (a scratch image has no system trust store).
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# No USER: GitHub requires Docker actions to run as root (the workspace is owned by the runner).
ENTRYPOINT ["/stevedore"]
