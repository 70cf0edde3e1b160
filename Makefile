# Image URL to use all building/pushing image targets
# Images: the operator, and the reference consumer its samples use.
WORKER_IMG ?= ghcr.io/queuedrainer/drain-worker:latest
IMG ?= controller:latest

# CONTAINER_TOOL defines the container tool to be used for building images.
CONTAINER_TOOL ?= docker

## Location to install dependencies to
LOCALBIN ?= $(CURDIR)/bin

## Tool Binaries
KUBECTL ?= kubectl
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
PROMTOOL ?= $(LOCALBIN)/promtool
HELM ?= $(LOCALBIN)/helm
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint

## Tool Versions
KUSTOMIZE_VERSION ?= v5.8.2
CONTROLLER_TOOLS_VERSION ?= v0.21.0
HELM_VERSION ?= v4.3.1
GOLANGCI_LINT_VERSION ?= v2.15.0

# Extra flags for `go test`, e.g. `make test TEST_FLAGS='-run TestDrain -v'`.
TEST_FLAGS ?=

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

# The help target prints out all targets with their descriptions organized
# beneath their categories. The categories are represented by '##@' and the
# target descriptions by '##'. The awk command is responsible for reading the
# entire set of makefiles included in this invocation, looking for lines of the
# file as xyz: ## something, and then pretty-format the target and help. Then,
# if there's a line with ##@ something, that gets pretty-printed as a category.
# More info on the usage of ANSI control characters for terminal formatting:
# https://en.wikipedia.org/wiki/ANSI_escape_code#SGR_parameters
# More info on the awk command:
# http://linuxcommand.org/lc3_adv_awk.php

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

