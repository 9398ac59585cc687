"""`mlkit ner train` against the bundled model's PyTorch recipe
(models/recipes/conll03-ner-minilm-train.py, transformers' BertForTokenClassification with
AdamW, the same hyper-parameters) on the same CoNLL-2003 sentences, the same base model
(all-MiniLM-L6-v2 f32) and the same threads: wall time of one epoch and the ratio, one run
each.

    python -m venv .venv && .venv/bin/pip install -r benches/requirements-ner.txt
    cargo build --release -p mlkit
    .venv/bin/python benches/train_vs_pytorch.py [--sentences 2000] [--threads 2] [--shared ../shared]
        [--baseline path/to/an/earlier/mlkit] [--hide avx2]

`--hide avx2` (or avx2-vnni, avx512-no-vnni) runs both sides with some of this CPU's features
hidden (benches/hide_cpu_features.c), for a smaller CPU's figures on this one.

Both commands are timed whole: loading, one epoch over the first --sentences training
sentences (batches of 16), scoring the first 500 validation sentences, saving the model
(the recipe also scores a 10-sentence test file). Nothing else may run meanwhile.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu import add_hide_argument, cpu_features, describe_binary, hide_features  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def first_sentences(path, n, out):
    count, lines = 0, []
    with open(path) as f:
        for line in f:
            if not line.strip():
                if lines and lines[-1] != "\n":
                    count += 1
                    lines.append("\n")
                    if count >= n:
                        break
                continue
            lines.append(line)
    with open(out, "w") as f:
        f.writelines(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--mlkit", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mlkit"))
    ap.add_argument("--baseline", help="another mlkit binary (an earlier build) to time the same way")
    add_hide_argument(ap)
    args = ap.parse_args()
    hide_features(args)
    base = os.path.join(args.shared, "models/all-MiniLM-L6-v2")
    conll = os.path.join(args.shared, "data/conll2003")
    tmp = tempfile.mkdtemp()
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    first_sentences(os.path.join(conll, "train.txt"), args.sentences, os.path.join(data, "train.txt"))
    first_sentences(os.path.join(conll, "valid.txt"), 500, os.path.join(data, "valid.txt"))
    first_sentences(os.path.join(conll, "test.txt"), 10, os.path.join(data, "test.txt"))
    print(f"CPU features: {cpu_features()}; {args.threads} threads; {args.sentences} training "
          f"sentences, 1 epoch, batch 16, lr 7e-5, warm-up 0.1", flush=True)
    print(f"mlkit: {describe_binary(args.mlkit)}", flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))

    def mlkit_epoch(binary, name):
        start = time.perf_counter()
        out = subprocess.run(
            [binary, "-q", "ner", "train", "--model", base, "--train", os.path.join(data, "train.txt"),
             "--dev", os.path.join(data, "valid.txt"), "-o", os.path.join(tmp, name),
             "--epochs", "1", "--device", "cpu", "--threads", str(args.threads)],
            check=True, capture_output=True, text=True, env=env)
        return time.perf_counter() - start, json.loads(out.stdout)["dev_score"]

    mlkit_s, mlkit_f1 = mlkit_epoch(args.mlkit, "mlkit-model")
    if args.baseline:
        base_s, base_f1 = mlkit_epoch(args.baseline, "baseline-model")

    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "models/recipes/conll03-ner-minilm-train.py"), "--base", base,
         "--data", data, "--out", os.path.join(tmp, "torch-model"), "--epochs", "1", "--device", "cpu"],
        check=True, capture_output=True, text=True,
        env=env)
    torch_s = time.perf_counter() - start
    torch_f1 = json.loads(out.stdout.strip().splitlines()[-1])["valid_f1"]

    print(f"mlkit ner train   {mlkit_s:8.1f} s   dev F1 {mlkit_f1:.4f}")
    print(f"PyTorch recipe    {torch_s:8.1f} s   dev F1 {torch_f1:.4f}")
    if args.baseline:
        print(f"mlkit (baseline)  {base_s:8.1f} s   dev F1 {base_f1:.4f}   ({args.baseline})")
    print(f"ratio (PyTorch / mlkit time): {torch_s / mlkit_s:.2f}x")
    if args.baseline:
        print(f"ratio (baseline / mlkit time): {base_s / mlkit_s:.2f}x")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
