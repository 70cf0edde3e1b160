# Build the manager binary
FROM golang:1.26 AS builder
ARG TARGETARCH

WORKDIR /workspace
# Copy the Go module manifests first and download the dependencies, so that
# this layer is cached and rebuilt only when go.mod or go.sum change.
COPY go.mod go.mod
COPY go.sum go.sum
RUN go mod download

# Copy the Go source (.dockerignore keeps only what the build needs).
COPY . .

# GOARCH is left to the builder's platform unless buildx sets TARGETARCH
# (e.g. docker buildx build --platform linux/arm64).
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o manager ./cmd/manager

# Use distroless as minimal base image to package the manager binary.
# Refer to https://github.com/GoogleContainerTools/distroless for more details.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
