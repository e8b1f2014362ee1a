#!/usr/bin/env python
"""Benchmark of the MixIT solvers: forward + gradient time and peak memory.

For each number of outputs M and each solver, a fresh Python process builds
random references `[B, 2, T]` and outputs `[B, M, T]`, traces one
`tf.function` computing the MixIT loss and its gradient with respect to the
outputs, then times `--repeats` calls. Memory is the process's peak resident
set during the timed calls (the kernel's high-water mark, reset after warm-up)
minus its resident set just before them: what one step adds on top of the
inputs and the TensorFlow runtime.

Usage:
  python tools/bench_mixit.py                       # B=8, T=160000, M=4,8,12,16
  python tools/bench_mixit.py --outputs 4 8 --json bench_results/mixit.json

Prints a table and writes JSON (default bench_results/mixit.json).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import bench_common  # tools/, the scripts' own folder

SOLVERS = ("exhaustive", "efficient", "exact_gram")


def run_one(solver, num_outputs, batch, samples, repeats, jit_compile):
  """Runs in the child process; returns a result dict."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from sound_separation.losses import mixture_invariant  # pylint: disable=import-outside-toplevel

  rng = np.random.default_rng(0)
  reference = tf.constant(rng.standard_normal((batch, 2, samples), np.float32))
  estimate = tf.Variable(rng.standard_normal((batch, num_outputs, samples),
                                             np.float32))

  @tf.function(jit_compile=jit_compile)
  def step():
    with tf.GradientTape() as tape:
      loss, _ = mixture_invariant.mixit(reference, estimate, solver=solver)
      total = tf.reduce_sum(loss)
    return total, tape.gradient(total, estimate)

  start = time.perf_counter()
  step()[1].numpy()
  first = time.perf_counter() - start
  bench_common.reset_peak_rss()
  baseline = bench_common.status_kb("VmRSS")
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    step()[1].numpy()
    times.append(time.perf_counter() - start)
  peak = bench_common.status_kb("VmHWM")
  times.sort()
  return {"solver": solver, "M": num_outputs, "B": batch, "T": samples,
          "jit_compile": jit_compile, "first_call_s": first,
          "median_s": times[len(times) // 2], "min_s": times[0],
          "repeats": repeats, "step_peak_mb": (peak - baseline) / 1024,
          "process_peak_mb": peak / 1024}


def main():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--samples", type=int, default=160000)
  parser.add_argument("--outputs", type=int, nargs="+", default=[4, 8, 12, 16])
  parser.add_argument("--solvers", nargs="+", default=list(SOLVERS),
                      choices=SOLVERS)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--jit_compile", action="store_true",
                      help="compile the step with XLA (slower on CPU)")
  parser.add_argument("--exhaustive_budget_s", type=float, default=120.0,
                      help="skip exhaustive at an M whose step is predicted "
                           "(from the previous M, ×N^ΔM) to take longer")
  parser.add_argument("--json", default="bench_results/mixit.json")
  parser.add_argument("--child", nargs=2, metavar=("SOLVER", "M"),
                      help=argparse.SUPPRESS)
  args = parser.parse_args()

  if args.child:
    result = run_one(args.child[0], int(args.child[1]), args.batch,
                     args.samples, args.repeats, args.jit_compile)
    print(json.dumps(result))
    return

  results, skipped = [], []
  last_exhaustive = None  # (M, seconds)
  for num_outputs in args.outputs:
    for solver in args.solvers:
      repeats = args.repeats
      if solver == "exhaustive" and last_exhaustive:
        predicted = last_exhaustive[1] * 2 ** (num_outputs - last_exhaustive[0])
        if predicted > args.exhaustive_budget_s:
          skipped.append({"solver": solver, "M": num_outputs,
                          "predicted_s": predicted})
          print(f"M={num_outputs:2d} {solver:11s} skipped: predicted "
                f"{predicted:.0f} s per step", flush=True)
          continue
        if predicted * repeats > args.exhaustive_budget_s:
          repeats = 1
      cmd = [sys.executable, os.path.abspath(__file__), "--child", solver,
             str(num_outputs), "--batch", str(args.batch), "--samples",
             str(args.samples), "--repeats", str(repeats)]
      if args.jit_compile:
        cmd.append("--jit_compile")
      out = subprocess.run(cmd, capture_output=True, text=True, check=False)
      if out.returncode != 0:
        sys.exit(f"benchmark child failed for {solver} M={num_outputs}:\n"
                 f"{out.stderr[-3000:]}")
      result = json.loads(out.stdout.strip().splitlines()[-1])
      results.append(result)
      if solver == "exhaustive":
        last_exhaustive = (num_outputs, result["median_s"])
      print(f"M={num_outputs:2d} {solver:11s} {result['median_s'] * 1e3:9.1f} ms"
            f" {result['step_peak_mb']:8.0f} MB", flush=True)

  efficient = {r["M"]: r["median_s"] for r in results if r["solver"] == "efficient"}
  lines = [f"B = {args.batch}, T = {args.samples}, N = 2; forward + gradient, "
           f"median of {args.repeats}" + (", XLA" if args.jit_compile else ""),
           "",
           "| M | solver | time per step | vs. efficient | step peak memory |",
           "|---|---|---|---|---|"]
  for r in results:
    ratio = (f"{r['median_s'] / efficient[r['M']]:.2f}×"
             if r["M"] in efficient else "–")
    lines.append(f"| {r['M']} | {r['solver']} | {r['median_s'] * 1e3:.0f} ms | "
                 f"{ratio} | {r['step_peak_mb']:.0f} MB |")
  for s in skipped:
    lines.append(f"| {s['M']} | {s['solver']} | not run (predicted "
                 f"{s['predicted_s']:.0f} s) | – | – |")
  print("\n" + "\n".join(lines))

  info = bench_common.machine()
  print(f"\nMachine: {info['cpu']}, {info['cores']} cores, TensorFlow "
        f"{info['tensorflow']}, Python {info['python']}")
  if args.json:
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
      json.dump({"machine": info, "args": vars(args), "results": results,
                 "skipped": skipped}, f, indent=2)
    print(f"Wrote {args.json}")


if __name__ == "__main__":
  main()
