#!/usr/bin/env python3
"""Fine-tunes all-MiniLM-L6-v2 for English NER on CoNLL-2003 (the bundled `mlkit ner` model).

Reproducible recipe for models/conll03-ner-minilm/ (see its MODEL_CARD.md):

    python models/recipes/conll03-ner-minilm-train.py \
        --base ../shared/models/all-MiniLM-L6-v2 --data ../shared/data/conll2003 \
        --out /tmp/conll03-ner-minilm --epochs 20 --lr 7e-5 --batch 16 --warmup 0.1 --seed 42
    cp ../shared/models/all-MiniLM-L6-v2/tokenizer.json /tmp/conll03-ner-minilm/
    cargo run --release -p mlkit -- quantize /tmp/conll03-ner-minilm \
        -o models/conll03-ner-minilm/model.gguf --type q8_0

Plain PyTorch loop over transformers' BertForTokenClassification (no Trainer, so it runs
unchanged on transformers 4.x and 5.x, CPU or CUDA). One sentence per sequence, no
document context (the shared CoNLL files carry no -DOCSTART- lines), labels on the first
sub-token of each word (the rest are ignored with -100), AdamW with linear warm-up and decay.
The epoch with the best validation F1 is kept; test F1 is reported at the end with the same
first-sub-token rule `mlkit ner eval` uses. Entity-level F1 is computed by a port of seqeval's
default (non-strict) IOB2 chunking, so the numbers match `seqeval.metrics.f1_score`.
"""

import argparse
import json
import math
import os
import random
import time

import torch
from transformers import AutoTokenizer, BertForTokenClassification

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def read_conll(path):
    """Sentences as (words, tags); `TOKEN TAG 0` lines, blank lines between sentences."""
    sentences, words, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("-DOCSTART-"):
                if words:
                    sentences.append((words, tags))
                    words, tags = [], []
                continue
            parts = line.split()
            words.append(parts[0])
            tags.append(parts[1])
    if words:
        sentences.append((words, tags))
    return sentences


def chunks(seq):
    """seqeval.metrics.sequence_labeling.get_entities (default mode) for one sequence."""
    out = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, chunk in enumerate(list(seq) + ["O"]):
        tag = chunk[0]
        typ = chunk[1:].split("-", maxsplit=1)[-1] or "_"
        if end_of_chunk(prev_tag, tag, prev_type, typ):
            out.append((prev_type, begin, i - 1))
        if start_of_chunk(prev_tag, tag, prev_type, typ):
            begin = i
        prev_tag, prev_type = tag, typ
    return out


def end_of_chunk(prev_tag, tag, prev_type, typ):
    return (
        prev_tag in ("E", "S")
        or (prev_tag == "B" and tag in ("B", "S", "O"))
        or (prev_tag == "I" and tag in ("B", "S", "O"))
        or (prev_tag not in ("O", ".") and prev_type != typ)
    )


def start_of_chunk(prev_tag, tag, prev_type, typ):
    return (
        tag in ("B", "S")
        or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
        or (tag not in ("O", ".") and prev_type != typ)
    )


def f1(gold, pred):
    """Micro entity F1 over sentences (seqeval.metrics.f1_score)."""
    true_pos = n_gold = n_pred = 0
    for g, p in zip(gold, pred):
        gs, ps = set(chunks(g)), set(chunks(p))
        true_pos += len(gs & ps)
        n_gold += len(gs)
        n_pred += len(ps)
    precision = true_pos / n_pred if n_pred else 0.0
    recall = true_pos / n_gold if n_gold else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def encode(tokenizer, sentences, max_len):
    """Token ids and first-sub-token labels; a sentence longer than max_len is an error."""
    label_id = {l: i for i, l in enumerate(LABELS)}
    out = []
    for n, (words, tags) in enumerate(sentences):
        enc = tokenizer(words, is_split_into_words=True, truncation=False)
        if len(enc["input_ids"]) > max_len:
            raise SystemExit(f"sentence {n} has {len(enc['input_ids'])} tokens > {max_len}")
        labels, seen = [], set()
        for w in enc.word_ids():
            if w is None or w in seen:
                labels.append(-100)
            else:
                seen.add(w)
                labels.append(label_id[tags[w]])
        out.append((enc["input_ids"], labels))
    return out


