#!/usr/bin/env python
"""How many 10 s clips per second the training input pipeline delivers, per core.

  python tools/bench_input.py [--clips 240] [--seconds 20] [--json PATH]

Makes a corpus in a temporary folder: `--clips` clips of 10 s of noise as
16-bit wav at the model's rate (16 kHz), the same at 44.1 kHz (which the
pipeline resamples), and the 16 kHz list as 8 record shards
(`corpus.records`). Each configuration runs in its own process pinned to 1
or 2 cores (`os.sched_setaffinity`) with that many parallel reads and
tf.data threads: `datasets.training_dataset` with the training settings
(shuffled, repeated, random 10 s crops, batches of 16 clips), a warm-up of
4 batches, then as many batches as `--seconds` allows; the rate is clips
delivered per wall-clock second.

Beside it, the demand: the paper's run (batch 256, ≈ 300k steps in 2.5
days on 16 TPU chips over 4 hosts: ≈ 356 clips/s in all, ≈ 90 clips/s per
host) and this machine's trainer at the paper's size (4 clips per step;
the step time from bench_results/train_step.json, else 8.23 s as measured in
docs/benchmarks.md). Prints a table and writes JSON (default
bench_results/input.json). Run it on a quiet machine: the rates are CPU-bound.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PAPER_CLIPS_PER_SECOND = 256 * 300_000 / (2.5 * 86_400)  # ≈ 356, all hosts
PAPER_HOSTS = 4
BATCH = 16


def _make_corpus(root, num_clips):
  import numpy as np  # pylint: disable=import-outside-toplevel
  from sound_separation.corpus import records  # pylint: disable=import-outside-toplevel
  from sound_separation.data import audio  # pylint: disable=import-outside-toplevel
  from sound_separation.data import lists  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  paths = {}
  for rate in (16000, 44100):
    entries = []
    for i in range(num_clips):
      path = os.path.join(root, f"wav{rate}", f"clip{i:04d}.wav")
      os.makedirs(os.path.dirname(path), exist_ok=True)
      audio.write_audio(path, audio.to_pcm16(0.1 * rng.standard_normal(10 * rate).clip(-1, 1)),
                        rate)
      entries.append((path, None))
    paths[rate] = lists.write_clip_list(os.path.join(root, f"clips{rate}.txt"), entries)
  paths["records"] = records.write_records(paths[16000], os.path.join(root, "rec", "clips"),
                                           "clips", sample_rate=16000, num_shards=8).index
  return paths


def _measure(data, data_format, cores, seconds):
  """Runs in the pinned child: clips per second of the training pipeline."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from sound_separation.data import datasets  # pylint: disable=import-outside-toplevel
  kwargs = dict(batch_size=BATCH, unsupervised_list=data, unsupervised_format=data_format,
                clip_seconds=10.0, sample_rate=16000, seed=0)
  ds = datasets.training_dataset(**kwargs)
  options = tf.data.Options()
  options.threading.private_threadpool_size = cores
  options.autotune.cpu_budget = cores
  iterator = iter(ds.with_options(options))
  for _ in range(4):
    next(iterator)
  count, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    next(iterator)
    count += BATCH
  return count / (time.perf_counter() - start)


def _child(args):
  cores = int(args.cores)
  os.sched_setaffinity(0, set(range(cores)))
  rate = _measure(args.data, args.format, cores, args.seconds)
  print(json.dumps({"clips_per_second": rate}))


def _trainer_demand():
  path = os.path.join(REPO, "bench_results", "train_step.json")
  seconds = 8.23
  try:
    with open(path, encoding="utf-8") as f:
      rows = json.load(f)
    rows = rows.get("results", rows) if isinstance(rows, dict) else rows
    for row in rows:
      if row.get("config") in ("fp32", "float32"):
        seconds = float(row.get("wall_seconds_per_step", row.get("wall_s_per_step", seconds)))
  except (OSError, ValueError, TypeError, AttributeError):
    pass
  return 4 / seconds, seconds


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--clips", type=int, default=240)
  parser.add_argument("--seconds", type=float, default=20.0)
  parser.add_argument("--json", default=os.path.join(REPO, "bench_results", "input.json"))
  parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--data", help=argparse.SUPPRESS)
  parser.add_argument("--format", help=argparse.SUPPRESS)
  parser.add_argument("--cores", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    _child(args)
    return
  with tempfile.TemporaryDirectory() as root:
    print(f"making {args.clips} clips of 10 s at 16 and 44.1 kHz and their records ...",
          flush=True)
    paths = _make_corpus(root, args.clips)
    configs = [("wav list, 16 kHz (model rate)", paths[16000], "clips"),
               ("wav list, 44.1 kHz (resampled)", paths[44100], "clips"),
               ("records (8 shards), 16 kHz", paths["records"], "records")]
    rows = []
    for name, data, data_format in configs:
      for cores in (1, 2):
        out = subprocess.run(
            [sys.executable, __file__, "--child", f"--data={data}", f"--format={data_format}",
             f"--cores={cores}", f"--seconds={args.seconds}"],
            capture_output=True, text=True, check=True, env=dict(os.environ, PYTHONPATH=REPO,
                                                                  TF_CPP_MIN_LOG_LEVEL="2"))
        rate = json.loads(out.stdout.strip().splitlines()[-1])["clips_per_second"]
        rows.append({"input": name, "cores": cores, "clips_per_second": rate,
                     "clips_per_second_per_core": rate / cores})
        print(f"  {name}, {cores} core(s): {rate:.1f} clips/s", flush=True)
  host_demand = PAPER_CLIPS_PER_SECOND / PAPER_HOSTS
  trainer_demand, step_seconds = _trainer_demand()
  print()
  print("| input | cores | clips/s | clips/s per core | × paper's per-host demand |")
  print("|---|---|---|---|---|")
  for row in rows:
    row["times_paper_host_demand"] = row["clips_per_second"] / host_demand
    print(f"| {row['input']} | {row['cores']} | {row['clips_per_second']:.1f} | "
          f"{row['clips_per_second_per_core']:.1f} | {row['times_paper_host_demand']:.2f}× |")
  print(f"\nDemand: the paper's run ≈ {PAPER_CLIPS_PER_SECOND:.0f} clips/s in all, "
        f"≈ {host_demand:.0f} per host; this machine's trainer at the paper's size "
        f"{trainer_demand:.2f} clips/s (4 clips per {step_seconds:.2f} s step).")
  result = {"rows": rows, "paper_clips_per_second": PAPER_CLIPS_PER_SECOND,
            "paper_clips_per_second_per_host": host_demand,
            "trainer_clips_per_second": trainer_demand, "clips": args.clips,
            "seconds": args.seconds, "batch": BATCH, "cpu_count": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d")}
  os.makedirs(os.path.dirname(args.json), exist_ok=True)
  with open(args.json, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=1)
  print(f"wrote {args.json}")


if __name__ == "__main__":
  main()
