# syntax=docker/dockerfile:1
#
# wsnode image: a static binary on distroless, running as a non-root user.
#   docker build -t wsnode .
#   docker run --rm -p 8080:8080 -p 127.0.0.1:9090:9090 -e WS_ADMIN_KEY=... wsnode
# Without WS_REDIS_URL the node uses an embedded in-process Redis (single
# node); docker-compose.yml runs three nodes on a shared Redis.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ENV CGO_ENABLED=0 GOOS=linux
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/wsnode ./cmd/wsnode && \
    go build -trimpath -ldflags "-s -w" -o /out/healthcheck ./deploy/healthcheck

# distroless/static: CA certificates, tzdata and /etc/passwd, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wsnode /out/healthcheck /usr/local/bin/
USER nonroot:nonroot
# Client listener (GET /ws) and admin API. A non-loopback admin address
# requires WS_ADMIN_KEY; /healthz and /readyz answer without it.
ENV WS_ADDR=:8080 WS_ADMIN_ADDR=:9090
EXPOSE 8080 9090
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:9090/readyz"]
ENTRYPOINT ["/usr/local/bin/wsnode"]
