# The image examples/cronjob.yaml runs: vigil plus git, which it drives to
# read repository history. vigil is the RE2=cgo build (make build RE2=cgo):
# native RE2 scans gitleaks' own history 1.47x as fast as the gitleaks CLI
# and starts without compiling RE2's WebAssembly module (bench/README.md).
# It is linked statically against Debian 12's libre2 (its 2022 release needs
# no abseil) and libvectorscan (the prefilter in front of gitleaks,
# scanners/leaks/prefilter) with Go's own user and DNS lookups, so it runs
# on Alpine as it is; `make build` without RE2=cgo is the pure-Go static
# build, no C needed.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libre2-dev libvectorscan-dev g++ pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -tags=gore2regex,re2_cgo,vectorscan,osusergo,netgo -trimpath \
    -ldflags "-linkmode=external -extldflags=-static" -o /vigil ./cmd/vigil
# vigil-scan: the scan-only build of the same command (scan git, dir, logs),
# for jobs that only scan: a quarter of the size, gitleaks' memory.
RUN CGO_ENABLED=1 go build -tags=gore2regex,re2_cgo,vectorscan,osusergo,netgo,scanonly -trimpath \
    -ldflags "-linkmode=external -extldflags=-static" -o /vigil-scan ./cmd/vigil

FROM alpine:3.22
RUN apk add --no-cache git ca-certificates && adduser -D -u 65532 vigil
COPY --from=build /vigil /vigil-scan /usr/local/bin/
USER 65532
ENTRYPOINT ["/usr/local/bin/vigil"]
