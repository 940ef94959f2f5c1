#!/usr/bin/env bash
# Monthly workbook benchmark: a store with N findings (default 1,000,000)
# over a month of runs, then `vigil report monthly` timed with its peak RSS.
#   BENCH_FINDINGS=1000000 BENCH_RUNS=3 bash bench/monthly.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_FINDINGS:-1000000}
RUNS=${BENCH_RUNS:-3}
DB=bench/.data/monthly-$N.db
mkdir -p bench/.data
go build -tags=gore2regex -o bin/vigil ./cmd/vigil
if [ ! -s "$DB" ]; then
  echo "generating $N findings into $DB ..."
  go run ./bench/genfindings -db "$DB" -n "$N" -month 2026-10
fi
echo "database: $(du -h "$DB" | cut -f1)"
for i in $(seq "$RUNS"); do
  rm -f bench/.data/monthly.xlsx
  /usr/bin/time -f "run $i: %e s wall, %U s user, peak RSS %M KiB" \
    ./bin/vigil report monthly --db "$DB" --month 2026-10 --out bench/.data/monthly.xlsx -q
done
echo "workbook: $(du -h bench/.data/monthly.xlsx | cut -f1)"
