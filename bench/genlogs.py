#!/usr/bin/env python3
"""Generates application logs for the log benchmark: a realistic mix of
request lines, SQL timings, stack traces and key=value debug lines (which
trip gitleaks' keyword prefilter), with a few fake secrets planted. Output is
deterministic for a given seed, so vigil and gitleaks read the same bytes."""
import os, random, sys

def main(out_dir, total_mb, files):
    rnd = random.Random(42)
    os.makedirs(out_dir, exist_ok=True)
    alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    per_file = total_mb * 1024 * 1024 // files
    paths = ["/api/v1/orders", "/api/v1/items", "/healthz", "/api/v2/customers/search", "/metrics"]
    for i in range(files):
        with open(os.path.join(out_dir, f"service-{i:02d}.log"), "w") as f:
            size, n = 0, 0
            while size < per_file:
                n += 1
                r = rnd.random()
                ts = f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:{(n * 7) % 60:02d}Z"
                if r < 0.70:
                    line = f"{ts} INFO  request method=GET path={rnd.choice(paths)} status=200 latency_ms={rnd.randint(1, 900)} req_id={rnd.getrandbits(64):016x}\n"
                elif r < 0.85:
                    line = f"{ts} DEBUG sql query=\"select * from orders where id = ?\" rows={rnd.randint(0, 50)} took_ms={rnd.randint(1, 80)}\n"
                elif r < 0.95:
                    line = f"{ts} DEBUG auth token_type=bearer scope=read session={rnd.getrandbits(48):012x} user=svc-{rnd.randint(1, 40)}\n"
                elif r < 0.99995:
                    line = f"{ts} WARN  retry attempt={rnd.randint(1, 5)} upstream=warehouse error=\"connection reset by peer\"\n"
                else:
                    key = "AKIA" + "".join(rnd.choice(alpha) for _ in range(16))
                    line = f"{ts} ERROR s3 upload failed access_key={key} bucket=exports\n"
                f.write(line)
                size += len(line)

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 8)
