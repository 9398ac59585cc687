"""mlkit ner under Spark against one plain mlkit run on the same machine: the overhead of
running through Spark, as a ratio, and the peak memory of each executor (its JVM, its
Python workers and the mlkit they start).

    python benches/spark_vs_plain.py --mlkit target/release/mlkit --sentences 100000

Sentences are CoNLL-2003's (../shared/data/conll2003/train.txt), repeated to the count asked.
Spark is a local cluster of 2 workers of 1 core each (`local-cluster[2,1,MEM]`), the data in
2 partitions, so Spark runs 2 mlkit at once, each on 1 thread; the plain run is one mlkit on
--threads 2. Both write JSON Lines; Spark's start-up is not timed (a cluster pays it once).
Needs pyspark (.ci/requirements.txt) and Java 17.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "examples", "spark"))

from cpu import cpu_features  # noqa: E402


def conll_sentences(path, n):
    sentences, words = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("-DOCSTART-"):
                if words:
                    sentences.append(" ".join(words))
                    words = []
                continue
            words.append(line.split()[0])
    if words:
        sentences.append(" ".join(words))
    return [sentences[i % len(sentences)] for i in range(n)]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def processes():
    """pid -> (parent pid, command line)."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        out[int(pid)] = (ppid, cmd)
    return out


class ExecutorMemory:
    """Samples, every 0.2 s, the RSS of each executor's process tree (its JVM and every
    process under it: Python workers and mlkit), keeping each executor's peak."""

    def __init__(self):
        self.peak = {}
        self.mlkit_peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            procs = processes()
            children = {}
            for pid, (ppid, _) in procs.items():
                children.setdefault(ppid, []).append(pid)
            for pid, (_, cmd) in procs.items():
                if "CoarseGrainedExecutorBackend" not in cmd:
                    continue
                tree, total = [pid], 0
                while tree:
                    p = tree.pop()
                    total += rss_kib(p)
                    tree.extend(children.get(p, []))
                self.peak[pid] = max(self.peak.get(pid, 0), total)
            for pid, (_, cmd) in procs.items():
                if os.path.basename(cmd.split(" ")[0]).startswith("mlkit"):
                    self.mlkit_peak = max(self.mlkit_peak, rss_kib(pid))
            time.sleep(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlkit", default=os.path.join(ROOT, "target", "release", "mlkit"))
    ap.add_argument("--sentences", type=int, default=100_000)
    ap.add_argument("--conll", default=os.path.join(ROOT, "..", "shared", "data", "conll2003", "train.txt"))
    ap.add_argument("--executor-memory", default="2048")
    args = ap.parse_args()
    mlkit = os.path.abspath(args.mlkit)
    texts = conll_sentences(args.conll, args.sentences)
    print(f"cpu: {cpu_features()}; cores: {os.cpu_count()}")
    print(f"data: {len(texts)} CoNLL-2003 sentences; mlkit: {mlkit}")

    with tempfile.TemporaryDirectory() as tmp:
        lines = os.path.join(tmp, "sentences.txt")
        with open(lines, "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in texts)
        started = time.time()
        with open(os.path.join(tmp, "plain.jsonl"), "wb") as out:
            subprocess.run([mlkit, "ner", "--format", "jsonl", "--threads", "2", "-q", lines], stdout=out, check=True)
        plain = time.time() - started
        print(f"plain mlkit ner --threads 2: {plain:.1f} s ({len(texts) / plain:.0f} sentences/s)")

    from pyspark.sql import SparkSession

    from mlkit_spark import NER_FIELDS, mlkit_map_in_arrow

    spark = (
        SparkSession.builder.master(f"local-cluster[2,1,{args.executor_memory}]")
        .appName("mlkit-spark-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    sc = spark.sparkContext
    sc.setLogLevel("ERROR")
    sc.addPyFile(os.path.join(ROOT, "examples", "spark", "mlkit_spark.py"))
    try:
        rdd = sc.parallelize([json.dumps({"text": t}) for t in texts], 2).cache()
        rdd.count()
        command = f"{mlkit} ner --text-field text --format jsonl --threads 1 -q -"
        with ExecutorMemory() as memory:
            started = time.time()
            n = rdd.pipe(command, checkCode=True).count()
            piped = time.time() - started
        assert n == len(texts), (n, len(texts))
        print(f"spark RDD.pipe, 2 workers x 1 core: {piped:.1f} s, {piped / plain:.2f}x the plain run's time")
        report_memory(memory)

        df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id long, text string")
        df = df.repartition(2).cache()
        df.count()
        with ExecutorMemory() as memory:
            started = time.time()
            n = mlkit_map_in_arrow(df, ["ner", "--text-field", "text"], NER_FIELDS, binary=mlkit).count()
            arrow = time.time() - started
        assert n == len(texts), (n, len(texts))
        print(f"spark mapInArrow (typed), 2 workers x 1 core: {arrow:.1f} s, {arrow / plain:.2f}x the plain run's time")
        report_memory(memory)
    finally:
        spark.stop()


def report_memory(memory):
    peaks = ", ".join(f"{kib / 1024:.0f} MiB" for kib in sorted(memory.peak.values()))
    print(f"  peak memory per executor (JVM + Python + mlkit): {peaks}; mlkit alone: {memory.mlkit_peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
