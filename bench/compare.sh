#!/usr/bin/env bash
# Compares vigil with the gitleaks CLI, built as gitleaks' releases are, on
# the same inputs: git repositories' full histories, a directory of logs and
# a source directory. Reports wall time, peak RSS, findings of each (the sets
# must be equal, or the script fails), and vigil's no-change rescan time.
# Run it with `make bench`.
#
#   BENCH_REPOS="/a /b"        more repositories to scan after the generated
#                              3,000-commit one (bench/README.md names the
#                              real ones measured: fetched, never committed)
#   BENCH_LOG_MB=512           size of the generated log directory
#   BENCH_SRC=/path/to/dir     source directory to scan (default: Go's own $GOROOT/src, 157 MB)
source "$(dirname "$0")/common.sh"
install_gitleaks
install_peers

generated="$data/generated.git"
[ -d "$generated" ] || bash bench/genrepo.sh "$generated" 3000
repos=("$generated")
# shellcheck disable=SC2206
[ -n "${BENCH_REPOS:-${BENCH_REPO:-}}" ] && repos+=(${BENCH_REPOS:-$BENCH_REPO})
logs="$data/logs"
mb="${BENCH_LOG_MB:-512}"
if [ ! -f "$logs/.mb-$mb" ]; then
  rm -rf "$logs"; python3 bench/genlogs.py "$logs" "$mb" 8; touch "$logs/.mb-$mb"
fi

RUNS=${BENCH_RUNS:-5}
# measure NAME PREP CMD...: runs PREP then CMD, RUNS times, and prints the
# median wall time and the largest peak RSS in MiB (exit codes 0 and 1 are
# both success: 1 means "found something").
measure() {
  local name=$1 prep=$2; shift 2
  local times=()
  for ((i = 0; i < RUNS; i++)); do
    eval "$prep"
    /usr/bin/time -f "%e %M" -o "$data/$name.time.$i" "$@" >/dev/null 2>"$data/last.stderr" || {
      rc=$?; [ $rc -eq 1 ] || [ $rc -eq 200 ] || { cat "$data/last.stderr" >&2; exit $rc; }; }
  done
  for ((i = 0; i < RUNS; i++)); do tail -1 "$data/$name.time.$i"; done |
    python3 -c "import sys,statistics; r=[l.split() for l in sys.stdin]; print(f'{statistics.median(float(x[0]) for x in r):.2f} {max(int(x[1]) for x in r)/1024:.0f}')"
}

# paired NAME CMD_A PREP_B CMD_B: A and B (shell strings) in turn, RUNS
# times each, and the median of the per-pair ratios of wall time A/B, with
# their range. The machine's speed drifts within a run; a ratio of two runs
# made one after the other does not.
paired() {
  local name=$1 a=$2 prep=$3 b=$4 i
  for ((i = 0; i < RUNS; i++)); do
    eval "/usr/bin/time -f %e -o \"$data/$name.a.$i\" $a" >/dev/null 2>&1 || true
    eval "$prep"
    eval "/usr/bin/time -f %e -o \"$data/$name.b.$i\" $b" >/dev/null 2>&1 || true
  done
  python3 - "$data/$name" "$RUNS" <<'PY'
import statistics, sys
p, n = sys.argv[1], int(sys.argv[2])
t = lambda f: float(open(f).read().split()[-1])
r = [t(f"{p}.a.{i}") / t(f"{p}.b.{i}") for i in range(n)]
print(f"{statistics.median(r):.2f}x (pairs {min(r):.2f} to {max(r):.2f})")
PY
}

