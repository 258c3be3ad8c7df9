#!/usr/bin/env bash
# Builds (once) the real servers the destination tests deliver to, from the Go module proxy and
# the npm registry, into a cache outside the repository, and prints the directory holding them
# (the tests read it from POLICY_HERALD_SERVERS; a test whose server is missing fails).
#
#   victoria-logs    VictoriaLogs (Apache-2.0): Loki push, Elasticsearch _bulk, Splunk HEC
#   alertmanager     Prometheus Alertmanager (Apache-2.0)
#   kinesalite/      npm kinesalite (MIT), a Kinesis server, with kinesalite-local.js binding loopback
#   promtool         Prometheus' promtool (Apache-2.0), from Debian's prometheus package, to lint
#                    expositions and test alerting rules
#
# POLICY_HERALD_CACHE overrides the cache root (default ~/.cache/policy-herald).
set -euo pipefail

VICTORIALOGS_VERSION=v1.52.1
ALERTMANAGER_VERSION=v0.28.1 # the newest that builds as published (later ones need the npm-built UI)
KINESALITE_VERSION=3.3.3
CACHE=${POLICY_HERALD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/policy-herald}
OUT="$CACHE/servers/vlogs-${VICTORIALOGS_VERSION}-am-${ALERTMANAGER_VERSION}-kinesalite-${KINESALITE_VERSION}"

log() { echo "test-servers: $*" >&2; }

# go_build NAME MODULE@VERSION PACKAGE builds PACKAGE into $OUT/NAME in a module of its own.
go_build() {
  local name=$1 modver=$2 pkg=$3
  local work="$CACHE/build/$name-${modver##*@}"
  log "building $name (${modver}); about a minute, once"
  mkdir -p "$work"
  (cd "$work" && [ -f go.mod ] || (cd "$work" && go mod init policyherald.local/$name-build >/dev/null 2>&1))
  (cd "$work" && GOFLAGS=-mod=mod go get "$modver" >/dev/null 2>&1 &&
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -o "$OUT/$name.tmp" "$pkg")
  mv "$OUT/$name.tmp" "$OUT/$name"
}

install_kinesalite() {
  log "installing kinesalite $KINESALITE_VERSION from npm; a few seconds, once"
  mkdir -p "$OUT/kinesalite.tmp"
  (cd "$OUT/kinesalite.tmp" && npm install --silent --no-audit --no-fund "kinesalite@$KINESALITE_VERSION" >/dev/null 2>&1)
  # Its command line binds every interface; this binds the address it is given.
  cat >"$OUT/kinesalite.tmp/kinesalite-local.js" <<'JS'
// node kinesalite-local.js PORT: a Kinesis server on 127.0.0.1:PORT, in memory.
const kinesalite = require('kinesalite');
const port = Number(process.argv[2]);
kinesalite({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100})
  .listen(port, '127.0.0.1', (err) => { if (err) { console.error(err); process.exit(1); } console.log('listening ' + port); });
JS
  rm -rf "$OUT/kinesalite" && mv "$OUT/kinesalite.tmp" "$OUT/kinesalite"
}

# install_promtool takes promtool out of Debian's prometheus package without installing it (no
# daemon is started, nothing lands outside the cache).
install_promtool() {
  log "extracting promtool from Debian's prometheus package; a few seconds, once"
  local work="$CACHE/build/promtool"
  rm -rf "$work" && mkdir -p "$work"
  (cd "$work" && apt-get download prometheus >/dev/null 2>&1 && dpkg -x prometheus_*.deb root)
  cp "$work/root/usr/bin/promtool" "$OUT/promtool.tmp" && mv "$OUT/promtool.tmp" "$OUT/promtool"
}

mkdir -p "$OUT"
[ -x "$OUT/victoria-logs" ] || go_build victoria-logs "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VICTORIALOGS_VERSION" github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs
[ -x "$OUT/alertmanager" ] || go_build alertmanager "github.com/prometheus/alertmanager/cmd/alertmanager@$ALERTMANAGER_VERSION" github.com/prometheus/alertmanager/cmd/alertmanager
[ -f "$OUT/kinesalite/kinesalite-local.js" ] || install_kinesalite
[ -x "$OUT/promtool" ] || install_promtool
echo "$OUT"
