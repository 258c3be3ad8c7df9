#!/usr/bin/env bash
# Regenerates CRDs, RBAC and deepcopy code and fails if any of them changed, so a change to the
# API or to RBAC markers cannot land without its generated files.
set -euo pipefail
cd "$(dirname "$0")/.."

generated=(config/crd/bases config/rbac/role.yaml api/v1alpha1/zz_generated.deepcopy.go api/wgpolicyk8s/v1alpha2/zz_generated.deepcopy.go)
snapshot() { find "${generated[@]}" -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum; }

before=$(snapshot)
make -s manifests generate >/dev/null
after=$(snapshot)
if [ "$before" != "$after" ]; then
  echo "Generated files were stale and have been regenerated; review and commit them:" >&2
  diff <(echo "$before") <(echo "$after") | sed -n 's/^[<>] [0-9a-f]*  /  /p' | sort -u >&2
  exit 1
fi
echo "generated files are up to date"
