#!/usr/bin/env bash
# The adaptation evidence runs of results/adapt/plan.md, two at a time, each
# pinned to one core with one TensorFlow thread; resumable: run it again and
# finished runs only re-select (nothing trains), killed ones resume.
#
#   bash tools/adapt_evidence_runs.sh DEV RUNS [RUN ...]
#
# DEV: the development corpus with DEV/adapt (tools/prepare_adapt_data.py);
# RUNS: where the run folders go (RUNS/<run>, RUNS/<run>.log). RUN names
# which runs (default: all of the plan, in its order), e.g. speech_s3.
# Then: python tools/adapt_evidence.py --runs_dir RUNS --corpus DEV
set -u
dev=${1:?usage: adapt_evidence_runs.sh DEV RUNS [RUN ...]}
runs=${2:?usage: adapt_evidence_runs.sh DEV RUNS [RUN ...]}
shift 2
# The plan's budgets: 2 CPU-hours of the shipped model's step on one core
# here (0.639 s/step) for speech, 1 CPU-hour for the outdoor shift.
declare -A steps=([speech]=11270 [outdoor]=5640)
# Then the sparsity arm (plan amendment 2): speech with --sparsity_weight=5.
plan=(speech_s1 speech_s2 speech_s3 outdoor_s1 outdoor_s2 outdoor_s3
      speech_sparse_s1 speech_sparse_s2 speech_sparse_s3)
[ $# -gt 0 ] && plan=("$@")
python=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
mkdir -p "$runs"

run_one() {  # run_one NAME CORE   (NAME: <domain>[_sparse]_s<seed>)
  local name=$1 core=$2 domain=${1%%_*} seed=${1##*_s} sparsity=0
  [[ $name == *_sparse_s* ]] && sparsity=5
  TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 taskset -c "$core" nice -n 5 \
    "$python" -m sound_separation adapt --audio="$dev/adapt/$domain/recordings" \
    --out_dir="$runs/$name" --steps="${steps[$domain]}" --seed="$seed" \
    --sparsity_weight="$sparsity" >> "$runs/$name.log" 2>&1
  echo "$name: exit $? ($(tail -n 1 "$runs/$name.log"))"
}

# Two workers, one a core, each taking every other run of the plan in turn.
worker() {  # worker CORE FIRST
  local k
  for ((k = $2; k < ${#plan[@]}; k += 2)); do run_one "${plan[$k]}" "$1"; done
}
worker 0 0 &
worker 1 1 &
wait
