# Policy Herald — developer targets. Every tool runs from go.mod (go tool) or hack/; nothing is
# downloaded from anywhere but the Go module proxy.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

IMG ?= policy-herald:dev
# The operator version of the OLM bundle (make bundle): the CSV is policy-herald.v$(VERSION).
VERSION ?= 0.1.0
CONTROLLER_GEN := go tool controller-gen
# The kube-apiserver and etcd envtest runs against, built once into a cache outside the repo.
ENVTEST_ASSETS = $(shell hack/control-plane.sh)
# The real servers destination tests deliver to (VictoriaLogs, Alertmanager, kinesalite), built
# or installed once into the same cache.
TEST_SERVERS = $(shell hack/test-servers.sh)
# hack/ is a Go module of its own (hack/go.mod), so its dependencies (go-containerregistry,
# operator-framework/api) stay out of the operator's go.mod. `go run ./hack/x` cannot cross into
# it, so $(call hack-build,NAME) builds hack/NAME there into bin/hack/NAME, which the targets run
# from here: the programs read config/, bundle/ and dist/ relative to the repository root.
hack-build = go build -C hack -o ../bin/hack/$(1) ./$(1)

.PHONY: all
all: build

##@ Development

.PHONY: manifests
manifests: ## Generate CRDs (config/crd/bases) and RBAC (config/rbac/role.yaml).
	$(CONTROLLER_GEN) crd rbac:roleName=manager-role paths=./api/v1alpha1/... paths=./controllers/... paths=./internal/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: ## Generate DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: bundle
bundle: ## Generate the OLM bundle (bundle/, bundle.Dockerfile) from config/.
	$(call hack-build,bundle)
	bin/hack/bundle -version $(VERSION) $(if $(filter command line environment,$(origin IMG)),-image $(IMG))

.PHONY: helm-chart
helm-chart: ## Generate the Helm chart (dist/chart) from config/default.
	$(call hack-build,helmchart)
	bin/hack/helmchart -version $(VERSION)

.PHONY: verify-generated
verify-generated: ## Fail when generated files (CRDs, RBAC, deepcopy) are stale.
	hack/verify-generated.sh

.PHONY: argocd-health
argocd-health: ## Generate the Argo CD argocd-cm snippet (config/argocd/argocd-cm.yaml) from config/argocd/health.lua.
	$(call hack-build,argocd)
	bin/hack/argocd

.PHONY: fmt
fmt: ## Fail on unformatted Go files.
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## Run go vet (the operator's module, hack/'s and hack/dashboards/').
	CGO_ENABLED=0 go vet ./...
	cd hack && CGO_ENABLED=0 go vet ./...
	cd hack/dashboards && CGO_ENABLED=0 go vet ./...

# golangci-lint is pinned in its own module (hack/tools/go.mod), so its dependencies stay out of
# the operator's go.mod; the first run builds it (about 2 minutes), later runs use its cache.
.PHONY: lint
lint: ## Run golangci-lint (.golangci.yml) on the operator's module, hack/'s and hack/dashboards/'.
	CGO_ENABLED=0 go tool -modfile=hack/tools/go.mod golangci-lint run ./...
	cd hack && CGO_ENABLED=0 go tool -modfile=tools/go.mod golangci-lint run --config ../.golangci.yml ./...
	cd hack/dashboards && CGO_ENABLED=0 go tool -modfile=../tools/go.mod golangci-lint run --config ../../.golangci.yml ./...

.PHONY: control-plane
control-plane: ## Build kube-apiserver, kube-controller-manager and etcd for the tests (once; cached).
	@hack/control-plane.sh

.PHONY: test
# CGO_ENABLED=0 everywhere (vet, lint, tests and the binaries tests build) as in the shipped
# binary: one set of compiled packages serves them all, and tests resolve names with the pure Go
# resolver the operator uses.
test: verify-generated fmt vet lint ## Run unit tests and the envtest suite against a real API server.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" POLICY_HERALD_SERVERS="$(TEST_SERVERS)" CGO_ENABLED=0 go test ./... -count=1 -timeout 20m
	cd hack && KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" POLICY_HERALD_SERVERS="$(TEST_SERVERS)" CGO_ENABLED=0 go test ./... -count=1 -timeout 20m
	cd hack/dashboards && POLICY_HERALD_SERVERS="$(TEST_SERVERS)" CGO_ENABLED=0 go test ./... -count=1

##@ Build and run

