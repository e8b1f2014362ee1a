#!/usr/bin/env python
"""What the non-finite guard of a training step costs, measured interleaved.

Two `MixITTrainer`s with the same separator size in one process: one with
the guarded step (`TrainingModel.apply_if_finite`: finiteness check,
all-reduced decision, conditional optimizer step), one with a plain
`optimizer.apply`. Their `train_on_batch` steps alternate (ABAB...), so
drift of a shared, noisy machine hits both alike; the medians and the
median of the per-pair ratios are reported.

Usage:
  python tools/bench_guard.py [--size demo|paper] [--pairs 15] [--xla]

Prints a table and writes JSON (default bench_results/guard_<size>.json).
"""

import argparse
import json
import os
import statistics
import time

import bench_common  # tools/, the scripts' own folder


SIZES = {
    # gin/models/demo.gin, 8 clips of 4 s (the study's step).
    "demo": dict(model=dict(num_sources=4, num_basis=64),
                 tdcn=dict(bottleneck=64, conv_channels=128, num_dilations=8, num_repeats=2,
                           kernel_size=3, skip_residuals=False),
                 batch=8, seconds=4.0),
    # The paper's separator, 4 mixtures of 10 s.
    "paper": dict(model=dict(num_sources=8), tdcn=dict(), batch=4, seconds=10.0),
}


def main():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--size", choices=sorted(SIZES), default="demo")
  parser.add_argument("--pairs", type=int, default=15)
  parser.add_argument("--xla", action="store_true", help="jit_compile the train step")
  parser.add_argument("--json", default=None)
  args = parser.parse_args()

  import keras  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from sound_separation.layers.tdcn import TDCNPlusPlus  # pylint: disable=import-outside-toplevel
  from sound_separation.models import SeparationModel  # pylint: disable=import-outside-toplevel
  from sound_separation.training import trainer as trainer_lib  # pylint: disable=import-outside-toplevel

  class Unguarded(trainer_lib.MixITTrainer):
    def apply_if_finite(self, tape, loss, scaled_loss):
      variables = self.trainable_variables
      self.optimizer.apply(tape.gradient(scaled_loss, variables), variables)

  size = SIZES[args.size]
  samples = int(size["seconds"] * 16000)
  batch = {"mixtures": tf.constant(
      0.1 * np.random.default_rng(0).standard_normal((size["batch"], samples)), tf.float32)}
  trainers = {}
  for name, cls in (("guarded", trainer_lib.MixITTrainer), ("unguarded", Unguarded)):
    separator = SeparationModel(tdcn=TDCNPlusPlus(**size["tdcn"]), **size["model"])
    trainer = cls(separator)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=args.xla)
    trainer.train_on_batch(batch)  # trace (and compile)
    trainer.train_on_batch(batch)
    trainers[name] = trainer
  times = {name: [] for name in trainers}
  for _ in range(args.pairs):
    for name, trainer in trainers.items():
      start = time.perf_counter()
      trainer.train_on_batch(batch)
      times[name].append(time.perf_counter() - start)
  ratios = [g / u for g, u in zip(times["guarded"], times["unguarded"])]
  result = {"size": args.size, "xla": args.xla, "pairs": args.pairs,
            "guarded_s": statistics.median(times["guarded"]),
            "unguarded_s": statistics.median(times["unguarded"]),
            "median_ratio": statistics.median(ratios),
            "ratio_quartiles": statistics.quantiles(ratios, n=4),
            "times": times, "machine": bench_common.machine()}
  table = "\n".join([
      f"{args.size} size, {args.pairs} interleaved pairs of train_on_batch steps"
      f"{' (XLA)' if args.xla else ''}", "",
      "| step | median s | guarded / unguarded (median of pairs) | quartiles |",
      "|---|---|---|---|",
      f"| guarded | {result['guarded_s']:.3f} | {result['median_ratio']:.3f} | "
      f"{result['ratio_quartiles'][0]:.3f}–{result['ratio_quartiles'][2]:.3f} |",
      f"| unguarded | {result['unguarded_s']:.3f} | | |"])
  print(table)
  result["table"] = table
  out = args.json or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                  "bench_results",
                                  f"guard_{args.size}{'_xla' if args.xla else ''}.json")
  with open(out, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=1)
  print(f"Wrote {out}")


if __name__ == "__main__":
  main()
