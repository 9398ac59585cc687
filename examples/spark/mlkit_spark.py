"""mlkit on Apache Spark: one mlkit process per partition, the partition's rows streamed
through it, a typed DataFrame back.

    from mlkit_spark import mlkit_map_in_arrow, NER_FIELDS
    tagged = mlkit_map_in_arrow(df, ["ner", "--text-field", "text"], NER_FIELDS)

Each row goes to mlkit as one JSON Lines record (its columns as fields) and comes back as
that record with the result's fields added, in the same order: mlkit writes one output
record per input record (with `--on-error record`, a failed one carries an `error`
field), so the output has the input's columns, the result's columns and `error`.

Exit codes: 0, every record went through; 3, some failed and were recorded or skipped as
`on_error` asked (accepted unless on_error is "fail"); anything else fails the task, with
mlkit's stderr in the exception, as `RDD.pipe(..., checkCode=True)` would.

The mlkit binary comes from PATH (`pip install mlkit` on the executors, e.g. as a cluster
library) or from `binary=`. Threads: `--threads` is the task's CPUs (`spark.task.cpus`),
so one mlkit per task never oversubscribes the executor's cores.
"""

import json
import subprocess
import threading

import pyarrow as pa
from pyspark import TaskContext
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

# What `mlkit ner --format jsonl` adds to each record.
NER_FIELDS = [
    StructField(
        "entities",
        ArrayType(
            StructType(
                [
                    StructField("label", StringType()),
                    StructField("text", StringType()),
                    StructField("start", LongType()),
                    StructField("end", LongType()),
                    StructField("score", DoubleType()),
                ]
            )
        ),
    )
]

# What `mlkit zeroshot --format jsonl` and `mlkit classify --format jsonl` add.
SCORED_FIELDS = [
    StructField("labels", ArrayType(StringType())),
    StructField("scores", ArrayType(DoubleType())),
]

# What `mlkit embed --format jsonl` adds.
EMBED_FIELDS = [StructField("embedding", ArrayType(DoubleType()))]

# Exit code of a run that wrote everything but the records that failed.
SOME_RECORDS_FAILED = 3

# Rows per Arrow batch handed back to Spark.
BATCH_ROWS = 1024


def output_schema(input_schema, result_fields):
    """The input's columns, then the result's, then `error` (a failed record's reason)."""
    names = set(input_schema.fieldNames())
    added = [f for f in result_fields if f.name not in names]
    error = [] if "error" in names else [StructField("error", StringType())]
    return StructType(list(input_schema.fields) + added + error)


def mlkit_map_in_arrow(df, args, result_fields, on_error="record", binary="mlkit"):
    """`df` through `mlkit ARGS --format jsonl --on-error ON_ERROR -`, one process per
    partition; `args` must read JSON Lines (`--text-field`). Returns the typed DataFrame."""
    schema = output_schema(df.schema, result_fields)
    arrow_schema = to_arrow_schema(schema)
    run = partition_runner(list(args), on_error, binary, arrow_schema)
    return df.mapInArrow(run, schema)


def partition_runner(args, on_error, binary, arrow_schema):
    """The function `mapInArrow` calls on each partition's Arrow batches."""
    names = arrow_schema.names

    def run(batches):
        task = TaskContext.get()
        threads = str(task.cpus()) if task is not None else "1"
        command = [binary, *args, "--format", "jsonl", "--on-error", on_error]
        command += ["--threads", threads, "-q", "-"]
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        stderr = []
        fed = []  # an exception raised while feeding, if any

        def feed():
            try:
                for batch in batches:
                    for row in batch.to_pylist():
                        proc.stdin.write(json.dumps(row, default=str).encode() + b"\n")
            except BrokenPipeError:
                pass  # mlkit stopped early; its exit code says why
            except BaseException as e:  # noqa: BLE001 - re-raised in the task's thread
                fed.append(e)
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass

        feeder = threading.Thread(target=feed, daemon=True)
        drainer = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
        feeder.start()
        drainer.start()
        rows = []
        for line in proc.stdout:
            record = json.loads(line)
            rows.append({name: record.get(name) for name in names})
            if len(rows) == BATCH_ROWS:
                yield pa.RecordBatch.from_pylist(rows, schema=arrow_schema)
                rows = []
        code = proc.wait()
        feeder.join()
        drainer.join()
        if fed:
            raise fed[0]
        check_exit(command, code, on_error, b"".join(stderr).decode(errors="replace"))
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=arrow_schema)

    return run


def check_exit(command, code, on_error, stderr):
    """Raises, as `RDD.pipe(checkCode=True)` does, unless mlkit succeeded or only failed
    records that `on_error` asked to skip or record."""
    if code == 0 or (code == SOME_RECORDS_FAILED and on_error != "fail"):
        return
    raise RuntimeError(f"{' '.join(command)} exited with {code}: {stderr.strip()}")
