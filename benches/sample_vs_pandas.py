"""mlkit sample against pandas and polars on a generated CSV: wall time, peak memory, ratios.

    python -m venv .venv && .venv/bin/pip install -r benches/requirements.txt
    cargo build --release -p mlkit   # GNU time too: apt-get install time
    .venv/bin/python benches/sample_vs_pandas.py [--gb 1.0] [--groups 1000] [--frac 0.1]

Each tool runs once, in its own process, on the same file (the page cache is warmed by
writing it); peak memory is that process's maximum resident set size as GNU time reports
it. pandas runs the notes' pipeline: read_csv, groupby(...).sample(frac, random_state),
to_csv. The script also checks that mlkit wrote exactly pandas' rows, in pandas' order.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def generate(path, target_bytes, groups, seed=0):
    """Rows of ~100 bytes: id, a skewed group label, two numbers, a short text."""
    rng = np.random.default_rng(seed)
    # Zipf-like group sizes: a few big groups, a long tail.
    p = 1.0 / np.arange(1, groups + 1) ** 0.8
    p /= p.sum()
    labels = np.array([f"cat_{i:04d}" for i in range(groups)])
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
    written = 0
    next_id = 0
    with open(path, "w") as f:
        f.write("id,Category,x,y,text\n")
        while written < target_bytes:
            n = 200_000
            g = labels[rng.choice(groups, size=n, p=p)]
            x = rng.normal(size=n)
            y = rng.integers(0, 1_000_000, size=n)
            t1 = words[rng.integers(0, len(words), size=n)]
            t2 = words[rng.integers(0, len(words), size=n)]
            ids = np.arange(next_id, next_id + n)
            next_id += n
            chunk = "".join(
                f"{i},{c},{a:.6f},{b},{u} {v} {u} {v} {u} {v}\n"
                for i, c, a, b, u, v in zip(ids, g, x, y, t1, t2)
            )
            f.write(chunk)
            written += len(chunk)
    return next_id


def run(cmd, out_path):
    """Runs cmd with stdout to out_path; returns (seconds, peak RSS in MiB).

    GNU time measures the command alone (wait4 on a child forked from this big Python
    process would also count the parent's pages it started with)."""
    report = out_path + ".time"
    with open(out_path, "wb") as out:
        start = time.perf_counter()
        status = subprocess.call(["/usr/bin/time", "-f", "%M", "-o", report] + cmd, stdout=out)
        secs = time.perf_counter() - start
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    with open(report) as f:
        kib = int(f.read().strip().splitlines()[-1])
    return secs, kib / 1024


def ids(path):
    """The id column, which is the first."""
    with open(path, "rb") as f:
        next(f)
        return [line.split(b",", 1)[0] for line in f]


PANDAS = """
import sys, pandas as pd
df = pd.read_csv(sys.argv[1])
df.groupby("Category").sample(frac=float(sys.argv[2]), random_state=int(sys.argv[3])).to_csv(sys.stdout, index=False)
"""

POLARS = """
import sys, polars as pl
df = pl.read_csv(sys.argv[1])
frac, seed = float(sys.argv[2]), int(sys.argv[3])
df.select(pl.all().sample(fraction=frac, seed=seed).over("Category", mapping_strategy="explode")).write_csv(sys.stdout)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--frac", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--mlkit", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mlkit"))
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--data", help="use this CSV (with id and Category columns) instead of generating one")
    args = ap.parse_args()

    import pandas, polars
    print(f"pandas {pandas.__version__}, numpy {np.__version__}, polars {polars.__version__}, "
          f"{os.cpu_count()} CPUs")
    tmp = tempfile.mkdtemp(prefix="mlkit-bench-")
    data = os.path.join(tmp, "data.csv")
    if args.data:
        data = args.data
        with open(data) as f:
            rows = sum(1 for _ in f) - 1
    else:
        rows = generate(data, int(args.gb * 1e9), args.groups)
    size = os.path.getsize(data)
    print(f"input: {size / 1e9:.2f} GB, {rows:,} rows, {args.groups} groups, frac {args.frac}")

    a = [str(args.frac), str(args.seed)]
    results = {}
    results["mlkit"] = run([args.mlkit, "sample", "--by", "Category", "--frac", a[0], "--seed", a[1], data],
                           os.path.join(tmp, "mlkit.csv"))
    results["pandas"] = run([sys.executable, "-c", PANDAS, data] + a, os.path.join(tmp, "pandas.csv"))
    results["polars"] = run([sys.executable, "-c", POLARS, data] + a, os.path.join(tmp, "polars.csv"))

    # pandas rewrites numbers on output (0.500000 becomes 0.5), so compare the rows' ids.
    same = ids(os.path.join(tmp, "mlkit.csv")) == ids(os.path.join(tmp, "pandas.csv"))
    print(f"mlkit wrote the rows pandas wrote, in the same order: {same}")
    print(f"{'tool':<8}{'wall s':>10}{'peak MiB':>12}{'x faster than':>16}{'mem / input':>14}")
    for name, (secs, mib) in results.items():
        ratio = results["pandas"][0] / secs
        print(f"{name:<8}{secs:>10.2f}{mib:>12.0f}{ratio:>14.1f}x{mib * 2**20 / size:>14.3f}")
    m, p, q = results["mlkit"], results["pandas"], results["polars"]
    print(f"mlkit vs pandas: {p[0] / m[0]:.1f}x faster, {p[1] / m[1]:.1f}x less memory; "
          f"vs polars: {q[0] / m[0]:.1f}x faster, {q[1] / m[1]:.1f}x less memory")
    if not args.keep:
        for f in os.listdir(tmp):
            if os.path.join(tmp, f) == data and args.data:
                continue
            os.remove(os.path.join(tmp, f))
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