def batches(items, size, shuffle, rng):
    order = list(range(len(items)))
    if shuffle:
        rng.shuffle(order)
    for start in range(0, len(order), size):
        idx = order[start : start + size]
        width = max(len(items[i][0]) for i in idx)
        ids = torch.zeros(len(idx), width, dtype=torch.long)
        mask = torch.zeros(len(idx), width, dtype=torch.long)
        labels = torch.full((len(idx), width), -100, dtype=torch.long)
        for row, i in enumerate(idx):
            n = len(items[i][0])
            ids[row, :n] = torch.tensor(items[i][0])
            mask[row, :n] = 1
            labels[row, :n] = torch.tensor(items[i][1])
        yield idx, ids, mask, labels


@torch.no_grad()
def predict_tags(model, items, device, batch_size=128):
    model.eval()
    tags = [None] * len(items)
    for idx, ids, mask, labels in batches(items, batch_size, False, None):
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        best = logits.argmax(-1).cpu()
        for row, i in enumerate(idx):
            keep = labels[row] != -100
            tags[i] = [LABELS[t] for t in best[row][keep].tolist()]
    model.train()
    return tags


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=7e-5)
    ap.add_argument("--warmup", type=float, default=0.1, help="share of steps")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--max-len", type=int, default=512, help="longest sentence allowed; none is cut")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()

    started = time.time()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    tokenizer = AutoTokenizer.from_pretrained(args.base)
    train = read_conll(os.path.join(args.data, "train.txt"))
    valid = read_conll(os.path.join(args.data, "valid.txt"))
    test = read_conll(os.path.join(args.data, "test.txt"))
    train_items = encode(tokenizer, train, args.max_len)
    valid_items = encode(tokenizer, valid, args.max_len)
    test_items = encode(tokenizer, test, args.max_len)

    model = BertForTokenClassification.from_pretrained(
        args.base,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={l: i for i, l in enumerate(LABELS)},
    ).to(args.device)
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": args.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=args.lr)
    steps = args.epochs * math.ceil(len(train_items) / args.batch)
    warm = int(args.warmup * steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: s / max(1, warm) if s < warm else max(0.0, (steps - s) / max(1, steps - warm)),
    )

    best_f1, best_epoch, history = -1.0, 0, []
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        for _, ids, mask, labels in batches(train_items, args.batch, True, rng):
            loss = model(
                input_ids=ids.to(args.device),
                attention_mask=mask.to(args.device),
                labels=labels.to(args.device),
            ).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += loss.item()
        valid_f1 = f1([t for _, t in valid], predict_tags(model, valid_items, args.device))
        history.append({"epoch": epoch, "loss": total, "valid_f1": valid_f1})
        print(json.dumps(history[-1]), flush=True)
        if valid_f1 > best_f1:
            best_f1, best_epoch = valid_f1, epoch
            model.save_pretrained(args.out, safe_serialization=True)
            tokenizer.save_pretrained(args.out)

    model = BertForTokenClassification.from_pretrained(args.out).to(args.device)
    test_f1 = f1([t for _, t in test], predict_tags(model, test_items, args.device))
    report = {
        "args": vars(args),
        "best_epoch": best_epoch,
        "valid_f1": best_f1,
        "test_f1": test_f1,
        "history": history,
        "seconds": round(time.time() - started, 1),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
    }
    with open(os.path.join(args.out, "training_report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps({k: v for k, v in report.items() if k != "history"}))


if __name__ == "__main__":
    main()
