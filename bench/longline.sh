#!/usr/bin/env bash
# A log that is one 200 MB line (a minified JSON dump, a runaway logger):
# `vigil scan logs` must stay linear in time and bounded in memory, close to
# `vigil scan dir` of the same file. Prints wall time and peak RSS of both.
#
#   BENCH_LONGLINE_MB=200   size of the line
source "$(dirname "$0")/common.sh"
data="$data/longline"
mkdir -p "$data/logs"
mb="${BENCH_LONGLINE_MB:-200}"
f="$data/logs/one-line.log"
if [ ! -f "$data/.mb-$mb" ]; then
  python3 - "$f" "$mb" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
word = b'{"k":"value","n":12345,"ok":true},'
with open(path, "wb") as out:
    n = 0
    while n < mb << 20:
        out.write(word * 4096); n += len(word) * 4096
    out.write(b' aws_access_key_id=AKIAZZZZZZZZZZZZZZZZ end')  # no trailing newline
PY
  touch -d '1 hour ago' "$f"; touch "$data/.mb-$mb"
fi
run() { # run NAME ARGS...
  local name=$1; shift
  rm -f "$data/$name.db"*
  /usr/bin/time -f "%e %M" -o "$data/$name.time" "$bin/vigil" "$@" --db "$data/$name.db" -q >/dev/null 2>&1 || true
  read -r secs kb < "$data/$name.time"
  printf '| %s | %s | %d |\n' "$name" "$secs" "$((kb / 1024))"
}
echo "one ${mb} MB line, no newline"
printf '| scan | wall s | peak RSS MiB |\n|---|---:|---:|\n'
VIGIL_HASH_KEY=$(printf 'k%.0s' {1..32}) run logs scan logs "$data/logs/*.log"
VIGIL_HASH_KEY=$(printf 'k%.0s' {1..32}) run dir scan dir "$data/logs"
