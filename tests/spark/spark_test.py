"""mlkit under a real local Spark cluster (2 workers, several partitions), as the README's
Spark section runs it: `RDD.pipe` and `mapInArrow` through `examples/spark/mlkit_spark.py`.

Checks that every record comes back, in order within each partition; that results equal
one plain `mlkit ner` run on the same records (entities exactly, scores within 1e-4: a
text's scores move in their last digits with the texts it is batched with); that a
partition with a bad record behaves as `--on-error` says; and that a failing mlkit fails
the Spark job.

Run by `.ci/spark` (pyspark from PyPI, Debian's OpenJDK): python tests/spark/spark_test.py
with `mlkit` on PATH. Exits non-zero on the first failed check.
"""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples", "spark"))

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql.types import LongType, StringType, StructField, StructType  # noqa: E402

from mlkit_spark import NER_FIELDS, mlkit_map_in_arrow  # noqa: E402

PARTITIONS = 4
SCORE_TOLERANCE = 1e-4

PEOPLE = ["Angela Merkel", "John Smith", "Maria Garcia", "Li Wei", "Olaf Scholz", "Ada Lovelace"]
PLACES = ["Paris", "Berlin", "Madrid", "Tokyo", "Nairobi", "Lima", "Oslo"]
ORGS = ["Google", "the United Nations", "Siemens", "Reuters", "the World Bank"]


def sentences(n):
    """n CoNLL-style news sentences, the same every run."""
    out = []
    for i in range(n):
        p, q, o = PEOPLE[i % 6], PLACES[(i * 5) % 7], ORGS[(i * 3) % 5]
        forms = [
            f"{p} met officials from {o} in {q} on Tuesday .",
            f"{o} said {p} would visit {q} next week .",
            f"Shares of {o} rose 3 percent in {q} trading .",
            f"{p} , speaking in {q} , declined to comment .",
        ]
        out.append(forms[i % 4])
    return out


def plain_run(texts):
    """One plain `mlkit ner` run over all texts: its records, in order."""
    run = subprocess.run(
        ["mlkit", "ner", "--format", "jsonl", "-q", "-"],
        input="".join(t + "\n" for t in texts).encode(),
        capture_output=True,
        check=True,
    )
    return [json.loads(line) for line in run.stdout.decode().splitlines()]


def same_entities(got, want, where):
    assert len(got) == len(want), f"{where}: {len(got)} entities, want {len(want)}"
    for g, w in zip(got, want):
        for key in ("label", "text", "start", "end"):
            assert g[key] == w[key], f"{where}: {g} vs {w}"
        assert abs(g["score"] - w["score"]) <= SCORE_TOLERANCE, f"{where}: {g} vs {w}"


def check_pipe(sc, texts, reference):
    rdd = sc.parallelize(texts, PARTITIONS)
    inputs = rdd.glom().collect()
    assert len(inputs) == PARTITIONS and all(inputs), "every partition has records"
    # RDD.pipe runs the command in an empty environment unless given one.
    env = {"PATH": os.environ["PATH"]}
    outputs = rdd.pipe("mlkit ner --format jsonl -q -", env, checkCode=True).glom().collect()
    at = 0
    for p, (ins, outs) in enumerate(zip(inputs, outputs)):
        assert len(outs) == len(ins), f"partition {p}: {len(outs)} records out of {len(ins)}"
        for i, line in enumerate(outs):
            record = json.loads(line)
            # Ids count lines within the partition's stream: in order, none lost.
            assert record["id"] == i + 1, f"partition {p}: record {i} has id {record['id']}"
            same_entities(record["entities"], reference[at + i]["entities"], f"pipe {p}:{i}")
        at += len(ins)
    assert at == len(texts)
    print(f"ok: RDD.pipe, {len(texts)} records in {PARTITIONS} partitions, in order")


def check_map_in_arrow(spark, texts, reference, bad):
    df = spark.createDataFrame(
        [(i, None if i in bad else t) for i, t in enumerate(texts)],
        StructType([StructField("n", LongType()), StructField("text", StringType())]),
    ).repartition(PARTITIONS, "n").sortWithinPartitions("n")
    args = ["ner", "--text-field", "text"]

    recorded = mlkit_map_in_arrow(df, args, NER_FIELDS, on_error="record")
    assert recorded.schema.fieldNames() == ["n", "text", "entities", "error"], recorded.schema
    ins = df.rdd.glom().collect()
    outs = recorded.rdd.glom().collect()
    for p, (i_rows, o_rows) in enumerate(zip(ins, outs)):
        assert [r.n for r in o_rows] == [r.n for r in i_rows], f"partition {p}: order or count"
        for row in o_rows:
            if row.n in bad:
                assert row.entities is None and "no text field" in row.error, row
            else:
                assert row.error is None, row
                want = reference[row.n]["entities"]
                same_entities([e.asDict() for e in row.entities], want, f"arrow n={row.n}")
    print(f"ok: mapInArrow --on-error record, {len(texts)} rows, {len(bad)} recorded")

    skipped = mlkit_map_in_arrow(df, args, NER_FIELDS, on_error="skip").collect()
    assert sorted(r.n for r in skipped) == [i for i in range(len(texts)) if i not in bad]
    print(f"ok: mapInArrow --on-error skip drops the {len(bad)} bad rows")

    try:
        mlkit_map_in_arrow(df, args, NER_FIELDS, on_error="fail").collect()
    except Exception as e:  # noqa: BLE001 - Spark wraps the task's error
        assert "no text field" in str(e) and "exited with 1" in str(e), str(e)[-2000:]
    else:
        raise AssertionError("--on-error fail with a bad record did not fail the job")
    print("ok: mapInArrow --on-error fail fails the job, naming the record")


def check_failing_mlkit(sc):
    rdd = sc.parallelize(["Angela Merkel"], 1)
    try:
        env = {"PATH": os.environ["PATH"], "HF_HUB_OFFLINE": "1"}
        rdd.pipe("mlkit ner --model no/such-model-here -", env, checkCode=True).collect()
    except Exception:  # noqa: BLE001 - Spark wraps the task's error
        print("ok: a failing mlkit fails the job (checkCode)")
        return
    raise AssertionError("a failing mlkit did not fail the job")


def main():
    texts = sentences(int(os.environ.get("MLKIT_SPARK_RECORDS", "160")))
    bad = {5, 77}
    started = time.time()
    reference = plain_run(texts)
    spark = (
        SparkSession.builder.master(os.environ.get("MLKIT_SPARK_MASTER", "local-cluster[2,1,1024]"))
        .appName("mlkit-spark-test")
        .config("spark.task.maxFailures", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.executorEnv.PATH", os.environ["PATH"])
        .getOrCreate()
    )
    try:
        sc = spark.sparkContext
        # The executors import the helper as the driver does.
        sc.addPyFile(os.path.join(ROOT, "examples", "spark", "mlkit_spark.py"))
        check_pipe(sc, texts, reference)
        check_map_in_arrow(spark, texts, reference, bad)
        check_failing_mlkit(sc)
    finally:
        spark.stop()
    print(f"spark: all checks passed in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