# After controller-gen, the Helm chart's copies of what it renders from the
# same sources (charts/queue-drainer/files: the CRD, the RBAC rules, the
# alerts and the dashboard); test/chart checks they are identical.
.PHONY: manifests
manifests: controller-gen ## Generate ClusterRole and CustomResourceDefinition objects.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd:generateEmbeddedObjectMeta=true paths="./..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	rm -rf charts/queue-drainer/files && mkdir -p charts/queue-drainer/files/crds charts/queue-drainer/files/rbac charts/queue-drainer/files/prometheus charts/queue-drainer/files/grafana
	cp config/crd/bases/*.yaml charts/queue-drainer/files/crds/
	cp config/rbac/role.yaml config/rbac/leader_election_role.yaml config/rbac/queuedrainer_editor_role.yaml config/rbac/queuedrainer_viewer_role.yaml charts/queue-drainer/files/rbac/
	cp config/prometheus/rules.yaml charts/queue-drainer/files/prometheus/
	cp config/grafana/queue-drainer-dashboard.json charts/queue-drainer/files/grafana/

.PHONY: generate
generate: controller-gen ## Generate code containing DeepCopy, DeepCopyInto, and DeepCopyObject method implementations.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

# Two Go modules: the product (go.mod: api, controllers, internal, cmd,
# testutil) and its test infrastructure (test/go.mod), which imports the
# product and never the reverse. fmt, vet and test cover both.
.PHONY: fmt
fmt: ## Run go fmt against code (both modules).
	go fmt ./...
	cd test && go fmt ./...

.PHONY: vet
vet: ## Run go vet against code (both modules).
	go vet ./...
	cd test && go vet ./...

# Both modules, with the one .golangci.yml at the root; .ci/run runs it.
.PHONY: lint
lint: golangci-lint ## Run golangci-lint (.golangci.yml) on both modules.
	$(GOLANGCI_LINT) run ./...
	cd test && $(GOLANGCI_LINT) run --config ../.golangci.yml ./...

# The API server and etcd for envtest are built from their Go modules by
# hack/kube-binaries.sh (first run: several minutes, progress on stderr) and
# cached outside the repo. A KUBEBUILDER_ASSETS set by the caller wins.
# Then the end-to-end suite (test-e2e) runs on a local cluster.
.PHONY: test
test: manifests generate emulators kustomize promtool helm ## Run all tests: unit, envtest (real kube-apiserver and etcd), the AWS emulators, fuzz (briefly), then end to end.
	@assets="$${KUBEBUILDER_ASSETS:-}"; \
	if [ -z "$$assets" ]; then assets="$$(hack/kube-binaries.sh kube-apiserver etcd | tail -n 1)"; fi; \
	echo "KUBEBUILDER_ASSETS=$$assets"; \
	export KUBEBUILDER_ASSETS="$$assets"; \
	echo "go test ./... -count=1 $(TEST_FLAGS)"; \
	go test ./... -count=1 $(TEST_FLAGS); \
	echo "cd test && go test \$$(go list ./... | grep -v /e2e) -count=1 $(TEST_FLAGS)"; \
	cd test && go test $$(go list ./... | grep -v /e2e) -count=1 $(TEST_FLAGS)
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory test-e2e

# Every fuzz target, as module:package:Target:executions, the module being
# the directory of its go.mod (. the product, test the test module). Budgets
# are execution counts, not durations: with a duration, Go 1.26's fuzz
# coordinator can fail a clean run with a bare "context deadline exceeded"
# when the time runs out (golang/go#75804); a count never arms that deadline.
# Each count is about 5 s on 2 cores; `make fuzz FUZZ_SCALE=24` runs every
# target about 2 minutes.
FUZZ_TARGETS := \
	.:./internal/plan:FuzzDecideInvariants:40000 \
	.:./internal/plan:FuzzSchedule:70000 \
	.:./internal/queueurl:FuzzParse:350000 \
	test:./emulator/cwsim:FuzzDecodeRequest:50000 \
	.:./internal/worker:FuzzWorkUnits:80000 \
	.:./internal/worker:FuzzMessageToHTTPHandler:7000 \
	.:./internal/drainsummary:FuzzParse:150000
FUZZ_SCALE ?= 1

.PHONY: fuzz
fuzz: emulators ## Run each fuzz target for its execution budget times FUZZ_SCALE (default 1, about 5 s each).
	@for t in $(FUZZ_TARGETS); do \
		mod=$${t%%:*}; rest=$${t#*:}; pkg=$${rest%%:*}; rest=$${rest#*:}; name=$${rest%%:*}; execs=$$(( $${rest#*:} * $(FUZZ_SCALE) )); \
		echo "(cd $$mod && go test $$pkg -run '^$$' -fuzz '^$$name\$$' -fuzztime $${execs}x)"; \
		(cd $$mod && go test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $${execs}x -fuzzminimizetime 5s) || exit 1; \
	done

# Extra flags for the end-to-end suite, e.g. E2E_FLAGS='-run TestEndToEnd/side_by_side/Manual'.
E2E_FLAGS ?=

# The suite builds what it runs (kube-controller-manager and kube-scheduler
# join the cached binaries on the first run) and prints its measurements
# as FIGURE lines.
.PHONY: test-e2e
test-e2e: emulators kustomize helm ## Run the end-to-end suite: the operator in a local cluster draining fauxqs queues.
	cd test && go test ./e2e -count=1 -v -timeout 30m $(E2E_FLAGS)

# The demo's own flags, e.g. DEMO_FLAGS='--messages 10000 --exit'.
DEMO_FLAGS ?=

.PHONY: demo
demo: emulators kustomize | $(LOCALBIN) ## Drain a queue before your eyes: a local cluster, the SQS emulator, the operator and 50,000 messages.
	@echo "==> building the operator, drain-worker, the kubectl plugin, loadgen and the no-op HTTP handler"
	@go build -o $(LOCALBIN)/ ./cmd/manager ./cmd/drain-worker ./cmd/kubectl-queuedrainer
	@cd test && go build -o $(LOCALBIN)/ ./cmd/loadgen ./cmd/demo ./cmd/noophttp
	@echo "==> building (first run) or reusing etcd and the Kubernetes binaries"
	@kube="$$(hack/kube-binaries.sh etcd kube-apiserver kube-controller-manager kube-scheduler kubectl | tail -n 1)"; \
	exec $(LOCALBIN)/demo --kube-bin "$$kube" --bin $(LOCALBIN) --kustomize $(KUSTOMIZE) $(DEMO_FLAGS)

# One fauxqs on loopback; rounds of: the drain engine (worker.Run), a naive
# consumer like the public write-up's, and the emulator's own ceiling.
# Extra flags: `make bench-worker BENCH_FLAGS='--rounds 5 --cpuprofile worker.pprof'`
# (`cd test && go run ./cmd/benchworker --help` lists them). It is built from
# the test module and runs in the repository root, where relative paths in
# BENCH_FLAGS start.
BENCH_FLAGS ?=

.PHONY: bench-worker
bench-worker: emulators | $(LOCALBIN) ## Benchmark the drain engine against fauxqs: msg/s and CPU per 1k messages vs a naive consumer and the emulator's ceiling.
	cd test && go build -o $(LOCALBIN)/ ./cmd/benchworker
	$(LOCALBIN)/benchworker $(BENCH_FLAGS)

# The manager binary as its own process, with N drainers (pollInterval 10s)
# against envtest, fauxqs behind the fault proxy and the CloudWatch
# simulator: start-up, steady-state status writes and SQS calls, poll gaps,
# latencies, 5% faulty queues and a full outage, side by side per N, with
# the targets. `make bench-scale N=2000`; more flags in BENCH_FLAGS
# (`cd test && go run ./cmd/benchscale --help`). About 8 minutes per size.
# Built from the test module like bench-worker; it builds ./cmd/manager in
# the repository root.
N ?= 1000,5000

.PHONY: bench-scale
bench-scale: emulators manifests | $(LOCALBIN) ## Benchmark one operator for N = 1,000 and 5,000 drainers (N=... to choose): status writes, poll gaps, latencies, faulty queues, outage.
	@assets="$${KUBEBUILDER_ASSETS:-}"; \
	if [ -z "$$assets" ]; then assets="$$(hack/kube-binaries.sh kube-apiserver etcd | tail -n 1)"; fi; \
	(cd test && go build -o $(LOCALBIN)/ ./cmd/benchscale); \
	$(LOCALBIN)/benchscale --kube-assets "$$assets" --n "$(N)" $(BENCH_FLAGS)

.PHONY: envtest
envtest: ## Build (or reuse) kube-apiserver and etcd for envtest; prints the KUBEBUILDER_ASSETS directory.
	@hack/kube-binaries.sh kube-apiserver etcd | tail -n 1

##@ Build

.PHONY: build
build: manifests generate fmt vet | $(LOCALBIN) ## Build the binaries under ./cmd into bin/.
	go build -o $(LOCALBIN)/ ./cmd/...

.PHONY: run
run: manifests generate fmt vet ## Run the controller from your host against the current kubeconfig.
	go run ./cmd/manager

# If you wish to build the manager image targeting other platforms you can use
# the --platform flag (e.g. docker buildx build --platform linux/arm64).
.PHONY: docker-build
docker-build: ## Build the manager image (IMG) and the drain-worker image (WORKER_IMG).
	$(CONTAINER_TOOL) build --target manager -t $(IMG) .
	$(CONTAINER_TOOL) build --target drain-worker -t $(WORKER_IMG) .

.PHONY: docker-push
docker-push: ## Push the manager and drain-worker images.
	$(CONTAINER_TOOL) push $(IMG)
	$(CONTAINER_TOOL) push $(WORKER_IMG)

.PHONY: build-installer
build-installer: manifests generate kustomize ## Generate dist/install.yaml: CRD and all resources needed to deploy the manager.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default > dist/install.yaml

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

# The CRD embeds a full Job template and is too large for the
# last-applied-configuration annotation of a client-side apply.
.PHONY: install
install: manifests kustomize ## Install the CRD into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Uninstall the CRD. Call with ignore-not-found=true to ignore resource not found errors.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the controller (image IMG, default controller:latest) to the cluster of the current kubeconfig.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Undeploy the controller. Call with ignore-not-found=true to ignore resource not found errors.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

EMULATOR_DIR := test/emulator

.PHONY: emulators
emulators: $(EMULATOR_DIR)/node_modules/.package-lock.json ## Install the SQS emulator (npm fauxqs, pinned by test/emulator/package-lock.json).

$(EMULATOR_DIR)/node_modules/.package-lock.json: $(EMULATOR_DIR)/package-lock.json
	cd $(EMULATOR_DIR) && npm ci --no-audit --no-fund
	@touch $@

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

# The tool targets always run: go-install-tool is a no-op when bin/<tool> already
# links to the pinned version, and reinstalls when the version changes. A tool
# path set from the environment or the command line (KUSTOMIZE=..., CONTROLLER_GEN=...)
# is used as is.
.PHONY: kustomize
kustomize: | $(LOCALBIN) ## Download kustomize locally if necessary.
ifeq ($(origin KUSTOMIZE),file)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))
endif

.PHONY: controller-gen
controller-gen: | $(LOCALBIN) ## Download controller-gen locally if necessary.
ifeq ($(origin CONTROLLER_GEN),file)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))
endif

# helm, for the chart's tests: test/chart (lint, template) and test/e2e (install, upgrade).
.PHONY: helm
helm: | $(LOCALBIN) ## Download helm locally if necessary.
ifeq ($(origin HELM),file)
	$(call go-install-tool,$(HELM),helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))
endif

.PHONY: golangci-lint
golangci-lint: | $(LOCALBIN) ## Download golangci-lint locally if necessary.
ifeq ($(origin GOLANGCI_LINT),file)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))
endif

# promtool (`promtool check rules`, `promtool test rules` for config/prometheus)
# comes from the Debian package prometheus: hack/promtool.sh installs it when
# it is not on PATH (apt-get, as root, without starting the Prometheus
# service) and prints its path, which bin/promtool then links to.
.PHONY: promtool
promtool: | $(LOCALBIN) ## Install promtool (Debian package prometheus) if necessary and link it as bin/promtool.
ifeq ($(origin PROMTOOL),file)
	@path="$$(hack/promtool.sh | tail -n 1)"; \
	[ "$$(readlink -- "$(PROMTOOL)" 2>/dev/null)" = "$$path" ] || ln -sf "$$path" "$(PROMTOOL)"
endif

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(notdir $(1))-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f $(1) ;\
GOBIN=$(LOCALBIN) go install $${package} ;\
mv $(1) $(1)-$(3) ;\
} ;\
ln -sf $(notdir $(1))-$(3) $(1)
endef
