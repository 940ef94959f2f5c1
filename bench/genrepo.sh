#!/usr/bin/env bash
# Generates a repository for the git benchmark: COMMITS commits of churn in
# Go, YAML and Python files on several branches, with fake secrets planted
# now and then, built with git fast-import so that thousands of commits take
# seconds. Deterministic for a given size.
set -euo pipefail
out=$1; commits=${2:-3000}
rm -rf "$out"; git init -q --bare "$out"
python3 - "$commits" <<'PY' | git -C "$out" fast-import --quiet
import random, sys
n = int(sys.argv[1]); rnd = random.Random(7)
alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
files = {}
def blob(data):
    b = data.encode()
    sys.stdout.buffer.write(b"data %d\n" % len(b) + b + b"\n")
mark = 0
for i in range(n):
    branch = "main" if i % 10 else f"feature/{i // 10 % 40}"
    changes = []
    for _ in range(rnd.randint(1, 6)):
        path = rnd.choice([f"svc{rnd.randint(0, 30)}/handler{rnd.randint(0, 20)}.go",
                           f"deploy/{rnd.randint(0, 15)}/values.yaml", f"etl/job{rnd.randint(0, 25)}.py"])
        lines = files.get(path, [])
        for _ in range(rnd.randint(5, 60)):
            pos = rnd.randint(0, len(lines))
            lines.insert(pos, f"    x{rnd.getrandbits(32):08x} := compute(\"{rnd.getrandbits(64):016x}\") // step {i}")
        if rnd.random() < 0.01:
            lines.append('aws_access_key_id = "AKIA' + "".join(rnd.choice(alpha) for _ in range(16)) + '"')
        files[path] = lines[-400:]
        changes.append((path, "\n".join(files[path]) + "\n"))
    sys.stdout.write(f"commit refs/heads/{branch}\n")
    sys.stdout.write(f"committer Bench <bench@example.test> {1700000000 + i * 600} +0000\n")
    sys.stdout.flush(); blob(f"change {i}")
    if i > 0 and branch != "main" and i % 10 == 0:
        pass
    for path, data in changes:
        sys.stdout.write(f"M 644 inline {path}\n"); sys.stdout.flush(); blob(data)
    sys.stdout.write("\n")
PY
echo "generated $out: $(git -C "$out" rev-list --all --count) commits" >&2
