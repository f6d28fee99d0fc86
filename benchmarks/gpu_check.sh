#!/usr/bin/env bash
# One prepared check of ganforge on an NVIDIA GPU, for a machine where PyTorch is installed and nothing
# else can be (no pip, no network). From the repository root:
#
#   bash benchmarks/gpu_check.sh                                   # the real run: cuda, under 8 minutes
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_STEPS=2 GPU_CHECK_TRAIN_STEPS=2 \
#     GPU_CHECK_OVERRIDES="train.batch_size=32" OMP_NUM_THREADS=1 bash benchmarks/gpu_check.sh   # dry run
#
# Parts: versions (nvidia-smi, torch, CUDA, the optional imports); the CUDA-relevant tests
# (tests/train/test_steps.py's precision tests, fp16 being the CUDA one; they train on scikit-learn's
# digits, so they need sklearn and pytest); `ganforge bench` of mnist-dcgan in fp32, bf16 and fp16, each
# with and without train.channels_last and train.compile (train and sample img/s); a short bf16 training
# run that must write a checkpoint, and `ganforge sample` from it. Data: fashion-mnist where found on the
# machine, else random 28x28 IDX files written here (speed depends on shapes only); never a download.
# Every part has its own `timeout` and the whole run a budget (GPU_CHECK_BUDGET seconds, parts that no
# longer fit are "skipped (time)"); a part that fails is a FAILED row, never a stop. At the end: one
# markdown table and the test summary line, also in $OUT/gpu_check.md (with every part's log under
# $OUT/gpu_check_logs/ and the bench results as $OUT/gpu_check.jsonl) when $OUT is set.
#
# Settings: GPU_CHECK_DEVICE (cuda), GPU_CHECK_STEPS (timed bench steps, 50), GPU_CHECK_TRAIN_STEPS (30),
# GPU_CHECK_BUDGET (450), GPU_CHECK_OVERRIDES (key=value pairs for every bench and train run),
# GPU_CHECK_SYNTHETIC=1 (the random images even where fashion-mnist is found), PYTHON.

set -u  # no -e: a failing part is a row of the table, not the end of the check

cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
export GANFORGE_OFFLINE=1  # no part may wait on a download mirror
DEVICE=${GPU_CHECK_DEVICE:-cuda}
STEPS=${GPU_CHECK_STEPS:-50}
TRAIN_STEPS=${GPU_CHECK_TRAIN_STEPS:-30}
BUDGET=${GPU_CHECK_BUDGET:-450}
read -r -a OVERRIDES <<< "${GPU_CHECK_OVERRIDES:-}"
PY=${PYTHON:-$(command -v python || command -v python3)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOGS=$WORK/logs
mkdir -p "$LOGS"
ROWS=()

# run_part NAME LIMIT CMD...: CMD under `timeout` (LIMIT seconds, or what is left of the budget), its
# output in $LOGS/NAME.log; sets RC (the exit status, or "skip" when the budget is spent).
run_part() {
  local name=$1 limit=$2 left
  shift 2
  left=$((BUDGET - SECONDS - 10))
  if ((left < 20)); then
    RC=skip
    echo "skipped: the time budget is spent" > "$LOGS/$name.log"
    return
  fi
  ((limit > left)) && limit=$left
  echo "== $name (limit ${limit}s, ${SECONDS}s elapsed)"
  timeout -k 10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  RC=$?
  if ((RC != 0)); then tail -n 3 "$LOGS/$name.log" | sed 's/^/   | /'; fi
}

status() {  # the table's word for RC
  case $RC in
    0) echo ok ;;
    skip) echo "skipped (time)" ;;
    124 | 137) echo "FAILED (timeout)" ;;
    [0-9]*) echo "FAILED (exit $RC)" ;;
    *) echo "FAILED ($RC)" ;;
  esac
}

# -- versions and what imports --------------------------------------------------------------------
echo "== environment"
if command -v nvidia-smi > /dev/null; then timeout 20 nvidia-smi; else echo "nvidia-smi: not found"; fi
run_part environment 60 "$PY" - "$DEVICE" << 'EOF'
import importlib, sys
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
      f"cuda available {torch.cuda.is_available()}, ATen CPU {torch.backends.cpu.get_cpu_capability()}")
if torch.cuda.is_available():
    print(f"GPU {torch.cuda.get_device_name(0)}, capability {torch.cuda.get_device_capability(0)}, "
          f"bf16 {torch.cuda.is_bf16_supported()}")
for name in ("numpy", "yaml", "PIL", "matplotlib", "tqdm", "scipy", "sklearn", "pytest", "triton"):
    try:
        print(f"import {name}: {getattr(importlib.import_module(name), '__version__', 'ok')}")
    except Exception as e:
        print(f"import {name}: MISSING ({type(e).__name__})")
import ganforge
print(f"ganforge {ganforge.__version__}")
sys.exit(0 if sys.argv[1] == "cpu" or torch.cuda.is_available() else 3)  # 3: no usable GPU
EOF
cat "$LOGS/environment.log"
ROWS+=("| environment ($DEVICE) | - | - | - | - | - | $(status) |")
has() { grep -q "^import $1: [^M]" "$LOGS/environment.log"; }

# -- data: fashion-mnist if the machine has it, else random IDX files of its shape ----------------
run_part data 60 "$PY" - "$WORK/data/fashion-mnist" << 'EOF'
import os, sys
import numpy as np
from ganforge.data import load_dataset
try:
    if os.environ.get("GPU_CHECK_SYNTHETIC", "0") != "0":
        raise LookupError("GPU_CHECK_SYNTHETIC is set")
    load_dataset("fashion-mnist", download=False)
    print("data: fashion-mnist, found on this machine")
