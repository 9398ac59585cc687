"""mlkit ner against the transformers token-classification pipeline (PyTorch) and
onnxruntime (fp32 and dynamic int8) on the CoNLL-2003 test sentences: documents and tokens
per second at the same thread count, one run each, with the ratios, and each mlkit run's
share of the machine's nominal peak (benches/cpu.py).

    python -m venv .venv && .venv/bin/pip install -r benches/requirements-ner.txt
    cargo build --release -p mlkit
    .venv/bin/python benches/ner_vs_python.py [--threads 2] [--shared ../shared] [--repeat 3]

`--hide avx2` (or avx2-vnni, avx512-no-vnni) runs everything with some of this CPU's
features hidden (benches/hide_cpu_features.c), for a smaller CPU's figures on this one.

All runs use the bundled model's weights: its Q8_0 tensors dequantized to f32 for PyTorch
and onnxruntime (the same values mlkit computes with). Each document is one test sentence
(3,453; 46,435 words). mlkit is timed as a whole command (model loading and JSON output
included); Python is timed after loading and one warm-up batch. The pipeline runs with
aggregation "simple" and batch_size 32; onnxruntime runs tokenization, the model and a
softmax in batches of 32 sentences (no aggregation, which favours it slightly).
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "crates/mlkit-ner/tests/fixtures"))
sys.path.insert(0, HERE)

from cpu import (INT8_KERNELS, add_hide_argument, add_repeat_argument, clock_mhz,  # noqa: E402
                 cpu_features, cpu_flags, describe_binary, hide_features, linear_macs_per_token,
                 median_time, share_of_peak)


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

    import numpy as np
    import torch
    from make_fixtures import conll_sentences, dequantize_gguf
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    torch.set_num_threads(args.threads)
    gguf_path = os.path.join(ROOT, "models/conll03-ner-minilm/model.gguf")
    texts = conll_sentences(os.path.join(args.shared, "data/conll2003/test.txt"), 10**9)
    tmp = tempfile.mkdtemp()
    model_dir = os.path.join(tmp, "model")
    os.makedirs(model_dir)
    dequantize_gguf(gguf_path, model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    tokens = sum(len(ids) for ids in tok(texts)["input_ids"])
    text_file = os.path.join(tmp, "test.txt")
    with open(text_file, "w") as f:
        f.write("\n".join(texts) + "\n")
    print(f"cpu: {cpu_features()}", file=sys.stderr)
    print(f"mlkit: {describe_binary(args.mlkit)}", file=sys.stderr)
    print(f"{len(texts)} documents, {tokens} tokens, {args.threads} threads", file=sys.stderr)

    results = {}
    features = cpu_flags()
    runs = [("f32", None), ("q8", None), ("int8", None)]
    runs += [("int8", k) for k, flag in INT8_KERNELS if flag in features]
    for dtype, kernel in runs:
        cmd = [args.mlkit, "-q", "ner", "--device", "cpu", "--threads", str(args.threads),
               "--dtype", dtype, "--format", "jsonl", "-o", os.path.join(tmp, "out.jsonl"), text_file]
        env = dict(os.environ, **({"MLKIT_INT8_KERNEL": kernel} if kernel else {}))
        secs, _ = median_time(args.repeat, lambda: subprocess.run(cmd, check=True, env=env))
        results[f"mlkit {dtype}" + (f" ({kernel})" if kernel else "")] = secs

    model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    nlp = pipeline("token-classification", model=model, tokenizer=tok, aggregation_strategy="simple",
                   device="cpu", batch_size=32)
    nlp(texts[:32])
    results["transformers pipeline (PyTorch)"], _ = median_time(args.repeat, lambda: nlp(texts))

    if not args.skip_onnx:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic

        onnx_path = os.path.join(tmp, "model.onnx")
        sample = tok(texts[:2], return_tensors="pt", padding=True)
        torch.onnx.export(
            model, (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]), onnx_path,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
            dynamic_axes={k: {0: "batch", 1: "seq"} for k in ["input_ids", "attention_mask", "token_type_ids", "logits"]},
            opset_version=17, dynamo=False,
        )
        int8_path = os.path.join(tmp, "model.int8.onnx")
        quantize_dynamic(onnx_path, int8_path, weight_type=QuantType.QInt8)
        for name, path in [("onnxruntime fp32", onnx_path), ("onnxruntime int8", int8_path)]:
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

            def run(batch):
                enc = tok(batch, return_tensors="np", padding=True)
                logits = sess.run(None, {k: enc[k].astype(np.int64) for k in ["input_ids", "attention_mask", "token_type_ids"]})[0]
                e = np.exp(logits - logits.max(-1, keepdims=True))
                return e / e.sum(-1, keepdims=True)

            run(texts[:32])
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # length-sorted, as mlkit

            def run_all():
                for i in range(0, len(order), 32):
                    run([texts[j] for j in order[i:i + 32]])

            results[name], _ = median_time(args.repeat, run_all)

    base = results["transformers pipeline (PyTorch)"]
    macs = linear_macs_per_token(os.path.join(model_dir, "config.json"))
    print(f"{'runtime':34} {'seconds':>8} {'docs/s':>8} {'tokens/s':>9} {'vs pipeline':>11} {'peak':>5}")
    for name, secs in results.items():
        peak = share_of_peak(name, tokens / secs, macs, args.threads) if name.startswith("mlkit") else ""
        print(f"{name:34} {secs:8.2f} {len(texts) / secs:8.1f} {tokens / secs:9.0f} {base / secs:10.2f}x "
              f"{peak:>5}")
    print(f"peak: the Linear layers' {macs / 1e6:.1f}M multiply-adds a token against {args.threads} cores x 2 "
          f"vector units x the multiply-adds of the product's instruction x {clock_mhz()} MHz")


if __name__ == "__main__":
    main()
