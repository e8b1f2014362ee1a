#!/usr/bin/env python
"""Where a small-study training step's time goes: seconds per step, per configuration.

The small study (`results/waspaa2021_round2/`) trains the demo-size separator
with `gin/studies/small_recipe.gin` (4 MoMs of 4 s a step) on 2 CPU cores.
This script trains each configuration below for `--steps` steps through the
real training loop (`training.loop.train`), in its own process, and reports
the mean wall seconds per step over the steps after the first `--warmup`
(tracing and compilation excluded) and the steps per hour:

- `sparsity`: L1/L2 sparsity, the real input pipeline (wav clips, crops);
- `sparsity-synthetic`: the same on one batch held in memory (the input
  pipeline's cost is the difference);
- `sparsity-xla`: the whole train step compiled by XLA (`train.jit_compile`);
- `sparsity-efficient`: the efficient MixIT solver instead of `exact_gram`;
- `sparsity-spe10`: ten train steps per `tf.function` call
  (`train.steps_per_execution`: one host round trip per ten steps);
- `sparsity-bf16`: mixed bfloat16 (`train.precision`);
- `semantic`: soft-OR + cosine + L1/L2 with the study's classifier trained
  jointly (the most expensive semantic arm);
- `semantic-frozen`: soft-OR with the classifier frozen;
- `semantic-xla`: `semantic` with XLA.

Usage (the lists of `tools/prepare_study_data.py --round 2` and a classifier
of `gin/studies/small_classifier.gin`):

  python tools/profile_study_step.py --data DEV/study2 --classifier CLASSIFIER \\
      [--configs sparsity semantic] [--steps 130] [--warmup 30] [--num_sources 8] \\
      [--threads 1]

`--num_sources 8` profiles the shipped model's size (what `adapt` trains);
`--threads N` gives each configuration's process N TensorFlow threads
(intra- and inter-op; pin the tool with `taskset` to match). Each row has
the wall and the CPU seconds per step (all threads) after the warm-up: on a
shared machine the CPU time moves less than the wall time.

Prints a table and writes JSON (default bench_results/study_step.json). Run
it on an otherwise idle machine: it measures time.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import types

import bench_common  # tools/, the scripts' own folder


# Each configuration: a study arm at a weight (`study/arms.py`, the same bindings the
# study trains with), and how the step runs. The semantic arms use the data's
# classifier; cosine and sparsity weights are those of the small study.
CONFIGS = {
    "sparsity": dict(arm="l1_l2", weight=5.0),
    "sparsity-synthetic": dict(arm="l1_l2", weight=5.0, synthetic=True),
    "sparsity-xla": dict(arm="l1_l2", weight=5.0,
                         params=["sound_separation.train.jit_compile = True"]),
    "sparsity-efficient": dict(arm="l1_l2_efficient", weight=5.0),
    "sparsity-spe10": dict(arm="l1_l2", weight=5.0,
                           params=["sound_separation.train.steps_per_execution = 10"]),
    "sparsity-bf16": dict(arm="l1_l2", weight=5.0,
                          params=["sound_separation.train.precision = 'mixed_bfloat16'"]),
    "semantic": dict(arm="soft_or+cosine+l1_l2", weight=3.0),
    "semantic-frozen": dict(arm="soft_or", weight=3.0),
    "semantic-xla": dict(arm="soft_or+cosine+l1_l2", weight=3.0,
                         params=["sound_separation.train.jit_compile = True"]),
}


def _child(name, data, classifier, steps, warmup, log_every, num_sources):
  """Trains one configuration; returns its measurements (run in a fresh process)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from sound_separation import gin_utils  # pylint: disable=import-outside-toplevel
  from sound_separation.training import loop  # pylint: disable=import-outside-toplevel
  from sound_separation.training import progress  # pylint: disable=import-outside-toplevel
  config = CONFIGS[name]
  params = [f"sound_separation.training_dataset.unsupervised_list = "
            f"{os.path.join(data, 'train_clip_list.txt')!r}",
            f"sound_separation.train.num_steps = {steps}",
            "sound_separation.train.steps_per_checkpoint = 1000",
            f"sound_separation.train.log_every = {log_every}", "sound_separation.train.seed = 1",
            f"sound_separation.SeparationModel.num_sources = {num_sources}"]
  from sound_separation.study import arms  # pylint: disable=import-outside-toplevel
  study = types.SimpleNamespace(classifier_dir=classifier, cosine_weight=3.0, sparsity_weight=5.0,
                                label_vocabulary=os.path.join(data, "labels.txt"))
  gin_utils.parse_gin(["studies/small_recipe"], params
                      + arms.get(config["arm"]).bindings(config["weight"], study)
                      + config.get("params", []))
  train_data = None
  if config.get("synthetic"):
    from sound_separation.data import datasets  # pylint: disable=import-outside-toplevel
    batch = next(iter(datasets.training_dataset(default_seed=1)))
    train_data = tf.data.Dataset.from_tensors(batch).repeat()
  with tempfile.TemporaryDirectory() as model_dir:
    start = time.monotonic()
    loop.train(model_dir, train_data=train_data, stream=io.StringIO())
    total = time.monotonic() - start
    events = progress.ProgressFile(model_dir).read_new()
  try:
    seconds = progress.seconds_per_step_after(events, warmup)
    cpu = progress.seconds_per_step_after(events, warmup, field="cpu_seconds_per_step")
  except ValueError as e:
    raise ValueError(f"{e}: --log_every must divide --warmup, which must be below --steps") from e
  return {"config": name, "seconds_per_step": seconds, "cpu_seconds_per_step": cpu,
          "steps_per_hour": 3600.0 / seconds,
          "steps_timed": steps - warmup, "total_seconds": total,
          "cpu_seconds": time.process_time(), "peak_rss_gb": bench_common.status_kb(
              "VmHWM") / 2 ** 20}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data", required=True, help="DEV/study2 (lists and labels.txt)")
  parser.add_argument("--classifier", default=None,
                      help="a train-classifier run folder (the semantic configurations)")
  parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
  parser.add_argument("--steps", type=int, default=130)
  parser.add_argument("--warmup", type=int, default=30)
  parser.add_argument("--log_every", type=int, default=10,
                      help="steps between the loop's progress lines (each is timed). Each "
                           "line waits for the step's metrics; at 1 that host round trip "
                           "is part of every step, which real runs (the study and adapt log "
                           "every 50) do not pay, and it made ten steps per call look 10 %% "
                           "faster than they are")
  parser.add_argument("--num_sources", type=int, default=4,
                      help="M (4: the study's recipe; 8: the shipped model's size)")
  parser.add_argument("--threads", type=int, default=None,
                      help="TensorFlow intra- and inter-op threads of each configuration")
  parser.add_argument("--timeout", type=float, default=600.0,
                      help="seconds a configuration may take (XLA compiles can take longer)")
  parser.add_argument("--out", default=None)
  parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  chosen = [args.child] if args.child else args.configs
  semantic = [name for name in chosen if CONFIGS[name]["arm"].startswith("soft_or")]
  if semantic and not args.classifier:
    parser.error(f"--classifier is needed by {', '.join(semantic)}")
  if args.child:
    print("RESULT " + json.dumps(_child(args.child, args.data, args.classifier, args.steps,
                                        args.warmup, args.log_every, args.num_sources)))
    return
  rows = []
  for name in args.configs:
    command = [sys.executable, os.path.abspath(__file__), "--data", args.data,
               *(["--classifier", args.classifier] if args.classifier else []), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--log_every", str(args.log_every), "--num_sources", str(args.num_sources),
               "--child", name]
    # The allocator `sound-separation` (and so the study) trains with: without
    # it this step is 2-3x slower, and the profile would time another program.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    if args.threads:
      env.update(TF_NUM_INTRAOP_THREADS=str(args.threads),
                 TF_NUM_INTEROP_THREADS=str(args.threads))
    try:
      result = subprocess.run(command, capture_output=True, text=True, env=env, check=False,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired:
      rows.append({"config": name, "failed": f"did not finish in {args.timeout:g} s"})
      print(f"{name:20s} did not finish in {args.timeout:g} s", flush=True)
      continue
    lines = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")]
    if result.returncode or not lines:
      rows.append({"config": name, "failed": result.stderr[-500:]})
      print(f"{name:20s} failed: {result.stderr[-500:]}", flush=True)
      continue
    rows.append(json.loads(lines[-1][len("RESULT "):]))
    row = rows[-1]
    print(f"{name:20s} {row['seconds_per_step']:7.3f} s/step  {row['cpu_seconds_per_step']:7.3f} "
          f"CPU-s/step  {row['steps_per_hour']:7.0f} steps/h  peak {row['peak_rss_gb']:.2f} GB",
          flush=True)
  failed = [r for r in rows if "failed" in r]
  rows = [r for r in rows if "failed" not in r]
  base = {r["config"]: r["seconds_per_step"] for r in rows}
  for r in failed:
    print(f"{r['config']}: {r['failed']}")
  print(f"\nM = {args.num_sources}, threads: {args.threads or 'TensorFlow default'}")
  print("\n| configuration | s/step | CPU-s/step | steps/hour | × sparsity | peak RSS GB |")
  print("|---|---|---|---|---|---|")
  for r in rows:
    ratio = (f"{r['seconds_per_step'] / base['sparsity']:.2f}" if "sparsity" in base else "–")
    print(f"| {r['config']} | {r['seconds_per_step']:.3f} | {r['cpu_seconds_per_step']:.3f} | "
          f"{r['steps_per_hour']:.0f} | {ratio} | {r['peak_rss_gb']:.2f} |")
  out = args.out or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                 "bench_results", "study_step.json")
  os.makedirs(os.path.dirname(out), exist_ok=True)
  with open(out, "w", encoding="utf-8") as f:
    json.dump({"machine": bench_common.machine(), "steps": args.steps, "warmup": args.warmup,
               "log_every": args.log_every, "num_sources": args.num_sources, "threads": args.threads,
               "rows": rows, "failed": failed}, f, indent=1)
  print(f"\nWrote {out}")


if __name__ == "__main__":
  main()
