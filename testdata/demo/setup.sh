#!/usr/bin/env bash
# Builds the demo's moving parts under testdata/demo/work/ (git-ignored): a
# small git repository whose history hides fake secrets, and a log directory
# with a live log and a gzip-rotated one. Commits use fixed identities and
# dates, so the repository is the same commit for commit on every machine
# and a second `make demo` finds the same findings, still open.
#
# Every secret here is fake: random-looking strings in the shapes gitleaks
# detects. None was ever valid.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work="$here/work"
repo="$work/payments"
mkdir -p "$work/logs"

export GIT_AUTHOR_NAME="Dana Data" GIT_AUTHOR_EMAIL="dana@example.test"
export GIT_COMMITTER_NAME="Dana Data" GIT_COMMITTER_EMAIL="dana@example.test"
commit() { # commit DATE MESSAGE
  GIT_AUTHOR_DATE="$1" GIT_COMMITTER_DATE="$1" git -C "$repo" commit -q -m "$2"
}

if [ ! -d "$repo/.git" ]; then
  git init -q -b main "$repo"
  git -C "$repo" config commit.gpgsign false
  mkdir -p "$repo/etl" "$repo/deploy"

  cat > "$repo/etl/warehouse.py" <<'PY'
import os
# TODO: move to Vault before go-live
AWS_ACCESS_KEY_ID = "AKIAZ4QXWDR7N2KVB5TM"
WAREHOUSE_URL = os.environ["WAREHOUSE_URL"]
PY
  git -C "$repo" add -A && commit "2026-09-01T09:00:00Z" "etl: first cut of the warehouse loader"

  cat > "$repo/etl/warehouse.py" <<'PY'
import os
AWS_ACCESS_KEY_ID = os.environ["AWS_ACCESS_KEY_ID"]
WAREHOUSE_URL = os.environ["WAREHOUSE_URL"]
PY
  git -C "$repo" add -A && commit "2026-09-02T09:00:00Z" "etl: read the key from the environment"

  cat > "$repo/deploy/publish.sh" <<'SH'
#!/bin/sh
export GITHUB_TOKEN=ghp_R8kQw2Lm9XzT4vNc7BpJ5sYd1HfGa3Ue6Wio
gh release upload "$1" dist/*
SH
  git -C "$repo" add -A && commit "2026-09-10T12:00:00Z" "deploy: publish script"
  git -C "$repo" rm -q deploy/publish.sh && commit "2026-09-11T12:00:00Z" "deploy: remove publish script"

  git -C "$repo" checkout -q -b spike/stripe
  cat > "$repo/etl/billing.py" <<'PY'
import stripe
stripe.api_key = "sk_live_51Hq8ZpLx3VbN7mTc2RwK9yFd4JsG6aQe1UoXi5Pn0BvC8tMz"
PY
  git -C "$repo" add -A && commit "2026-10-05T15:30:00Z" "spike: try billing export"
  git -C "$repo" checkout -q main

  echo "# payments ETL" > "$repo/README.md"
  git -C "$repo" add -A && commit "2026-10-20T08:00:00Z" "docs: readme"
fi

# Logs: the live log is copied once (vigil resumes it at its offset, so
# overwriting it would look like a truncation); the rotated one is gzipped.
[ -f "$work/logs/app.log" ] || cp "$here/logs/app.log" "$work/logs/app.log"
[ -f "$work/logs/app.log.1.gz" ] || gzip -n -c "$here/logs/app.log.1" > "$work/logs/app.log.1.gz"
echo "demo fixtures ready in $work"