# scan_pair TAG KIND TARGET GITLEAKS_ARGS...: vigil-scan RE2=cgo against the
# gitleaks CLI, in turn (paired), when vigil-scan could be built. Each writes
# its findings as JSON once: gitleaks its report, vigil-scan to stdout (and
# its database), without the three other reports --out adds.
scan_pair() {
  local tag=$1 kind=$2 target=$3; shift 3
  [ -x "$bin/vigil-scan-cgo" ] || return 0
  echo "vigil-scan RE2=cgo against gitleaks, run in turn: $(paired "pair-$tag" \
    "\"$bin/gitleaks\" $* --no-banner --redact -l error -f json -r \"$data/pair-$tag.json\"" \
    "rm -f \"$data\"/pair-$tag.db*" \
    "\"$bin/vigil-scan-cgo\" scan $kind \"$target\" --db \"$data/pair-$tag.db\" -q --format json")"
}

compare() { # compare KIND GITLEAKS_JSON VIGIL_JSON ROOT
  python3 - "$@" <<'PY'
import json, sys, os
kind, gl, vg, root = sys.argv[1:5]
def rel(p):
    p = p.replace("\\", "/")
    return os.path.relpath(p, root) if os.path.isabs(p) else p
from collections import Counter
# Multisets, not sets: two secrets at one place (decoded from one blob) are
# two findings, and a tool that kept one of them must not compare equal.
a = Counter((f.get("Commit", ""), rel(f["File"]), f["StartLine"], f["RuleID"]) for f in json.load(open(gl)))
b = Counter()
for f in json.load(open(vg)):
    e = f["evidence"]
    b[(e.get("commit", ""), rel(e["file"]), e["line"], e["rule"])] += 1
print(f"{sum(a.values())} {sum(b.values())} {'equal' if a == b else 'DIFFERENT'}")
if a != b:
    for x in sorted((a - b).elements())[:10]: print("  only gitleaks:", x, file=sys.stderr)
    for x in sorted((b - a).elements())[:10]: print("  only vigil:   ", x, file=sys.stderr)
PY
}

# table TOOL LABEL1 LABEL2 LABEL3 GL_T GL_M GN VG_T VG_M VN RE_T RE_M EQ
table() {
  printf '| tool | wall s | peak RSS MiB | findings |\n|---|---:|---:|---:|\n'
  printf '| %s | %s | %s | %s |\n' "$1" "$4" "$5" "$6" "$2" "$7" "$8" "$9"
  printf '| %s | %s | %s | |\n' "$3" "${10}" "${11}"
  echo "speed-up: $(python3 -c "print(f'{$4/$7:.2f}x')"); finding sets: ${12}"
}

# peers TAG TARGET BETTERLEAKS_ARGS...: betterleaks and Kingfisher on TARGET.
# Their rule sets differ from gitleaks', so their finding counts are
# reported, not compared. betterleaks 2 writes {schema_version, findings,
# scan}: its count is that of findings (the number of keys was printed).
peers() {
  local tag=$1 target=$2; shift 2
  local bl_t bl_m kf_t kf_m
  read -r bl_t bl_m <<<"$(measure "bl-$tag" : "$bin/peers/betterleaks/bin/betterleaks" "$@" -l error -o "$data/bl-$tag.json")"
  read -r kf_t kf_m <<<"$(measure "kf-$tag" : "$bin/peers/kingfisher/bin/kingfisher" scan "$target" --no-validate --no-update-check -f json -o "$data/kf-$tag.json")"
  printf '| betterleaks 2.0.0 | %s | %s | %s |\n' "$bl_t" "$bl_m" "$(python3 -c "import json; d = json.load(open('$data/bl-$tag.json')); print(len(d['findings'] if isinstance(d, dict) else d))")"
  printf '| Kingfisher 2.14.0 scan | %s | %s | %s |\n' "$kf_t" "$kf_m" "$(python3 -c "import json; print(len(json.load(open('$data/kf-$tag.json'))['findings']))")"
}

