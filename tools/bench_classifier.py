#!/usr/bin/env python
"""Peak memory (and time) of a MixIT step with the classifier losses, 3 s vs 10 s clips.

The paper cut clips to 3 s to fit the separator and the classifier in
memory. This measures one training step of the paper's AudioSet "Class."
configuration: `SeparationModel(num_sources=4)` at full size (8.8M
parameters), the paper's `SoundClassifier` (ResNet-18, K = 527, 11.5M
parameters) trained jointly on every output (soft-OR and cosine losses),
exact MixIT, Adam; a batch of `--batch` single mixtures (B/2 MoMs, B/2·4
classifier inputs). Per configuration: clip length, per-block recomputation
(TDCN++ blocks and ResNet blocks, `MixITTrainer(recompute=True)`) and
whether the classifier is there at all (the separator-only step shows what
the classifier adds).

Each configuration runs in its own process: build, one warm-up step, then
`--repeats` timed steps; peak memory is the process's high-water mark
(VmHWM), warm-up included. Prints a table and writes JSON (default
bench_results/classifier.json).

Usage:
  python tools/bench_classifier.py                       # the default configurations
  python tools/bench_classifier.py --configs 3s 10s-recompute
  python tools/bench_classifier.py --smoke               # tiny models, short clips

The 10 s step without recomputation needs more memory than a small machine
may have free (`10s` is not in the default set; name it to run it).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import bench_common  # tools/, the scripts' own folder


CONFIGS = {
    "3s-separator": dict(seconds=3.0, recompute=False, classifier=False),
    "3s": dict(seconds=3.0, recompute=False, classifier=True),
    "3s-recompute": dict(seconds=3.0, recompute=True, classifier=True),
    "10s-separator-recompute": dict(seconds=10.0, recompute=True, classifier=False),
    "10s-recompute": dict(seconds=10.0, recompute=True, classifier=True),
    "10s": dict(seconds=10.0, recompute=False, classifier=True),
}
DEFAULT_CONFIGS = ("3s-separator", "3s", "3s-recompute", "10s-separator-recompute",
                   "10s-recompute")

FULL = dict(separator=dict(num_sources=4), classifier=dict(num_classes=527))
SMOKE = dict(separator=dict(num_sources=4, num_basis=32),
             tdcn=dict(bottleneck=16, conv_channels=32, num_dilations=3, num_repeats=2),
             classifier=dict(num_classes=5, num_filters=8, widths=(4, 8), blocks_per_stage=1))


def _cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def run_child(name, args):
  """In the child process: one configuration; returns a dict."""
  import keras  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from sound_separation.layers import TDCNPlusPlus  # pylint: disable=import-outside-toplevel
  from sound_separation.models import SeparationModel  # pylint: disable=import-outside-toplevel
  from sound_separation.models import SoundClassifier  # pylint: disable=import-outside-toplevel
  from sound_separation.training import MixITTrainer  # pylint: disable=import-outside-toplevel
  from sound_separation.training import loss_terms  # pylint: disable=import-outside-toplevel

  config = CONFIGS[name]
  sizes = SMOKE if args.smoke else FULL
  seconds = config["seconds"] * (0.1 if args.smoke else 1.0)
  samples = int(round(seconds * 16000))
  keras.utils.set_random_seed(0)
  tdcn = TDCNPlusPlus(name="tdcn", **sizes.get("tdcn", {}))
  separator = SeparationModel(tdcn=tdcn, **sizes["separator"])
  kwargs = {}
  classifier = None
  if config["classifier"]:
    classifier = SoundClassifier(**sizes["classifier"])
    kwargs = dict(classifier=classifier, joint_classifier=True, loss_terms=[
        loss_terms.MixIT(), loss_terms.Classification(), loss_terms.CosineSimilarity()])
  trainer = MixITTrainer(separator, recompute=config["recompute"], **kwargs)
  trainer.compile()
  rng = np.random.default_rng(0)
  batch = {"mixtures": tf.constant(0.1 * rng.standard_normal((args.batch, samples)),
                                   tf.float32)}
  num_classes = sizes["classifier"]["num_classes"]
  labels = np.zeros((args.batch, num_classes), np.float32)
  labels[np.arange(args.batch), rng.integers(0, num_classes, args.batch)] = 1
  batch["labels"] = tf.constant(labels)
  built_kb = bench_common.status_kb("VmRSS")
  start, cpu = time.perf_counter(), _cpu_seconds()
  logs = trainer.train_on_batch(batch, return_dict=True)
  first_s = time.perf_counter() - start
  walls, cpus = [], []
  for _ in range(args.repeats):
    start, cpu = time.perf_counter(), _cpu_seconds()
    logs = trainer.train_on_batch(batch, return_dict=True)
    walls.append(time.perf_counter() - start)
    cpus.append(_cpu_seconds() - cpu)
  if not np.isfinite(logs["loss"]):
    raise RuntimeError(f"non-finite loss {logs}")
  return {"config": name, **config, "seconds": seconds, "samples": samples,
          "batch": args.batch, "separator_params": int(separator.count_params()),
          "classifier_params": int(classifier.count_params()) if classifier else 0,
          "first_step_s": first_s, "wall_s": statistics.median(walls) if walls else None,
          "cpu_s": statistics.median(cpus) if cpus else None,
          "peak_rss_gb": bench_common.status_kb("VmHWM") / 2 ** 20,
          "built_rss_gb": built_kb / 2 ** 20,
          "loss": {k: float(v) for k, v in logs.items()}}


def main():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")  # as the CLI
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--configs", nargs="+", choices=list(CONFIGS),
                      default=list(DEFAULT_CONFIGS))
  parser.add_argument("--batch", type=int, default=4, help="single mixtures (even)")
  parser.add_argument("--repeats", type=int, default=1)
  parser.add_argument("--smoke", action="store_true")
  parser.add_argument("--json", default=None)
  parser.add_argument("--child", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.batch % 2:
    parser.error("--batch must be even")
  if args.child:
    print(json.dumps(run_child(args.child, args)))
    return
  results = []
  for name in args.configs:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--batch",
           str(args.batch), "--repeats", str(args.repeats)] + (["--smoke"] if args.smoke else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
      print(f"{name}: failed (status {out.returncode}):\n{out.stderr[-2000:]}", flush=True)
      results.append({"config": name, **CONFIGS[name], "failed": out.stderr[-2000:]})
      continue
    result = json.loads(out.stdout.strip().splitlines()[-1])
    results.append(result)
    print(f"{name:26s} peak {result['peak_rss_gb']:6.2f} GB  first step "
          f"{result['first_step_s']:6.1f} s  step {result['wall_s'] or float('nan'):6.1f} s",
          flush=True)
  lines = [f"\nB = {args.batch} mixtures ({args.batch // 2} MoMs, M = 4); paper separator + "
           f"ResNet-18 classifier (K = 527) trained jointly; peak = VmHWM of the process",
           "", "| config | clip s | recompute | classifier | peak RSS GB | step s | CPU s |",
           "|---|---|---|---|---|---|---|"]
  for r in results:
    if "failed" in r:
      lines.append(f"| {r['config']} | {r['seconds']:g} | {r['recompute']} | "
                   f"{r['classifier']} | failed | – | – |")
      continue
    step = "–" if r["wall_s"] is None else f"{r['wall_s']:.3g}"
    cpu = "–" if r["cpu_s"] is None else f"{r['cpu_s']:.3g}"
    lines.append(f"| {r['config']} | {r['seconds']:g} | {r['recompute']} | {r['classifier']} | "
                 f"{r['peak_rss_gb']:.2f} | {step} | {cpu} |")
  print("\n".join(lines))
  info = bench_common.machine()
  path = args.json or ("bench_results/classifier_smoke.json" if args.smoke
                       else "bench_results/classifier.json")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    json.dump({"machine": info, "args": vars(args), "results": results}, f, indent=2)
  print(f"Wrote {path}")


if __name__ == "__main__":
  main()
