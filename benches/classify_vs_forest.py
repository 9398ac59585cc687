"""Fine-tuning against a forest on frozen embeddings, on one split of the topic set
(crates/mlkit-forest/tests/fixtures/make_topics.py: Debian package descriptions in four
topics, split by source package): `mlkit classify train` fine-tunes all-MiniLM-L6-v2 with a
softmax head, `mlkit forest train --embed --extra-trees` grows 200 extra trees on the same
model's sentence embeddings. Both learn from the same rows, both are scored on the test set.

The classifier needs a development set to pick its best epoch: every tenth training row
(deterministic) is held out for it, and the forest trains on the same remaining rows, so
neither sees a row the other does not. No Python packages are needed.

    cargo build --release -p mlkit
    python benches/classify_vs_forest.py [--threads 2] [--epochs 5] [--model ../shared/models/all-MiniLM-L6-v2]
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu import cpu_features  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "crates", "mlkit-forest", "tests", "fixtures")


def write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["text", "topic"])
        w.writeheader()
        w.writerows(rows)


def run(cmd):
    """Runs cmd, returning (seconds, stdout); stderr goes through (epoch lines, notes)."""
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return time.perf_counter() - start, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--model", default=os.path.join(ROOT, "..", "shared", "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--mlkit", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mlkit"))
    args = ap.parse_args()
    print(f"CPU features: {cpu_features()}; {args.threads} threads; model {args.model}")
    rows = list(csv.DictReader(open(os.path.join(FIXTURES, "topics_train.csv"), newline="")))
    train = [r for i, r in enumerate(rows) if i % 10 != 9]
    dev = [r for i, r in enumerate(rows) if i % 10 == 9]
    test = os.path.join(FIXTURES, "topics_test.csv")
    tmp = tempfile.mkdtemp()
    train_csv, dev_csv = os.path.join(tmp, "train.csv"), os.path.join(tmp, "dev.csv")
    write(train_csv, train)
    write(dev_csv, dev)
    n_test = sum(1 for _ in csv.DictReader(open(test, newline="")))
    print(f"{len(train)} training, {len(dev)} development (every tenth row) and {n_test} test texts")
    threads = ["--threads", str(args.threads)]

    out_dir = os.path.join(tmp, "classifier")
    train_s, _ = run([args.mlkit, "classify", "train", "--train", train_csv, "--dev", dev_csv,
                      "--text-column", "text", "--label-column", "topic", "--model", args.model,
                      "--epochs", str(args.epochs), "-o", out_dir] + threads)
    eval_s, out = run([args.mlkit, "-q", "classify", "eval", test, "--model", out_dir,
                       "--gold-column", "topic", "--format", "json"] + threads)
    fine_tuned = json.loads(out)

    model = os.path.join(tmp, "topics.forest")
    forest_s, _ = run([args.mlkit, "-q", "forest", "train", train_csv, "--target", "topic", "--embed", "text",
                       "--embed-model", args.model, "--extra-trees", "--trees", "200", "-o", model] + threads)
    forest_eval_s, out = run([args.mlkit, "-q", "forest", "eval", model, test, "--format", "json"] + threads)
    forest = json.loads(out)

    print(f"{'model':44} {'train s':>8} {'test s':>7} {'accuracy':>8} {'macro-F1':>8}")
    print(f"{'classify train (fine-tuned, ' + str(args.epochs) + ' epochs)':44} {train_s:8.1f} {eval_s:7.1f} "
          f"{fine_tuned['accuracy']:8.4f} {fine_tuned['macro_f1']:8.4f}")
    print(f"{'forest --embed --extra-trees (200 trees)':44} {forest_s:8.1f} {forest_eval_s:7.1f} "
          f"{forest['accuracy']:8.4f} {forest['macro_f1']:8.4f}")


if __name__ == "__main__":
    main()
