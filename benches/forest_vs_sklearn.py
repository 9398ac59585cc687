"""mlkit forest against scikit-learn: training and prediction time, peak memory and test
accuracy on digits and on a make_classification set, and on text (the topic set of
crates/mlkit-forest/tests/fixtures/make_topics.py), same thread count, one run each (the
median of --repeat runs for prediction on the numeric sets, which takes well under a second).

    python -m venv .venv && .venv/bin/pip install scikit-learn==1.9.1 numpy==2.1.3 \
        sentence-transformers==5.7.0 torch==2.15.0
    cargo build --release -p mlkit
    .venv/bin/python benches/forest_vs_sklearn.py [--threads 2] [--rows 200000] [--trees 100] \
        [--no-embed] [--repeat 5]

Text runs, 200 trees: a random forest on TF-IDF (mlkit `--text`, a learnt vocabulary; and
`--text-hash 1024`; scikit-learn TfidfVectorizer(ngram_range=(1, 2), min_df=2,
sublinear_tf=True) on sparse input, vectorising timed with fit and predict), and extra trees
on all-MiniLM-L6-v2 embeddings of ../shared/models (mlkit `--embed` with that model, the
embedding inside the timed commands; scikit-learn SentenceTransformer.encode timed with fit
and predict).

The synthetic set is make_classification(n_samples=rows, n_features=50, n_informative=20,
n_classes=5, random_state=0), 80% to train; digits is split the same way. mlkit is timed as
whole commands (CSV parsing included; peak memory of the training command by GNU time);
scikit-learn is timed on arrays already in memory (fit and predict_proba only; its peak is the
whole Python process's, data included). mlkit's predictions go to a file (-o), so that Python's
reading of a pipe is not timed.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu import cpu_features  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write_csv(path, x, y):
    with open(path, "w") as f:
        f.write(",".join([f"f{i}" for i in range(x.shape[1])] + ["target"]) + "\n")
        for row, t in zip(x, y):
            f.write(",".join(f"{v:.6g}" for v in row) + f",c{t}\n")


def timed(cmd, **kw):
    """Runs cmd under GNU time: (seconds, peak RSS in MiB of the command alone, result)."""
    report = tempfile.mktemp()
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report] + cmd, check=True, **kw)
    secs = time.perf_counter() - start
    with open(report) as f:
        return secs, int(f.read().strip().splitlines()[-1]) / 1024, result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--mlkit", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mlkit"))
    ap.add_argument("--no-embed", action="store_true", help="skip the sentence-embedding runs")
    ap.add_argument("--repeat", type=int, default=5,
                    help="prediction on the numeric sets is timed this many times; the median is shown")
    args = ap.parse_args()
    print(f"CPU features: {cpu_features()}; {args.threads} threads")
    tmp = tempfile.mkdtemp()
    sets = [("digits", *load_digits(return_X_y=True))]
    if args.rows > 0:
        x, y = make_classification(n_samples=args.rows, n_features=50, n_informative=20, n_classes=5, random_state=0)
        sets.append((f"make_classification {args.rows}x50", x, y))
    print(f"{'data':30} {'runtime':14} {'train s':>8} {'predict s':>9} {'accuracy':>8} {'peak MiB':>9}")
    for name, x, y in sets:
        xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
        train, test = os.path.join(tmp, "train.csv"), os.path.join(tmp, "test.csv")
        write_csv(train, xtr, ytr)
        write_csv(test, xte, yte)
        model = os.path.join(tmp, "m.forest")
        train_s, peak, _ = timed([args.mlkit, "-q", "forest", "train", train, "--target", "target",
                                  "--trees", str(args.trees), "--threads", str(args.threads), "-o", model])
        # Into a file: a pipe into Python would time Python's reading and decoding too.
        predicted = os.path.join(tmp, "predicted.csv")
        predict_s = statistics.median(
            timed([args.mlkit, "forest", "predict", model, test, "--proba", "leaf",
                   "--threads", str(args.threads), "-o", predicted])[0]
            for _ in range(args.repeat))
        with open(predicted) as f:
            out = f.read().splitlines()
        header = out[0].split(",")
        p = header.index("prediction")
        acc = np.mean([row.split(",")[p] == f"c{t}" for row, t in zip(out[1:], yte)])
        print(f"{name:30} {'mlkit':14} {train_s:8.2f} {predict_s:9.2f} {acc:8.4f} {peak:9.0f}")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        rf = RandomForestClassifier(n_estimators=args.trees, n_jobs=args.threads, random_state=0).fit(xtr, ytr)
        train_s = time.perf_counter() - start
        predict_times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            proba = rf.predict_proba(xte)
            predict_times.append(time.perf_counter() - start)
        predict_s = statistics.median(predict_times)
        acc = (rf.classes_[proba.argmax(axis=1)] == yte).mean()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name:30} {'scikit-learn':14} {train_s:8.2f} {predict_s:9.2f} {acc:8.4f} {max(peak, before):9.0f}")
    text_runs(args, tmp)


def mlkit_text(args, tmp, label, flags):
    """Whole mlkit commands on the topic set: (train s, predict s, accuracy, peak MiB)."""
    fixtures = os.path.join(ROOT, "crates", "mlkit-forest", "tests", "fixtures")
    train, test = os.path.join(fixtures, "topics_train.csv"), os.path.join(fixtures, "topics_test.csv")
    model = os.path.join(tmp, "text.forest")
    train_s, peak, _ = timed([args.mlkit, "-q", "forest", "train", train, "--target", "topic",
                              "--trees", "200", "--threads", str(args.threads), "-o", model] + flags)
    predicted = os.path.join(tmp, "predicted.csv")
    predict_s, _, _ = timed([args.mlkit, "-q", "forest", "predict", model, test, "--proba", "leaf",
                             "--threads", str(args.threads), "-o", predicted])
    import csv
    with open(predicted, newline="") as f:
        rows = list(csv.DictReader(f))
    acc = np.mean([r["prediction"] == r["topic"] for r in rows])
    print(f"{'topics ' + label:30} {'mlkit':14} {train_s:8.2f} {predict_s:9.2f} {acc:8.4f} {peak:9.0f}")


def text_runs(args, tmp):
    import csv
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    fixtures = os.path.join(ROOT, "crates", "mlkit-forest", "tests", "fixtures")
    read = lambda n: list(csv.DictReader(open(os.path.join(fixtures, n), newline="")))
    train, test = read("topics_train.csv"), read("topics_test.csv")
    xtr, ytr = [r["text"] for r in train], np.array([r["topic"] for r in train])
    xte, yte = [r["text"] for r in test], np.array([r["topic"] for r in test])
    print(f"topic set: {len(train)} training and {len(test)} test texts, 200 trees")
    mlkit_text(args, tmp, "TF-IDF", ["--text", "text"])
    mlkit_text(args, tmp, "hashed 1024", ["--text", "text", "--text-hash", "1024"])
    start = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    rf = RandomForestClassifier(n_estimators=200, n_jobs=args.threads, random_state=0)
    rf.fit(vec.fit_transform(xtr), ytr)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    acc = (rf.predict(vec.transform(xte)) == yte).mean()
    predict_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'topics TF-IDF':30} {'scikit-learn':14} {train_s:8.2f} {predict_s:9.2f} {acc:8.4f} {peak:9.0f}")
    if args.no_embed:
        return
    minilm = os.path.join(ROOT, "..", "shared", "models", "all-MiniLM-L6-v2")
    mlkit_text(args, tmp, "embeddings", ["--embed", "text", "--embed-model", minilm, "--extra-trees"])
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = SentenceTransformer(minilm, device="cpu")
    et = ExtraTreesClassifier(n_estimators=200, n_jobs=args.threads, random_state=0)
    et.fit(model.encode(xtr, batch_size=64), ytr)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    acc = (et.predict(model.encode(xte, batch_size=64)) == yte).mean()
    predict_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'topics embeddings':30} {'scikit-learn':14} {train_s:8.2f} {predict_s:9.2f} {acc:8.4f} {peak:9.0f}")


if __name__ == "__main__":
    main()
