# Builds the Policy Herald operator image: docker build -t policy-herald:dev .  (make docker-build)

# The builder runs on the build machine's platform and cross-compiles for the target one.
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# Download the modules in their own layer, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download

COPY main.go main.go
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/

# Static binary (no cgo), no local paths or symbol tables in it. The time zone database is
# compiled in (main.go imports time/tzdata) because the runtime image has none.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o /policy-herald .

# No shell or package manager; CA certificates included for HTTPS destinations. The binary also
# embeds fallback roots (golang.org/x/crypto/x509roots/fallback), used only where an image has
# none, so `make image` (hack/image: the same binary, user and entrypoint on an empty base, no
# engine needed) behaves the same.
FROM gcr.io/distroless/static:nonroot
COPY --from=builder /policy-herald /policy-herald
# Numeric, so the kubelet can enforce runAsNonRoot.
USER 65532:65532
ENTRYPOINT ["/policy-herald"]
