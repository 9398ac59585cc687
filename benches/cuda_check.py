#!/usr/bin/env python3
"""Checks a `--features cuda` build of mlkit on a GPU against the same binary on the CPU.

The CPU path is the one the parity tests hold to transformers and sentence-transformers,
so agreement here carries that parity over to CUDA. Everything it reads is in the
repository (bundled models, committed fixtures): it runs on a GPU machine without network
or Hugging Face cache. Needs Python 3 with numpy.

    python benches/cuda_check.py --mlkit target/release/mlkit [--device cuda:0]

Checks, each printed with its numbers, and the exit status 1 if any fails:
- embed, bundled int8 all-MiniLM-L6-v2 and the tiny BERT fixture in --dtype f32, f16,
  bf16 and q8, and every tiny fixture (BERT, DistilBERT, RoBERTa, DeBERTa-v2/v3) in f32:
  cosine of every row to the CPU's (f32: also max |difference| <= 1e-4), and the bundled
  model's f32 run against the sentence-transformers reference in minilm.json;
- ner (bundled model): the same entities, scores within 1e-3 (f32);
- zeroshot by NLI (tiny fixture) and by embeddings (bundled): the same ranking, scores
  within 1e-4;
then the speed of embed and ner on the GPU and on the CPU (one run each), and of embed on
the GPU under several batch budgets.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "crates/mlkit-core/tests/fixtures")
FAILED = []


def run(mlkit, args, stdin=None):
    t = time.perf_counter()
    p = subprocess.run([mlkit, *args], input=stdin, capture_output=True)
    took = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"mlkit {' '.join(args)} failed:\n{p.stderr.decode()}")
    return p.stdout, took


def verdict(name, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    if not ok:
        FAILED.append(name)


def embed(mlkit, model, device, dtype, text_file, out):
    # --truncate: the tiny fixture's 64-token limit is below some reference sentences.
    run(mlkit, ["embed", "-q", "--truncate", "--model", model, "--device", device,
                "--dtype", dtype, "-o", out, text_file])
    return np.load(out)


def cosines(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def check_embed(mlkit, device, tmp):
    ref = json.load(open(os.path.join(FIXTURES, "minilm.json")))
    text_file = os.path.join(tmp, "sentences.txt")
    with open(text_file, "w") as f:
        f.write("\n".join(ref["sentences"]) + "\n")
    reference = np.array(ref["embeddings"], dtype=np.float64)
    # The least cosine to the CPU's output each precision must reach on the GPU.
    floors = {"f32": 0.99999, "f16": 0.999, "bf16": 0.99, "q8": 0.9999}
    # Every architecture's encoder in f32 (the tiny fixtures, heads' checkpoints included);
    # every precision on the bundled model and tiny BERT.
    tiny = sorted(d for d in os.listdir(FIXTURES) if d.startswith("tiny-"))
    runs = [("all-MiniLM-L6-v2", list(floors))] + [
        (os.path.join(FIXTURES, d), list(floors) if d == "tiny-bert" else ["f32"]) for d in tiny
    ]
    for model, dtypes in runs:
        label = os.path.basename(model)
        for dtype in dtypes:
            floor = floors[dtype]
            out = os.path.join(tmp, "e.npy")
            cpu = embed(mlkit, model, "cpu", dtype, text_file, out)
            gpu = embed(mlkit, model, device, dtype, text_file, out)
            c = cosines(cpu, gpu).min()
            diff = np.abs(cpu - gpu).max()
            ok = cpu.shape == gpu.shape and c >= floor and (dtype != "f32" or diff <= 1e-4)
            verdict(f"embed {label} {dtype}", ok,
                    f"{gpu.shape[0]} rows, min cosine to CPU {c:.6f} (floor {floor}), "
                    f"max |diff| {diff:.2e}")
            if label == "all-MiniLM-L6-v2" and dtype == "f32":
                # The bundled weights are int8: the parity tests' floor for them.
                c = cosines(gpu, reference).min()
                verdict("embed bundled f32 vs sentence-transformers", c >= 0.995,
                        f"min cosine {c:.6f} (floor 0.995)")
    return text_file


def jsonl(data):
    return [json.loads(line) for line in data.decode().splitlines()]


def check_ner(mlkit, device):
    text = os.path.join(ROOT, "crates/mlkit-ner/tests/fixtures/conll_slice.txt")
    # q8: the bundled model's default, int8, runs as q8 on a GPU but not on every CPU.
    cpu = jsonl(run(mlkit, ["ner", "-q", "--dtype", "q8", "--device", "cpu", text])[0])
    gpu = jsonl(run(mlkit, ["ner", "-q", "--dtype", "q8", "--device", device, text])[0])
    spans = lambda doc: [(e["label"], e["start"], e["end"]) for e in doc["entities"]]
    same = len(cpu) == len(gpu) and all(spans(a) == spans(b) for a, b in zip(cpu, gpu))
    diff = max((abs(x["score"] - y["score"]) for a, b in zip(cpu, gpu)
                for x, y in zip(a["entities"], b["entities"])), default=0.0)
    n = sum(len(d["entities"]) for d in gpu)
    verdict("ner bundled", same and diff <= 1e-3,
            f"{len(gpu)} documents, {n} entities, same spans and labels: {same}, "
            f"max score diff {diff:.2e}")


def check_zeroshot(mlkit, device, text_file):
    nli = os.path.join(ROOT, "crates/mlkit-zeroshot/tests/fixtures/tiny-bert-nli")
    for method, model in [("nli", nli), ("embed", "all-MiniLM-L6-v2")]:
        args = ["zeroshot", "-q", "--labels", "politics,sport,business,science", "--dtype", "q8",
                "--method", method, "--model", model, text_file]
        cpu = jsonl(run(mlkit, args + ["--device", "cpu"])[0])
        gpu = jsonl(run(mlkit, args + ["--device", device])[0])
        same = all(a["labels"] == b["labels"] for a, b in zip(cpu, gpu))
        diff = max(abs(x - y) for a, b in zip(cpu, gpu) for x, y in zip(a["scores"], b["scores"]))
        verdict(f"zeroshot {method}", len(cpu) == len(gpu) and same and diff <= 1e-4,
                f"{len(gpu)} texts, same rankings: {same}, max score diff {diff:.2e}")


def speed(mlkit, device, text_file, tmp, copies):
    lines = open(text_file).read().splitlines() * copies
    big = os.path.join(tmp, "many.txt")
    with open(big, "w") as f:
        f.write("\n".join(lines) + "\n")
    for cmd, extra in [("embed", ["--dtype", "f32"]), ("embed", ["--dtype", "q8"]),
                       ("embed", ["--dtype", "f16"]), ("ner", ["--dtype", "q8"])]:
        cpu, gpu = (len(lines) / run(mlkit, [cmd, "-q", "--device", dev, *extra, "-o",
                                              os.path.join(tmp, "speed.out"), big])[1]
                    for dev in ["cpu", device])
        print(f"speed {cmd} {' '.join(extra)}: {len(lines)} texts, CPU {cpu:.1f}/s, "
              f"{device} {gpu:.1f}/s ({gpu / cpu:.1f}x), whole commands incl. loading")
    # The GPU's default batch budget (16384 tokens) is text-embeddings-inference's: see
    # whether another does better here.
    for budget in [2048, 4096, 8192, 16384, 32768, 65536]:
        _, took = run(mlkit, ["embed", "-q", "--device", device, "--max-batch-tokens",
                              str(budget), "-o", os.path.join(tmp, "speed.out"), big])
        print(f"speed embed f32 on {device}, --max-batch-tokens {budget}: "
              f"{len(lines) / took:.1f}/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mlkit", default=os.path.join(ROOT, "target/release/mlkit"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--copies", type=int, default=100,
                    help="speed: how many times the 48 reference sentences are repeated")
    args = ap.parse_args()
    # A binary built elsewhere finds the bundled models here.
    os.environ.setdefault("MLKIT_MODELS", os.path.join(ROOT, "models"))
    with tempfile.TemporaryDirectory() as tmp:
        text_file = check_embed(args.mlkit, args.device, tmp)
        check_ner(args.mlkit, args.device)
        check_zeroshot(args.mlkit, args.device, text_file)
        speed(args.mlkit, args.device, text_file, tmp, args.copies)
    if FAILED:
        print(f"{len(FAILED)} check(s) failed: {', '.join(FAILED)}")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
