"""mlkit embed against sentence-transformers (PyTorch) on the CoNLL-2003 test sentences:
sentences per second at the same thread count, and cosine agreement on every sentence.

    python -m venv .venv && .venv/bin/pip install -r benches/requirements-embed.txt
    cargo build --release -p mlkit
    .venv/bin/python benches/embed_vs_python.py [--threads 2] [--shared ../shared] [--repeat 3]

`--hide avx2` (or avx2-vnni, avx512-no-vnni) runs everything with some of this CPU's
features hidden (benches/hide_cpu_features.c), for a smaller CPU's figures on this one.

Each run embeds all 3,453 sentences once after a warm-up on 64 of them (model loading is
excluded for sentence-transformers and included for mlkit, which loads in well under a
second: the printed ratio favours Python). mlkit runs f32 (the upstream safetensors), q8
(the bundled GGUF) and int8 (the bundled GGUF with int8 activations); onnxruntime runs fp32 and dynamic-int8 exports of the same model
(--skip-onnx leaves them out).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from cpu import (INT8_KERNELS, add_hide_argument, add_repeat_argument, clock_mhz,  # noqa: E402
                 cpu_features, cpu_flags, describe_binary, hide_features, linear_macs_per_token,
                 median_time, share_of_peak)


def sentences(path):
    out, words = [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                if words:
                    out.append(" ".join(words))
                    words = []
                continue
            words.append(line.split(" ")[0])
    if words:
        out.append(" ".join(words))
    return out


def run_mlkit(binary, model, text_file, threads, extra, repeat, kernel=None):
    out = text_file + ".npy"
    cmd = [binary, "-q", "embed", "--model", model, "--device", "cpu", "--threads", str(threads),
           "-o", out, text_file] + extra
    env = dict(os.environ, **({"MLKIT_INT8_KERNEL": kernel} if kernel else {}))
    secs, _ = median_time(repeat, lambda: subprocess.run(cmd, check=True, env=env))
    return secs, np.load(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--mlkit", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mlkit"))
    ap.add_argument("--skip-onnx", action="store_true")
    add_hide_argument(ap)
    add_repeat_argument(ap)
    args = ap.parse_args()
    hide_features(args)

    import torch
    import sentence_transformers
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(args.threads)
    model_dir = os.path.join(args.shared, "models", "all-MiniLM-L6-v2")
    texts = sentences(os.path.join(args.shared, "data", "conll2003", "test.txt"))
    print(f"cpu: {cpu_features()}")
    print(f"mlkit: {describe_binary(args.mlkit)}")
    print(f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}, "
          f"{args.threads} threads, {len(texts)} sentences")

    st = SentenceTransformer(model_dir, device="cpu")
    st.encode(texts[:64], batch_size=32)
    st_secs, ref = median_time(
        args.repeat, lambda: st.encode(texts, batch_size=32, convert_to_numpy=True))

    tmp = tempfile.mkdtemp(prefix="mlkit-embed-bench-")
    text_file = os.path.join(tmp, "sentences.txt")
    with open(text_file, "w") as f:
        f.write("\n".join(texts) + "\n")
    rows = [("sentence-transformers (PyTorch f32)", st_secs, ref)]
    secs, emb = run_mlkit(args.mlkit, model_dir, text_file, args.threads, [], args.repeat)
    rows.append(("mlkit f32", secs, emb))
    secs, emb = run_mlkit(args.mlkit, "all-MiniLM-L6-v2", text_file, args.threads, ["--dtype", "q8"],
                          args.repeat)
    rows.append(("mlkit q8 (bundled GGUF)", secs, emb))
    secs, emb = run_mlkit(args.mlkit, "all-MiniLM-L6-v2", text_file, args.threads,
                          ["--dtype", "int8"], args.repeat)
    rows.append(("mlkit int8 (bundled GGUF)", secs, emb))
    # Every int8 kernel this CPU has, so one run compares them (the same numbers, bit for bit).
    features = cpu_flags()
    for kernel in [k for k, flag in INT8_KERNELS if flag in features]:
        secs, emb = run_mlkit(args.mlkit, "all-MiniLM-L6-v2", text_file, args.threads,
                              ["--dtype", "int8"], args.repeat, kernel)
        rows.append((f"mlkit int8 ({kernel})", secs, emb))
    if not args.skip_onnx:
        rows.extend(onnx_runs(st, model_dir, texts, tmp, args.threads, args.repeat))

    def cosines(a, b):
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    tokens = sum(len(ids) for ids in st.tokenizer(texts)["input_ids"])
    macs = linear_macs_per_token(os.path.join(model_dir, "config.json"))
    print(f"{'run':<38}{'seconds':>9}{'sent/s':>10}{'vs PyTorch':>12}{'min cos':>10}{'mean cos':>10}{'peak':>6}")
    for name, secs, emb in rows:
        c = cosines(emb, ref)
        peak = share_of_peak(name, tokens / secs, macs, args.threads) if name.startswith("mlkit") else ""
        print(f"{name:<38}{secs:>9.2f}{len(texts) / secs:>10.1f}{st_secs / secs:>11.2f}x"
              f"{c.min():>10.6f}{c.mean():>10.6f}{peak:>6}")
    print(f"peak: the Linear layers' {macs / 1e6:.1f}M multiply-adds a token ({tokens} tokens) against "
          f"{args.threads} cores x 2 vector units x the multiply-adds of the product's instruction x "
          f"{clock_mhz()} MHz")


def onnx_runs(st, model_dir, texts, tmp, threads, repeat):
    """onnxruntime fp32 and dynamic int8 on the same weights: the transformer exported with
    torch.onnx, mean pooling and normalisation in numpy, batches of 32 length-sorted texts."""
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    fp32 = os.path.join(tmp, "minilm.onnx")
    sample = tok(texts[:2], return_tensors="pt", padding=True)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(model, tuple(sample[k] for k in names), fp32, input_names=names,
                      output_names=["hidden"], dynamic_axes={k: {0: "b", 1: "s"} for k in names + ["hidden"]},
                      opset_version=17, dynamo=False)
    int8 = os.path.join(tmp, "minilm.int8.onnx")
    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = []
    for name, path in [("onnxruntime fp32", fp32), ("onnxruntime int8 (dynamic)", int8)]:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

        def run(batch):
            enc = tok(batch, return_tensors="np", padding=True, truncation=True, max_length=256)
            h = sess.run(None, {k: enc[k].astype(np.int64) for k in names})[0]
            m = enc["attention_mask"][..., None].astype(np.float32)
            pooled = (h * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

        run(texts[:32])
        emb = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)

        def run_all():
            for i in range(0, len(order), 32):
                idx = order[i:i + 32]
                emb[idx] = run([texts[j] for j in idx])

        secs, _ = median_time(repeat, run_all)
        out.append((name, secs, emb))
    return out


if __name__ == "__main__":
    main()
