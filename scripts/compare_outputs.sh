#!/usr/bin/env bash
# Runs every subcommand on examples/ and the CoNLL-2003 test sentences with two mlkit
# binaries and compares their outputs byte for byte (stdout, and the exit code): the proof
# that a refactoring changed no behaviour. Runs that differ are listed; a difference is
# expected only where a change fixed a defect, and the listing says which run it is.
#
#   scripts/compare_outputs.sh BEFORE_BINARY AFTER_BINARY [WORKDIR]
set -uo pipefail
before=$1 after=$2
work=${3:-$(mktemp -d)}
root="$(cd "$(dirname "$0")/.." && pwd)"
conll="$root/../shared/data/conll2003/test.txt"
mkdir -p "$work"
cd "$work" || exit 1
# Both binaries read the same bundled models (each would find the clone it was built from).
export MLKIT_MODELS="$root/models"
# Inputs: the examples, and the CoNLL test sentences as plain lines, JSON Lines and CSV.
cp "$root"/examples/* .
if [ -f "$conll" ]; then
  awk 'NF==0 {if (s != "") print s; s = ""; next} {s = (s == "" ? $1 : s " " $1)} END {if (s != "") print s}' \
    "$conll" > conll.txt
else
  echo "no $conll: the CoNLL runs use examples/news.txt" >&2
  cp news.txt conll.txt
fi
head -300 conll.txt > conll300.txt
python3 - <<'PY'
import csv, json
lines = open("conll300.txt", encoding="utf-8").read().splitlines()
with open("conll300.jsonl", "w", encoding="utf-8") as f:
    for i, t in enumerate(lines):
        f.write(json.dumps({"id": f"s{i}", "text": t, "n": i}) + "\n")
with open("conll300.csv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "text", "label"])
    for i, t in enumerate(lines):
        w.writerow([i, t, "sport" if i % 2 else "politics"])
PY
run() { # name, then the mlkit arguments; `@` stands for the binary's own output file
  local name=$1; shift
  for side in before after; do
    local bin=${!side}
    local args=("${@//@OUT/$side.$name.out}")
    "$bin" "${args[@]}" > "$side.$name.stdout" 2> /dev/null
    echo $? > "$side.$name.rc"
    # Timings are not outputs.
    sed -i -E 's/"seconds":[^,]*,"words_per_second":[^,]*,//; s/ in [0-9.]+ s \([0-9]+ words\/s\)//' \
      "$side.$name.stdout"
  done
  local same=1
  for f in stdout rc out; do
    if [ -e "before.$name.$f" ] || [ -e "after.$name.$f" ]; then
      cmp -s "before.$name.$f" "after.$name.$f" || same=0
    fi
  done
  if [ $same = 1 ]; then echo "same      $name"; else echo "DIFFERENT $name"; fi
}
run ner-news            ner --format jsonl news.txt
run ner-news-pretty     ner --format pretty news.txt
run ner-news-hf         ner --format hf --aggregation first news.txt
run ner-news-conll      ner --format conll news.txt
run ner-news-spacy      ner --format spacy news.txt
run ner-news-html       ner --format html news.txt
run ner-news-none       ner --aggregation none --min-score 0.5 --labels PER,ORG news.txt
run ner-news-doc        ner --unit doc news.txt
run ner-conll           ner --format jsonl conll.txt
run ner-conll-int8      ner --dtype int8 conll300.txt
run ner-jsonl-records   ner --text-field text conll300.jsonl
run ner-csv-column      ner --column text conll300.csv
run ner-csv-jsonl       ner --column text --format jsonl conll300.csv
run ner-two-inputs      ner news.txt conll300.txt
run ner-out-file        ner news.txt -o @OUT
run ner-eval            ner eval --gold "$conll" --format json
run zeroshot-lines      zeroshot --labels politics,sport,business,science news.txt
run zeroshot-hf         zeroshot --labels politics,sport --format hf --multi-label conll300.txt
run zeroshot-csv        zeroshot --labels politics,sport --column text conll300.csv
run zeroshot-csv-lines  zeroshot --labels politics,sport --format csv --top-k 1 news.txt
run zeroshot-records    zeroshot --labels politics,sport --text-field text --threshold 0.3 conll300.jsonl
run zeroshot-pretty     zeroshot --labels politics,sport --format pretty news.txt
run zeroshot-eval       zeroshot eval --gold-column label --column text --format json conll300.csv
run embed-lines         embed conll.txt
run embed-q8            embed --dtype q8 --pooling cls --normalize false conll300.txt
run embed-records       embed --text-field text conll300.jsonl
run embed-csv           embed --column text conll300.csv
run embed-csv-jsonl     embed --column text --format jsonl conll300.csv
run embed-npy-stdout    embed --format npy conll300.txt
run embed-npy-file      embed conll300.txt -o @OUT.npy
run sample-plain        sample --frac 0.5 --seed 42 companies.csv
run sample-by           sample --frac 0.5 --seed 42 --by Category companies.csv
run sample-apply        sample -n 1 --seed 7 --by Category --compat apply --stats companies.csv
run forest-train        forest train company_sectors.csv --target sector --text description --trees 20 --seed 1 -o @OUT
for side in before after; do
  "${!side}" forest train company_sectors.csv --target sector --text description --trees 20 \
    --seed 1 --calibrate sigmoid --cv 3 -o "$side.forest" > /dev/null 2>&1
done
cp before.forest model.forest
run forest-predict      forest predict model.forest company_sectors.csv --votes
run forest-predict-leaf forest predict model.forest company_sectors.csv --proba leaf
run forest-eval         forest eval model.forest company_sectors.csv --format json
run forest-eval-table   forest eval model.forest company_sectors.csv
run models-list         models list --json
run models-info         models info conll03-ner-minilm
run models-info-embed   models info all-MiniLM-L6-v2 --json
run quantize            quantize "$root/../shared/models/all-MiniLM-L6-v2" -o @OUT
run usage-bad-dtype     ner --dtype f64 news.txt
run usage-bad-device    embed --device tpu news.txt
run usage-no-column     ner --column nope conll300.csv
echo "outputs in $work"
