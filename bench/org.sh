#!/usr/bin/env bash
# A GitHub organisation of many repositories, scanned the way a nightly job
# scans it: the first full scan, a night with no change, a night with 10
# changed repositories, peak memory at 100 and at all repositories, and the
# first scan compared with the gitleaks CLI run over the same repositories
# in a shell loop (clone, then `gitleaks git`), the way its users do it.
# The organisation is served by bench/orgserve: the real git smart-HTTP
# server and the GitHub replay server on loopback. Run it with `make bench`.
#
#   BENCH_ORG_REPOS=1000   repositories (3 of them with 3,000-commit histories)
#   BENCH_ORG_FORKS=20     forks of a long one among them (scanned with --forks)
source "$(dirname "$0")/common.sh"
install_gitleaks
N=${BENCH_ORG_REPOS:-1000}
FORKS=${BENCH_ORG_FORKS:-20}
go build -o "$bin/orgserve" ./bench/orgserve

# commit REPO TAG: one new commit on main, with a fake key in it.
commit() {
  local key="AKIA$(printf '%016d' "$RANDOM$RANDOM" | tr 0-9 A-J)"
  local content="aws_access_key_id = \"$key\" # $2"
  printf 'commit refs/heads/main\ncommitter Bench <bench@example.test> 1700000000 +0000\ndata %d\n%s\nfrom refs/heads/main^0\nM 644 inline change-%s.ini\ndata %d\n%s\n\n' \
    "${#2}" "$2" "$2" "${#content}" "$content" | git -C "$1" fast-import --quiet
}

org="$data/org-$N-$FORKS"
if [ ! -f "$org/.done" ]; then
  rm -rf "$org"; mkdir -p "$org/acme" "$data/org-src"
  [ -d "$data/org-src/small.git" ] || bash bench/genrepo.sh "$data/org-src/small.git" 20
  [ -d "$data/org-src/long.git" ] || bash bench/genrepo.sh "$data/org-src/long.git" 3000
  for i in $(seq -f '%04g' 1 "$N"); do
    src=small; [ "$i" -le 3 ] && src=long
    cp -r "$data/org-src/$src.git" "$org/acme/r$i.git"
    commit "$org/acme/r$i.git" "r$i"
  done
  for i in $(seq -f '%02g' 1 "$FORKS"); do
    cp -r "$data/org-src/long.git" "$org/acme/fork-$i.git"
    commit "$org/acme/fork-$i.git" "fork$i"
  done
  touch "$org/.done"
fi

export BENCH_GH_TOKEN="ghp_$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
serve() { # serve N URLFILE: an orgserve listing the first N repositories
  rm -f "$2"
  "$bin/orgserve" -root "$org" -n "$1" -url-file "$2" & echo $! >> "$work/pids"
  for _ in $(seq 100); do [ -s "$2" ] && return; sleep 0.1; done
  echo "orgserve did not start" >&2; exit 1
}
work=$(mktemp -d); trap 'kill $(cat "$work/pids" 2>/dev/null) 2>/dev/null; rm -rf "$work"' EXIT
serve 0 "$work/all.url"
serve 100 "$work/small.url"

# timed NAME CMD...: wall seconds and peak RSS (MiB) of one run.
timed() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/t" bash -c '"$@"' _ "$@" >/dev/null 2>"$work/err" || [ $? -eq 1 ] || { cat "$work/err" >&2; exit 1; }
  read -r wall rss < <(tail -1 "$work/t")
  printf '%-44s %8.1f s %8d MiB\n' "$name" "$wall" $((rss / 1024))
}
scan() { # scan DB URL: vigil scan github over the organisation
  GITHUB_TOKEN=$BENCH_GH_TOKEN "$bin/vigil" scan github acme --api-url "$(head -1 "$2")" --forks --workers 4 \
    --db "$1" --format json --quiet
}
# The gitleaks CLI's way: clone each repository, then scan it, one by one.
gitleaks_loop() {
  local git_url; git_url=$(sed -n 2p "$work/all.url")
  local base="${git_url/http:\/\//http://x-access-token:$BENCH_GH_TOKEN@}"
  mkdir -p "$work/gl"
  for d in "$org"/acme/*.git; do
    local name; name=$(basename "$d")
    git clone -q --mirror "${base}acme/$name" "$work/gl/$name"
    "$bin/gitleaks" git "$work/gl/$name" --no-banner --log-level error --exit-code 0 \
      --report-format json --report-path "$work/gl/$name.json"
    rm -rf "$work/gl/$name"
  done
}
export -f scan gitleaks_loop
export bin work org
mkdir -p "$work/small" "$work/all"
total=$((N + FORKS))
echo "organisation: $total repositories ($N + $FORKS forks; 3 + $FORKS with 3,000 commits)"
timed "vigil: first scan, first $((N < 100 ? N : 100)) repositories" scan "$work/small/vigil.db" "$work/small.url"
timed "vigil: first scan, $total repositories" scan "$work/all/vigil.db" "$work/all.url"
timed "vigil: no-change night, $total repositories" scan "$work/all/vigil.db" "$work/all.url"
changed=$((N < 10 ? N : 10))
for i in $(seq -f '%04g' 1 "$changed"); do commit "$org/acme/r$i.git" "night2-$i-$RANDOM"; done
timed "vigil: night with $changed changed repositories" scan "$work/all/vigil.db" "$work/all.url"
echo "findings: vigil $(sqlite3 "$work/all/vigil.db" "SELECT COUNT(*) FROM findings WHERE kind='leak.git'" 2>/dev/null || echo '?')"

timed "gitleaks CLI loop: clone + scan, $total repos" gitleaks_loop
echo "findings: gitleaks $(python3 -c 'import glob, json, sys
print(sum(len(json.load(open(p))) for p in glob.glob(sys.argv[1] + "/*.json")))' "$work/gl")"
