"""mlkit zeroshot against transformers' zero-shot pipeline (NLI, pairs per second) and
sentence-transformers (embedding method, texts per second), same thread count, one run.

    python -m venv .venv && .venv/bin/pip install -r benches/requirements-ner.txt sentence-transformers==5.7.0
    cargo build --release -p mlkit
    .venv/bin/python benches/zeroshot_vs_python.py [--threads 2] [--texts 500] [--nli-arch deberta-v3-base]

Texts: CoNLL-2003 test sentences; labels: politics, sport, business, technology, health.
- embed: the bundled all-MiniLM-L6-v2 (Q8_0 dequantized to f32 for Python), cosine per label.
- nli: no NLI checkpoint can be downloaded here, so the NLI model is all-MiniLM-L6-v2's
  encoder with a random three-way head (labels contradiction, neutral, entailment), saved as
  safetensors and run by both sides: the scores mean nothing, the speed is that of a
  MiniLM-sized NLI cross-encoder (6 layers, hidden 384). `--nli-arch deberta-v3-base` uses
  instead a randomly initialised DeBERTa-v3-base (12 layers, hidden 768, relative
  attention over 256 position buckets, the architecture of the usual zero-shot checkpoints
  such as MoritzLaurer/DeBERTa-v3-base-mnli) with all-MiniLM-L6-v2's tokenizer.
mlkit is timed as a whole command (loading included); Python after loading and a warm-up.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LABELS = ["politics", "sport", "business", "technology", "health"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--texts", type=int, default=500)
    ap.add_argument("--nli-arch", choices=["minilm", "deberta-v3-base"], default="minilm")
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--mlkit", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mlkit"))
    args = ap.parse_args()

    import importlib.util

    import torch
    import transformers
    from sentence_transformers import util

    spec = importlib.util.spec_from_file_location("ner_fixtures", os.path.join(ROOT, "crates/mlkit-ner/tests/fixtures/make_fixtures.py"))
    fx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fx)

    torch.set_num_threads(args.threads)
    texts = fx.conll_sentences(os.path.join(args.shared, "data/conll2003/test.txt"), args.texts)
    tmp = tempfile.mkdtemp()
    text_file = os.path.join(tmp, "texts.txt")
    with open(text_file, "w") as f:
        f.write("\n".join(texts) + "\n")
    minilm = os.path.join(tmp, "minilm")
    os.makedirs(minilm)
    fx.dequantize_gguf(os.path.join(ROOT, "models/all-MiniLM-L6-v2/model.gguf"), minilm)
    nli_dir = os.path.join(tmp, "minilm-nli")
    torch.manual_seed(0)
    nli_labels = dict(num_labels=3, id2label={0: "contradiction", 1: "neutral", 2: "entailment"},
                      label2id={"contradiction": 0, "neutral": 1, "entailment": 2})
    if args.nli_arch == "minilm":
        nli = transformers.BertForSequenceClassification.from_pretrained(minilm, **nli_labels).eval()
    else:
        # microsoft/deberta-v3-base's config.json, with MiniLM's vocabulary.
        cfg = transformers.DebertaV2Config(
            vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512,
            type_vocab_size=0, layer_norm_eps=1e-7, relative_attention=True, max_relative_positions=-1,
            position_buckets=256, norm_rel_ebd="layer_norm", share_att_key=True,
            pos_att_type=["p2c", "c2p"], position_biased_input=False, pad_token_id=0,
            pooler_hidden_size=768, pooler_hidden_act="gelu", pooler_dropout=0, **nli_labels)
        nli = transformers.DebertaV2ForSequenceClassification(cfg).eval()
    nli.save_pretrained(nli_dir, safe_serialization=True)
    for name in ["tokenizer.json", "tokenizer_config.json"]:
        with open(os.path.join(minilm, name), "rb") as src, open(os.path.join(nli_dir, name), "wb") as dst:
            dst.write(src.read())
    tok = transformers.AutoTokenizer.from_pretrained(minilm)

    def mlkit(model, method):
        cmd = [args.mlkit, "-q", "zeroshot", "--model", model, "--method", method, "--labels", ",".join(LABELS),
               "--device", "cpu", "--threads", str(args.threads), "--format", "jsonl", "-o", os.path.join(tmp, "o.jsonl"), text_file]
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        return time.perf_counter() - start

    rows = []
    # Embedding method.
    secs = mlkit(os.path.join(ROOT, "models/all-MiniLM-L6-v2/model.gguf"), "embed")
    rows.append(("embed", "mlkit (q8 bundled)", secs, len(texts)))
    model = transformers.AutoModel.from_pretrained(minilm).eval()

    def embed(xs):
        out = []
        for i in range(0, len(xs), 32):
            enc = tok(xs[i:i + 32], padding=True, truncation=True, return_tensors="pt")
            with torch.no_grad():
                h = model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            out.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1))
        return torch.cat(out)

    embed(texts[:32])
    start = time.perf_counter()
    util.cos_sim(embed(texts), embed(LABELS))
    rows.append(("embed", "sentence-transformers style (PyTorch)", time.perf_counter() - start, len(texts)))
    # NLI method.
    pairs = len(texts) * len(LABELS)
    rows.append(("nli", f"mlkit f32 ({args.nli_arch})", mlkit(nli_dir, "nli"), pairs))
    nlp = transformers.pipeline("zero-shot-classification", model=nli, tokenizer=tok, device="cpu", batch_size=32)
    nlp(texts[:4], candidate_labels=LABELS)
    start = time.perf_counter()
    want = nlp(texts, candidate_labels=LABELS)
    rows.append(("nli", f"transformers pipeline ({args.nli_arch})", time.perf_counter() - start, pairs))

    # The NLI scores of both sides, label by label (random weights: a check, not a result).
    with open(os.path.join(tmp, "o.jsonl")) as f:
        got = [json.loads(line) for line in f]
    diff = max(abs(dict(zip(g["labels"], g["scores"]))[label] - score)
               for g, w in zip(got, want) for label, score in zip(w["labels"], w["scores"]))
    print(f"{args.threads} threads, {len(texts)} texts, {len(LABELS)} labels; NLI scores: "
          f"max |mlkit - pipeline| = {diff:.2e} over {len(got)} texts", file=sys.stderr)
    print(f"{'method':6} {'runtime':38} {'seconds':>8} {'items/s':>9} {'vs Python':>9}")
    base = {m: s for m, name, s, _ in rows if "mlkit" not in name}
    for method, name, secs, items in rows:
        print(f"{method:6} {name:38} {secs:8.2f} {items / secs:9.1f} {base[method] / secs:8.2f}x")


if __name__ == "__main__":
    main()