# cgo_row TAG KIND TARGET ROOT GITLEAKS_JSON GITLEAKS_SECONDS GITLEAKS_MIB [rescan]:
# the RE2=cgo builds on TARGET (when they could be built): vigil, and
# vigil-scan (the scan-only build), each finding set compared with
# gitleaks' (paths relative to ROOT); with "rescan", a no-change rescan too.
cgo_row() {
  local tag=$1 kind=$2 target=$3 croot=$4 gl=$5 gl_t=$6 gl_m=$7 rescan=${8:-}
  local b label t m r_t r_m gn n eq
  for b in vigil-cgo vigil-scan-cgo vigil-scan-cgo-noprefilter; do
    [ -x "$bin/$b" ] || continue
    case $b in
      vigil-cgo) label="vigil RE2=cgo" ;;
      vigil-scan-cgo) label="vigil-scan RE2=cgo" ;;
      *) label="vigil-scan RE2=cgo, no prefilter" ;;
    esac
    read -r t m <<<"$(measure "$b-$tag" "rm -f \"$data\"/$b-$tag.db*" "$bin/$b" scan "$kind" "$target" --db "$data/$b-$tag.db" -q --format json --out "$data/$b-$tag")"
    cp "$data/$b-$tag/findings.json" "$data/$b-$tag.json"
    read -r gn n eq <<<"$(compare "$kind" "$gl" "$data/$b-$tag.json" "$croot")"
    [ "$eq" = equal ] || fail=1
    printf '| %s scan %s (first) | %s | %s | %s |\n' "$label" "$kind" "$t" "$m" "$n"
    if [ -n "$rescan" ]; then
      read -r r_t r_m <<<"$(measure "$b-$tag-2" : "$bin/$b" scan "$kind" "$target" --db "$data/$b-$tag.db" -q --format json)"
      printf '| %s scan %s (no-change rescan) | %s | %s | |\n' "$label" "$kind" "$r_t" "$r_m"
    fi
    echo "$label: $(python3 -c "print(f'{$gl_t/$t:.2f}x')") gitleaks' speed, $(python3 -c "print(f'{$m/$gl_m:.2f}x')") its peak memory; finding sets: $eq"
  done
}

# The RE2=cgo builds (the system's libre2 and libvectorscan, as make build
# RE2=cgo), where they can be built; and the scan-only one without
# Vectorscan, to show in the same run what the prefilter wins. The
# prefilter's compiled rules are kept beside the database ($data/.vigil-cache),
# as a nightly job keeps them: the first run of all compiles them (0.3-0.45 s).
rm -f "$bin/vigil-cgo" "$bin/vigil-scan-cgo" "$bin/vigil-scan-cgo-noprefilter"
if pkg-config --exists re2 libhs 2>/dev/null; then
  static=(-ldflags "-linkmode=external -extldflags=-static")
  CGO_ENABLED=1 go build -tags gore2regex,re2_cgo,vectorscan,osusergo,netgo "${static[@]}" -o "$bin/vigil-cgo" ./cmd/vigil
  CGO_ENABLED=1 go build -tags gore2regex,re2_cgo,vectorscan,osusergo,netgo,scanonly "${static[@]}" -o "$bin/vigil-scan-cgo" ./cmd/vigil
  CGO_ENABLED=1 go build -tags gore2regex,re2_cgo,osusergo,netgo,scanonly "${static[@]}" -o "$bin/vigil-scan-cgo-noprefilter" ./cmd/vigil
fi

