# Two images from one build: the operator (target manager, the default when
# built last) and the reference consumer (target drain-worker).
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
    go build -trimpath -ldflags "-s -w" -o manager ./cmd/manager && \
    CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o drain-worker ./cmd/drain-worker

# The drain worker: static, non-root. Its --exec handlers need a shell or
# binaries of their own, so images that use --exec build FROM this one.
FROM gcr.io/distroless/static:nonroot AS drain-worker
WORKDIR /
COPY --from=builder /workspace/drain-worker .
USER 65532:65532
ENTRYPOINT ["/drain-worker"]

# The operator: static, non-root, read-only root filesystem in its manifest.
FROM gcr.io/distroless/static:nonroot AS manager
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532
ENTRYPOINT ["/manager"]
