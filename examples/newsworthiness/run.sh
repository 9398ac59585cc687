#!/usr/bin/env bash
# The notes' newsworthiness recipe (Nishal & Diakopoulos, "From Crowd Ratings to Predictive
# Models of Newsworthiness to Support Science Journalism"): extra trees on a Sentence-BERT
# embedding of each paper's abstract plus a binary "makes code or data available" column,
# and new papers ranked by the classifier's likelihood of being newsworthy.
#
# papers.csv and candidates.csv are 50 short abstracts written for this example (the
# paper's crowd ratings are not public here), labelled high or low.
#
#   examples/newsworthiness/run.sh            # with mlkit on PATH, or MLKIT=path/to/mlkit
set -euo pipefail
cd "$(dirname "$0")"
mlkit=${MLKIT:-mlkit}
model=$(mktemp -d)/newsworthiness.forest

# 384 embedding dimensions of the bundled all-MiniLM-L6-v2 and the 0/1 column.
"$mlkit" forest train papers.csv --target newsworthy \
    --features abstract,shares_code_or_data --embed abstract \
    --extra-trees --trees 500 --seed 0 -o "$model"

# Each candidate with its leaf probability of "high", most newsworthy first.
"$mlkit" -q forest predict "$model" candidates.csv --proba leaf |
    python3 -c '
import csv, sys
rows = sorted(csv.DictReader(sys.stdin), key=lambda r: -float(r["proba_high"]))
for r in rows:
    print("%.3f  %-4s  %s" % (float(r["proba_high"]), r["newsworthy"], r["title"]))
'

"$mlkit" -q forest eval "$model" candidates.csv --proba leaf | head -7