echo "medians of $RUNS runs each"
echo
fail=0
for i in "${!repos[@]}"; do
  repo=${repos[$i]}
  echo "## git history: $repo ($(git -C "$repo" rev-list --all --count) commits)"
  read -r gl_t gl_m <<<"$(measure "gl-git$i" : "$bin/gitleaks" git "$repo" --no-banner --redact -l error -f json -r "$data/gl-git$i.json")"
  read -r vg_t vg_m <<<"$(measure "vg-git$i" "rm -f \"$data\"/g$i.db*" "$bin/vigil" scan git "$repo" --db "$data/g$i.db" -q --format json --out "$data/vg-git$i")"
  cp "$data/vg-git$i/findings.json" "$data/vg-git$i.json"
  read -r re_t re_m <<<"$(measure "vg-git$i-2" : "$bin/vigil" scan git "$repo" --db "$data/g$i.db" -q --format json)"
  read -r gn vn eq <<<"$(compare git "$data/gl-git$i.json" "$data/vg-git$i.json" "$repo")"
  [ "$eq" = equal ] || fail=1
  table "gitleaks $GITLEAKS_VERSION git" "vigil scan git (first, full history)" "vigil scan git (no-change rescan)" \
    "$gl_t" "$gl_m" "$gn" "$vg_t" "$vg_m" "$vn" "$re_t" "$re_m" "$eq"
  peers "git$i" "$repo" git "$repo" --no-banner --redact
  cgo_row "git$i" git "$repo" "$repo" "$data/gl-git$i.json" "$gl_t" "$gl_m" rescan
  scan_pair "git$i" git "$repo" git "\"$repo\""
  echo
done

echo "## logs: $logs ($(du -sm "$logs" | cut -f1) MiB in $(ls "$logs"/*.log | wc -l) files)"
read -r gl_t gl_m <<<"$(measure gl-dir : "$bin/gitleaks" dir "$logs" --no-banner --redact -l error -f json -r "$data/gl-dir.json")"
read -r vg_t vg_m <<<"$(measure vg-logs 'rm -f "$data"/l.db*' "$bin/vigil" scan logs "$logs/*.log" --db "$data/l.db" -q --format json --out "$data/vg-logs")"
cp "$data/vg-logs/findings.json" "$data/vg-logs.json"
read -r re_t re_m <<<"$(measure vg-logs2 : "$bin/vigil" scan logs "$logs/*.log" --db "$data/l.db" -q --format json)"
read -r gn vn eq <<<"$(compare dir "$data/gl-dir.json" "$data/vg-logs.json" "$logs")"
[ "$eq" = equal ] || fail=1
table "gitleaks $GITLEAKS_VERSION dir" "vigil scan logs (first)" "vigil scan logs (no-change rescan)" \
  "$gl_t" "$gl_m" "$gn" "$vg_t" "$vg_m" "$vn" "$re_t" "$re_m" "$eq"
peers logs "$logs" "$logs"
cgo_row logs logs "$logs/*.log" "$logs" "$data/gl-dir.json" "$gl_t" "$gl_m" rescan
scan_pair logs logs "$logs/*.log" dir "\"$logs\""
echo

src="${BENCH_SRC:-$(go env GOROOT)/src}"
echo "## source directory: $src ($(du -sm "$src" | cut -f1) MiB)"
read -r gl_t gl_m <<<"$(measure gl-src : "$bin/gitleaks" dir "$src" --no-banner --redact -l error -f json -r "$data/gl-src.json")"
read -r vg_t vg_m <<<"$(measure vg-src 'rm -f "$data"/s.db*' "$bin/vigil" scan dir "$src" --db "$data/s.db" -q --format json --out "$data/vg-src")"
cp "$data/vg-src/findings.json" "$data/vg-src.json"
read -r re_t re_m <<<"$(measure vg-src2 : "$bin/vigil" scan dir "$src" --db "$data/s.db" -q --format json)"
read -r gn vn eq <<<"$(compare dir "$data/gl-src.json" "$data/vg-src.json" "$src")"
[ "$eq" = equal ] || fail=1
table "gitleaks $GITLEAKS_VERSION dir" "vigil scan dir (first)" "vigil scan dir (second)" \
  "$gl_t" "$gl_m" "$gn" "$vg_t" "$vg_m" "$vn" "$re_t" "$re_m" "$eq"
peers src "$src" "$src"
cgo_row src dir "$src" "$src" "$data/gl-src.json" "$gl_t" "$gl_m"
scan_pair src dir "$src" dir "\"$src\""
[ "$fail" = 0 ] || { echo "a finding set differs from gitleaks' (above)" >&2; exit 1; }