except Exception as e:  # not here: 28x28 noise in IDX files (magic, big-endian sizes, bytes) instead
    folder, rng = sys.argv[1], np.random.default_rng(0)
    os.makedirs(folder)
    for prefix, n in (("train", 4096), ("t10k", 1024)):
        for kind, magic, arr in (("images-idx3", 0x803, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                                 ("labels-idx1", 0x801, rng.integers(0, 10, n, dtype=np.uint8))):
            head = b"".join(int(v).to_bytes(4, "big") for v in (magic, *arr.shape))
            with open(f"{folder}/{prefix}-{kind}-ubyte", "wb") as f:
                f.write(head + arr.tobytes())
    print(f"data: random 28x28 images in fashion-mnist's files, 4096 train ({e})")
EOF
DATA_NOTE=$(tail -n 1 "$LOGS/data.log")
echo "$DATA_NOTE"
[[ -d $WORK/data/fashion-mnist ]] && export GANFORGE_DATA_DIR=$WORK/data

# -- ganforge bench rows: mnist-dcgan, one precision and layout and compile setting each ----------
bench_row() {  # PRECISION CHANNELS_LAST COMPILE
  local name="bench-$1-cl-$2-compile-$3" limit=60 figs="- | -"
  [[ $3 == true ]] && limit=150
  run_part "$name" "$limit" "$PY" -m ganforge bench --preset mnist-dcgan --dataset fashion-mnist \
    --device "$DEVICE" --steps "$STEPS" --windows 5 --json \
    "train.precision=$1" "train.channels_last=$2" "train.compile=$3" "${OVERRIDES[@]}"
  if [[ $RC == 0 ]]; then
    tail -n 1 "$LOGS/$name.log" >> "$WORK/bench.jsonl"
    figs=$(tail -n 1 "$LOGS/$name.log" | "$PY" -c 'import json, sys
r = json.loads(sys.stdin.read())
print("%.0f | %.0f" % (r["train_img_per_s"], r["sample_img_per_s"]))') || { RC="no JSON result"; figs="- | -"; }
  fi
  ROWS+=("| mnist-dcgan bench | $1 | $2 | $3 | $figs | $(status) |")
}

for precision in fp32 bf16 fp16; do
  for cl in false true; do bench_row "$precision" "$cl" false; done
done

# -- a short bf16 (autocast) training run: it must finish and write a checkpoint; then sample from it
run_part train-bf16 120 "$PY" -m ganforge train --preset mnist-dcgan --dataset fashion-mnist --device "$DEVICE" \
  --steps "$TRAIN_STEPS" --out "$WORK/run" train.precision=bf16 "${OVERRIDES[@]}"
CKPT=$(ls "$WORK"/run/checkpoints/ckpt_*.pt 2> /dev/null | tail -n 1)
[[ $RC == 0 && -z $CKPT ]] && RC="no checkpoint written"
[[ $RC == 0 ]] && echo "   checkpoint: ${CKPT#"$WORK"/}"
ROWS+=("| train $TRAIN_STEPS steps, checkpoint | bf16 | false | false | - | - | $(status) |")
if [[ $RC == skip ]]; then
  :  # no time left for training: none for sampling either
elif [[ -n $CKPT ]]; then
  run_part sample 60 "$PY" -m ganforge sample "$WORK/run" --num 256 --out "$WORK/samples.npz" --device "$DEVICE"
else
  RC="no checkpoint to sample"
fi
ROWS+=("| sample 256 from the checkpoint | - | - | - | - | - | $(status) |")

# -- the test suite's CUDA-relevant tests (fp16 needs CUDA; the others run each precision) ---------
TESTS="tests/train/test_steps.py -k 'cuda or precision'"
if ! has pytest; then
  RC="no pytest"; SUMMARY="tests not run: pytest does not import"
elif ! has sklearn; then
  RC="no scikit-learn"; SUMMARY="tests not run: they train on digits, which needs scikit-learn"
else
  run_part tests 150 "$PY" -m pytest -q -x -p no:cacheprovider tests/train/test_steps.py -k "cuda or precision"
  SUMMARY=$(grep -E "passed|failed|error|no tests ran|skipped:" "$LOGS/tests.log" | tail -n 1)
  SUMMARY=${SUMMARY:-"no pytest summary (see the tests log)"}
fi
ROWS+=("| pytest $TESTS | - | - | - | - | - | $(status) |")

# -- torch.compile rows last: the slowest to build, so the budget cuts these first -----------------
for cl in false true; do
  for precision in bf16 fp32 fp16; do bench_row "$precision" "$cl" true; done
done

# -- the table -------------------------------------------------------------------------------------
REPORT=$WORK/gpu_check.md
{
  echo "## ganforge GPU check: device $DEVICE, ${SECONDS}s"
  echo
  grep -m 1 '^torch ' "$LOGS/environment.log" || echo "torch: did not import"
  grep -m 1 '^GPU ' "$LOGS/environment.log"
  echo "$DATA_NOTE; bench: $STEPS timed steps${OVERRIDES[*]:+, overrides ${OVERRIDES[*]}}"
  echo
  echo "| configuration | precision | channels_last | compile | train img/s | sample img/s | status |"
  echo "|---|---|---|---|---:|---:|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "tests: $SUMMARY"
} > "$REPORT"
echo
cat "$REPORT"
if [[ -n ${OUT:-} ]]; then
  mkdir -p "$OUT/gpu_check_logs"
  cp "$REPORT" "$OUT/gpu_check.md"
  cp "$LOGS"/*.log "$OUT/gpu_check_logs/"
  [[ -f $WORK/bench.jsonl ]] && cp "$WORK/bench.jsonl" "$OUT/gpu_check.jsonl"
fi
exit 0