.PHONY: build
build: ## Build the operator binary into bin/.
	CGO_ENABLED=0 go build -o bin/policy-herald .

# kubectl herald's release version (make kubectl-herald-dist): its krew manifest and archive URLs.
HERALD_VERSION ?= v$(VERSION)
HERALD_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

.PHONY: kubectl-herald
kubectl-herald: ## Build the kubectl plugin into bin/kubectl-herald (put it on PATH: kubectl herald ...).
	go build -o bin/kubectl-herald ./cmd/kubectl-herald

.PHONY: kubectl-herald-dist
kubectl-herald-dist: ## Cross-compile kubectl-herald (linux, darwin, windows × amd64, arm64) into dist/: archives, sha256 and the krew manifest dist/herald.yaml.
	rm -rf dist/kubectl-herald
	for p in $(HERALD_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags "-s -w" \
			-o dist/kubectl-herald/$${os}_$${arch}/kubectl-herald$$ext ./cmd/kubectl-herald; \
	done
	$(call hack-build,krew-dist)
	bin/hack/krew-dist -version $(HERALD_VERSION) -dist dist -manifest hack/krew/herald.yaml

# Not `go run`: it exits 1 whenever it is interrupted, whatever the program's status. exec makes
# the program make's own child, so a clean Ctrl-C ends without "make: *** Error". bin/policy-herald
# is what the e-mail report Jobs run there (hack/dev plays the kubelet for their Pods); bin/dev
# looks for it beside itself, so it is not built into bin/hack/.
.PHONY: run
run: ## Start a local control plane, install CRDs and samples, run the operator and the console (dev mode, http://127.0.0.1:8090/; Ctrl-C stops all).
	CGO_ENABLED=0 go build -o bin/policy-herald .
	go build -C hack -o ../bin/dev ./dev
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" exec bin/dev

.PHONY: load
load: ## Load harness: local control plane, operator as its own process, N reports × M results; ARGS="-reports 2000 -results 50 -mode live|sync -churn K".
	$(call hack-build,load)
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" bin/hack/load $(ARGS)

.PHONY: console-bench
console-bench: ## Console harness: API server time p50/p99 and bytes per result at 100k results; ARGS="-results 100000 -namespaces 20 -requests 200".
	$(call hack-build,consolebench)
	bin/hack/consolebench $(ARGS)

.PHONY: console-bench-browser
console-bench-browser: ## Console harness in headless chromium: load event and first paint p50/p99 of the overview and a results page at 100k results; ARGS="-loads 20".
	$(call hack-build,consolebench)
	bin/hack/consolebench -browser $(ARGS)

.PHONY: faults
faults: ## Fault harness: outages, crashes, handover, leader loss, API server down, throttling, CRD reinstall, big report; ARGS="-scenario NAME -timeout 40m".
	$(call hack-build,faults)
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" bin/hack/faults $(ARGS)

.PHONY: build-installer
build-installer: ## Render config/default into dist/install.yaml, with the operator image IMG.
	$(call hack-build,installer)
	bin/hack/installer -image $(IMG) > dist/install.yaml

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .

.PHONY: image
image: ## Build an OCI image of the operator into dist/image without a container engine (go-containerregistry); ARGS="-arch amd64,arm64".
	$(call hack-build,image)
	bin/hack/image -out dist/image -tag $(IMG) $(ARGS)

##@ Deployment (kubectl and the cluster of the current kubeconfig)

.PHONY: deploy
deploy: ## Install or upgrade Policy Herald (config/default with image IMG) by server-side apply.
	$(call hack-build,installer)
	bin/hack/installer -image $(IMG) | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the operator, its RBAC and namespace; the CRDs stay, and with them every object outside policy-herald-system and its ledger.
	$(call hack-build,installer)
	bin/hack/installer -image $(IMG) -without-crds | kubectl delete --ignore-not-found -f -

.PHONY: install
install: ## Install or upgrade the CRDs only (config/crd) by server-side apply.
	$(call hack-build,installer)
	bin/hack/installer -crds-only | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: uninstall-crds ## Delete the CRDs (the same as uninstall-crds, kubebuilder's name).

.PHONY: uninstall-crds
uninstall-crds: ## Delete the CRDs: every Policy Herald object in the cluster goes, and its ledger ConfigMaps with it.
	$(call hack-build,installer)
	bin/hack/installer -crds-only | kubectl delete --ignore-not-found -f -

##@ Other

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
