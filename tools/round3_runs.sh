#!/usr/bin/env bash
# Round 3's compute (results/waspaa2021_round3/README.md), one process a core,
# each pinned with one TensorFlow thread; resumable: run it again and finished
# work is only re-read.
#
#   bash tools/round3_runs.sh DEV RUNS [CORE ...]
#
# DEV: the development corpus with DEV/study2 and DEV/study3
# (tools/prepare_study_data.py --round 2, then --round 3); RUNS: where the
# runs go (RUNS/study, RUNS/scaling; logs RUNS/*.log). CORE: the cores to
# use (default 0 1), e.g. only 1 while the other still trains adaptation
# evidence; a core joins part 1 by taking the next unlocked run.
#
# Part 1 (the study) first, then the scaling probe: each core trains one size,
# and a last invocation over every size (nothing left to train) writes the
# probe's JSON and figure. Part 2's production run is decided from these
# (the README's order): tools/round3_production.py writes its study file.
# To add a core to a running part 1 without a second probe:
# PART=study bash tools/round3_runs.sh DEV RUNS 0.
set -u
dev=${1:?usage: round3_runs.sh DEV RUNS [CORE ...]}
runs=${2:?usage: round3_runs.sh DEV RUNS [CORE ...]}
shift 2
cores=("$@")
[ ${#cores[@]} -eq 0 ] && cores=(0 1)
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
mkdir -p "$runs"
pinned() {  # pinned CORE COMMAND...
  local core=$1; shift
  TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 taskset -c "$core" nice -n 5 "$@"
}

for core in "${cores[@]}"; do
  pinned "$core" "$python" -m sound_separation study \
    --config="$here/results/waspaa2021_round3/study.gin" --out_dir="$runs/study" \
    --gin_param="DEV='$dev'" >> "$runs/study_core$core.log" 2>&1 &
done
wait
echo "part 1: $(tail -n 1 "$runs/study_core${cores[0]}.log")"
[ "${PART:-all}" = study ] && exit 0

# The probe runs at the M of the row round 3's shipping rule picked (the
# README's order: recipe first, then size).
m=$("$python" - "$here/results/waspaa2021_round3/results.json" <<'EOF'
import json, sys
try:
  shipping = json.load(open(sys.argv[1])).get("shipping") or {}
except OSError:
  shipping = {}
row = shipping.get("row") if shipping.get("complete") else None
print(row.split("/")[0][1:] if row else "")
EOF
)
if [ -z "$m" ]; then
  echo "part 1 is not complete or picked no row (results.json): the probe waits for it" >&2
  exit 1
fi

probe() {  # probe CORE OUT_DIR SIZE...
  local core=$1 out=$2; shift 2
  pinned "$core" "$python" "$here/tools/scaling_probe.py" --data "$dev" \
    --train_list study3/train_clip_list.txt --selection_list study2/selection_list.txt \
    --runs_dir "$runs/scaling" --out_dir "$out" --num_sources "$m" --sizes "$@" \
    >> "$runs/scaling.log" 2>&1
}
sizes=(S W D)
for ((k = 0; k < ${#cores[@]}; k++)); do
  (for ((s = k; s < ${#sizes[@]}; s += ${#cores[@]})); do
     probe "${cores[$k]}" "$runs/scaling/partial_${sizes[$s]}" "${sizes[$s]}"
   done) &
done
wait
probe "${cores[0]}" "$here/results/waspaa2021_round3/scaling" "${sizes[@]}"
echo "scaling probe: $(tail -n 1 "$runs/scaling.log")"
