#!/usr/bin/env bash
# Sharded runs: the first full run over generated repositories by 1 process
# on SQLite, 1 on PostgreSQL, and 2 and 4 shard processes at once on one
# PostgreSQL database (each shard a `vigil run --shard I/N`, as the pods of a
# Kubernetes Indexed Job), wall time and the speed-up over 1 process on
# PostgreSQL. PostgreSQL is Debian's server, started by bench/pgserve as the
# tests start it. Run it with `make bench`.
#
#   BENCH_SHARD_REPOS="200 1000"   repository counts
source "$(dirname "$0")/common.sh"
go build -o "$bin/pgserve" ./bench/pgserve
[ -d "$data/org-src/small.git" ] || bash bench/genrepo.sh "$data/org-src/small.git" 20

work=$(mktemp -d); trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null; rm -rf "$work"' EXIT
"$bin/pgserve" -n 12 -dsn-file "$work/dsns" & echo $! > "$work/pid"
for _ in $(seq 300); do [ -s "$work/dsns" ] && break; sleep 0.1; done
[ -s "$work/dsns" ] || { echo "pgserve did not start" >&2; exit 1; }
mapfile -t dsns < "$work/dsns"
next=0

# repos N [LONG]: N bare repositories, each the 20-commit template plus one
# commit with a fake key of its own; the first LONG of them the 3,000-commit
# template instead (a skewed set, as an organisation with a few monorepos).
repos() {
  local long=${2:-0}
  local dir="$data/shard-repos-$1-$long"
  if [ ! -f "$dir/.done" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    [ "$long" -eq 0 ] || [ -d "$data/org-src/long.git" ] || bash bench/genrepo.sh "$data/org-src/long.git" 3000
    for i in $(seq -f '%04g' 1 "$1"); do
      local src=small; [ "$((10#$i))" -le "$long" ] && src=long
      cp -r "$data/org-src/$src.git" "$dir/r$i.git"
      local key="AKIA$(printf '%016d' "$RANDOM$RANDOM" | tr 0-9 A-J)"
      local content="aws_access_key_id = \"$key\""
      printf 'commit refs/heads/main\ncommitter B <b@example.test> 1700000000 +0000\ndata 1\nx\nfrom refs/heads/main^0\nM 644 inline leak.ini\ndata %d\n%s\n\n' \
        "${#content}" "$content" | git -C "$dir/r$i.git" fast-import --quiet
    done
    touch "$dir/.done"
  fi
  echo "$dir"
}

# config NAME DB DIR: a vigil.yaml over every repository of DIR.
config() {
  { echo "version: 1"; echo "db: $2"; echo "hash_key_file: $work/vigil.key"; echo "cache_dir: $work/cache"
    echo "sources:"; echo "  git:"
    for r in "$3"/*.git; do echo "    - {name: $(basename "$r" .git), path: $r}"; done
  } > "$work/$1.yaml"
}

timed() { # timed LABEL CMD...: one run's wall seconds
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  read -r wall rss < <(tail -1 "$work/t")
  printf '%-40s %8.1f s %8d MiB\n' "$name" "$wall" $((rss / 1024))
  echo "$wall" > "$work/last"
}


# sharded LABEL CONFIG K KEY [--queue]: K shard processes at once, one run.
sharded() {
  local label=$1 cfg=$2 k=$3 key=$4 q=${5:-}
  timed "$label" bash -c '
    for i in $(seq 0 $(($3 - 1))); do "$0" run --config "$1" --shard "$i/$3" --run-key "$2" $4 --quiet & done; wait' \
    "$bin/vigil" "$cfg" "$key" "$k" "$q"
}

for n in ${BENCH_SHARD_REPOS:-200 1000}; do
  dir=$(repos "$n")
  echo "== $n repositories (20 commits each, one leak each), first full run"
  config sqlite "$work/sqlite-$n.db" "$dir"
  timed "1 process, SQLite" "$bin/vigil" run --config "$work/sqlite.yaml" --quiet --fail-on critical
  config pg1 "${dsns[$next]}" "$dir"; next=$((next + 1))
  timed "1 process, PostgreSQL" "$bin/vigil" run --config "$work/pg1.yaml" --quiet --fail-on critical
  one=$(cat "$work/last")
  for k in 2 4; do
    config "pg$k" "${dsns[$next]}" "$dir"; next=$((next + 1))
    sharded "$k shard processes, PostgreSQL" "$work/pg$k.yaml" "$k" "bench-$n-$k"
    awk -v a="$one" -v b="$(cat "$work/last")" -v k="$k" 'BEGIN { printf "  speed-up with %d shards: %.2fx\n", k, a / b }'
  done
done

# Skew: a few 3,000-commit repositories among small ones. By hash, two of
# them can land on one shard; from the queue, each shard takes the next.
n=${BENCH_SHARD_SKEW_REPOS:-200}
dir=$(repos "$n" 4)
echo "== $n repositories, 4 of them with 3,000 commits: 2 shards by hash and from the queue"
config skew1 "${dsns[$next]}" "$dir"; next=$((next + 1))
timed "1 process, PostgreSQL" "$bin/vigil" run --config "$work/skew1.yaml" --quiet --fail-on critical
one=$(cat "$work/last")
config skewh "${dsns[$next]}" "$dir"; next=$((next + 1))
sharded "2 shard processes, by hash" "$work/skewh.yaml" 2 "skew-hash"
awk -v a="$one" -v b="$(cat "$work/last")" 'BEGIN { printf "  speed-up: %.2fx\n", a / b }'
config skewq "${dsns[$next]}" "$dir"; next=$((next + 1))
sharded "2 shard processes, from the queue" "$work/skewq.yaml" 2 "skew-queue" --queue
awk -v a="$one" -v b="$(cat "$work/last")" 'BEGIN { printf "  speed-up: %.2fx\n", a / b }'
