# The image examples/cronjob.yaml runs: vigil plus git, which it drives to
# read repository history.
FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -tags=gore2regex -trimpath -o /vigil ./cmd/vigil

FROM alpine:3.22
RUN apk add --no-cache git ca-certificates && adduser -D -u 65532 vigil
COPY --from=build /vigil /usr/local/bin/vigil
USER 65532
ENTRYPOINT ["/usr/local/bin/vigil"]
