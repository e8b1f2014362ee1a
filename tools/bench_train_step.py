#!/usr/bin/env python
"""Benchmark of one MixIT training step: seconds per step and peak memory.

The paper's configuration: `SeparationModel(num_sources=8)` at full size
(256 bases, TDCN++ of 4 × 8 blocks with 512 channels), a batch of 4 single
mixtures of 10 s at 16 kHz (2 mixtures of mixtures, formed by
`MixITTrainer`), one Adam step (`trainer.compile()`), the MixIT loss with the
trainer's solver.

Each configuration runs in its own Python process (so that peak memory is
its own): build, one warm-up step (tracing and, with XLA, compiling), then
`--repeats` timed steps. The step is `trainer.train_on_batch({'mixtures': x})`
(Keras' train function, a `tf.function` of `MixITTrainer.train_step`, with
XLA iff the configuration says so) or, with `--mode function`, our own
`tf.function` of `train_step`. Reported per step: median wall seconds,
median process CPU seconds (user + system of all threads), and the
process's peak resident set (the kernel's high-water mark VmHWM, warm-up
included, since a real run pays for it too).

The time is also given as a multiple of matmul floors: the step's matmul
work is counted from the model's shapes (2 flops per multiply-add, ×3 for
forward plus backward) and timed at this machine's measured `tf.matmul`
speed for each of those shapes (forward, input-gradient and
kernel-gradient forms), in a separate process, once in float32 and once in
bfloat16 in the same run: each configuration is set against the floor of
its own compute precision (and the float32 one). With `--parts` the blocks' elementwise
middles are timed alone too, and each step is split into its matmul floor,
its middles and the rest (run it with one thread, `--env
TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1`, for the parts to add
up; tiny `--smoke` shapes only check the script, their calls are all
overhead). Ratios to the original TF1
code are given only with `--tf1_seconds` (and `--tf1_peak_gb`) measured on
the same machine: its time differs from machine to machine.

Usage:
  python tools/bench_train_step.py                  # every configuration
  python tools/bench_train_step.py --configs fp32 bf16-recompute
  python tools/bench_train_step.py --smoke          # tiny model, 0.25 s clips

Prints a table and writes JSON (default bench_results/train_step.json;
smoke runs default to bench_results/train_step_smoke.json). The machine is
shared and small: run full-size configurations one at a time and treat the
numbers as noisy.
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

# Benchmark the checkout this script belongs to, even where another copy of
# sound_separation is installed (the development venv installs one editable).

# The compute precision of each training precision, for its matmul floor.
FLOOR_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16",
               "mixed_float16": "float16"}

CONFIGS = {
    "fp32": dict(precision="float32", recompute=False, jit_compile=False,
                 solver="exact_gram"),
    "fp32-recompute": dict(precision="float32", recompute=True,
                           jit_compile=False, solver="exact_gram"),
    "fp32-xla": dict(precision="float32", recompute=False, jit_compile=True,
                     solver="exact_gram"),
    "fp32-recompute-xla": dict(precision="float32", recompute=True,
                               jit_compile=True, solver="exact_gram"),
    "bf16": dict(precision="mixed_bfloat16", recompute=False,
                 jit_compile=False, solver="exact_gram"),
    "bf16-recompute": dict(precision="mixed_bfloat16", recompute=True,
                           jit_compile=False, solver="exact_gram"),
    "fp32-exhaustive": dict(precision="float32", recompute=False,
                            jit_compile=False, solver="exhaustive"),
    # The step without its non-finite guard (`TrainingModel.apply_if_finite`
    # replaced by a plain optimizer step): what the guard costs.
    "fp32-unguarded": dict(precision="float32", recompute=False,
                           jit_compile=False, solver="exact_gram", unguarded=True),
    "fp32-xla-unguarded": dict(precision="float32", recompute=False,
                               jit_compile=True, solver="exact_gram", unguarded=True),
}

# Model and data sizes: the paper's, and a tiny one that validates the script
# in seconds.
FULL = dict(num_sources=8, num_basis=256, bottleneck=256, conv_channels=512,
            num_dilations=8, num_repeats=4, batch=4, seconds=10.0,
            sample_rate=16000)
SMOKE = dict(num_sources=4, num_basis=32, bottleneck=16, conv_channels=32,
             num_dilations=3, num_repeats=2, batch=4, seconds=0.25,
             sample_rate=16000)
SIZE_KEYS = tuple(FULL)


def _cpu_seconds():
  # Every thread of the process, user and system: TensorFlow's pools work
  # outside the calling thread, so thread CPU time would miss them.
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def num_frames(samples, window, hop):
  # As transforms.num_frames, without importing TensorFlow in the parent.
  return 1 - (-max(samples - window, 0) // hop)


def matmul_shapes(model, batch, samples):
  """The step's matmuls as `(name, m, k, n, count)`: `[m, k] @ [k, n]`, `count` times.

  Read from the built separator's kernels; the rows are frames (or frames
  of every output, for the decoder) of the whole batch of MoMs. The MixIT
  loss and mixture consistency add only `[M, T]`-sized products (a few
  tens of MFLOP) and are left out.
  """
  moms = batch // 2
  frames = num_frames(samples, model.window_size, model.hop_size)
  rows = moms * frames
  shapes = []

  def add(name, dense, m):
    k, n = dense.kernel.shape
    shapes.append((name, m, int(k), int(n), 1))

  add("encoder", model.encoder.dense, rows)
  tdcn = model.tdcn
  add("initial_dense", tdcn.initial_dense.dense, rows)
  for (src, dst), dense in tdcn.skips.items():
    add(f"res_dense_{src}_to_{dst}", dense.dense, rows)
  for block in tdcn.blocks:
    add("dense1", block.dense1.dense, rows)
    add("dense2", block.dense2.dense, rows)
  add("mask_dense", model.mask_dense, rows)
  add("decoder", model.decoder.dense, rows * model.num_sources)
  # Merge repeats of one shape (the blocks' denses).
  merged = {}
  for name, m, k, n, count in shapes:
    key = (name, m, k, n)
    merged[key] = merged.get(key, 0) + count
  return [(name, m, k, n, c) for (name, m, k, n), c in merged.items()]


def step_flops(shapes):
  """Forward flops (2 per multiply-add) and forward + backward (×3)."""
  forward = sum(2 * m * k * n * c for _, m, k, n, c in shapes)
  return forward, 3 * forward


def build(sizes, config):
  """Builds the trainer for one configuration; returns (trainer, separator)."""
  import keras  # pylint: disable=import-outside-toplevel
  from sound_separation.layers import TDCNPlusPlus  # pylint: disable=import-outside-toplevel
  from sound_separation.models import SeparationModel  # pylint: disable=import-outside-toplevel
  from sound_separation.training import MixITTrainer  # pylint: disable=import-outside-toplevel
  from sound_separation.training import loss_terms  # pylint: disable=import-outside-toplevel

  keras.mixed_precision.set_global_policy(config["precision"])
  keras.utils.set_random_seed(0)
  tdcn = TDCNPlusPlus(bottleneck=sizes["bottleneck"],
                      conv_channels=sizes["conv_channels"],
                      num_dilations=sizes["num_dilations"],
                      num_repeats=sizes["num_repeats"], name="tdcn")
  separator = SeparationModel(num_sources=sizes["num_sources"],
                              num_basis=sizes["num_basis"], tdcn=tdcn)
  if config.get("unguarded"):
    from sound_separation.training import training_model  # pylint: disable=import-outside-toplevel

    def plain_step(self, tape, loss, scaled_loss):
      del loss
      variables = self.trainable_variables
      self.optimizer.apply(tape.gradient(scaled_loss, variables), variables)
    training_model.TrainingModel.apply_if_finite = plain_step
  trainer = MixITTrainer(separator, loss_terms=[loss_terms.MixIT(solver=config["solver"])],
                         recompute=config["recompute"])
  trainer.compile(jit_compile=config["jit_compile"])
  return trainer, separator


def run_step_child(name, sizes, repeats, mode):
  """Runs in the child process: times one configuration; returns a dict."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  import sound_separation  # pylint: disable=import-outside-toplevel

  config = CONFIGS[name]
  samples = int(round(sizes["seconds"] * sizes["sample_rate"]))
  start = time.perf_counter()
  trainer, separator = build(sizes, config)
  build_s = time.perf_counter() - start
  rng = np.random.default_rng(0)
  x = tf.constant(0.1 * rng.standard_normal((sizes["batch"], samples)),
                  tf.float32)
  batch = {"mixtures": x}

  if mode == "train_on_batch":
    def step():
      return trainer.train_on_batch(batch, return_dict=True)
  else:
    trainer.optimizer.build(trainer.trainable_variables)
    function = tf.function(trainer.train_step,
                           jit_compile=config["jit_compile"])

    def step():
      return {k: float(v) for k, v in function(batch).items()}

  rss_built_kb = bench_common.status_kb("VmRSS")
  start, cpu = time.perf_counter(), _cpu_seconds()
  logs = step()
  first_s, first_cpu = time.perf_counter() - start, _cpu_seconds() - cpu
  warmup_peak_kb = bench_common.status_kb("VmHWM")
  bench_common.reset_peak_rss()
  walls, cpus = [], []
  for _ in range(repeats):
    start, cpu = time.perf_counter(), _cpu_seconds()
    logs = step()
    walls.append(time.perf_counter() - start)
    cpus.append(_cpu_seconds() - cpu)
  steady_peak_kb = bench_common.status_kb("VmHWM")
  if not np.isfinite(logs["loss"]):
    raise RuntimeError(f"non-finite loss {logs['loss']}")
  forward, total = step_flops(matmul_shapes(separator, sizes["batch"],
                                            samples))
  return {"config": name, **config, "mode": mode, "samples": samples,
          "params": int(separator.count_params()),
          "module": sound_separation.__file__,
          "build_s": build_s, "first_step_s": first_s,
          "first_step_cpu_s": first_cpu,
          "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
          "wall_all_s": walls, "cpu_all_s": cpus, "repeats": repeats,
          "peak_rss_gb": max(warmup_peak_kb, steady_peak_kb) / 2 ** 20,
          "warmup_peak_rss_gb": warmup_peak_kb / 2 ** 20,
          "steady_peak_rss_gb": steady_peak_kb / 2 ** 20,
          "built_rss_gb": rss_built_kb / 2 ** 20,
          "forward_flop": forward, "step_flop": total,
          "loss": float(logs["loss"])}


def run_floor_child(sizes, repeats, dtype_name):
  """Runs in the child process: `tf.matmul` speed at the step's shapes.

  Each forward matmul `[m, k] @ [k, n]` has two backward ones: the input
  gradient `[m, n] @ [k, n]ᵀ` and the kernel gradient `[m, k]ᵀ @ [m, n]`.
  All three are timed (median of `repeats` after one warm-up call) and the
  floor is the sum over the step's matmuls of their measured times.
  """
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  config = dict(CONFIGS["fp32"])
  trainer, separator = build(sizes, config)
  del trainer
  samples = int(round(sizes["seconds"] * sizes["sample_rate"]))
  shapes = matmul_shapes(separator, sizes["batch"], samples)
  dtype = tf.as_dtype(dtype_name)
  rng = np.random.default_rng(0)

  def operand(rows, cols):
    return tf.cast(tf.constant(rng.standard_normal((rows, cols)), tf.float32),
                   dtype)

  @tf.function
  def matmul(a, b, transpose_a, transpose_b):
    # Reduced to a scalar so that the timing holds no [m, n] copy to NumPy.
    product = tf.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    return tf.reduce_sum(product[:1])

  def timed(a, b, transpose_a=False, transpose_b=False):
    matmul(a, b, transpose_a, transpose_b).numpy()
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      matmul(a, b, transpose_a, transpose_b).numpy()
      times.append(time.perf_counter() - start)
    return statistics.median(times)

  rows, floor_s, flop = [], 0.0, 0
  for name, m, k, n, count in shapes:
    x, w, dy = operand(m, k), operand(k, n), operand(m, n)
    forms = {"forward": timed(x, w), "grad_input": timed(dy, w, False, True),
             "grad_kernel": timed(x, dy, True, False)}
    one = 2 * m * k * n
    for form, seconds in forms.items():
      rows.append({"name": name, "form": form, "m": m, "k": k, "n": n,
                   "count": count, "seconds": seconds,
                   "gflop_s": one / seconds / 1e9})
      floor_s += count * seconds
      flop += count * one
  return {"dtype": dtype_name, "floor_s": floor_s, "flop": flop,
          "gflop_s": flop / floor_s / 1e9, "shapes": rows}


def run_middles_child(sizes, repeats, dtype_name):
  """Runs in the child process: the step's elementwise block work, alone.

  Each TDCN++ block's middle (PReLU, instance norm, depthwise convolution,
  PReLU, instance norm: `layers/fused_block.py`) runs as an XLA program on
  one thread, forward once and backward once a step, on every chain of the
  stack (`TDCNPlusPlus.MAX_CHAINS`). Here both programs are timed at the
  step's shapes and compute dtype for each dilation (median of `repeats`
  after a warm-up call) and summed over the blocks and chains: the
  single-thread time the step spends in them. Parameter values are
  synthetic; the programs' speed depends only on shapes and dtype.
  """
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from sound_separation.layers import TDCNPlusPlus  # pylint: disable=import-outside-toplevel
  from sound_separation.layers import fused_block  # pylint: disable=import-outside-toplevel

  samples = int(round(sizes["seconds"] * sizes["sample_rate"]))
  frames = num_frames(samples, 40, 20)  # the paper's encoder window and hop
  moms = sizes["batch"] // 2
  chains = min(moms, TDCNPlusPlus.MAX_CHAINS)
  chain_batches = [moms // chains + (i < moms % chains) for i in range(chains)]
  channels, kernel_size = sizes["conv_channels"], 3
  dtype = tf.as_dtype(dtype_name)
  rng = np.random.default_rng(0)

  def tensor(shape, scale=1.0):
    return tf.constant(scale * rng.standard_normal(shape), tf.float32)

  params = (tf.constant([0.25]), tensor([channels], 0.1) + 1.0, tensor([channels], 0.1),
            tensor([kernel_size, channels], 0.5), tensor([channels], 0.1),
            tf.constant([0.25]), tensor([channels], 0.1) + 1.0, tensor([channels], 0.1))

  def timed(function):
    function()
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      function()
      times.append(time.perf_counter() - start)
    return statistics.median(times)

  rows, total = [], 0.0
  for batch in sorted(set(chain_batches)):
    shape = [batch, frames, channels]
    h, grad = tf.cast(tensor(shape), dtype), tf.cast(tensor(shape, 0.01), dtype)
    same = chain_batches.count(batch)
    for d in range(sizes["num_dilations"]):
      conv_size = (kernel_size, 2 ** d)
      _, c, stats = fused_block._middle_forward_xla(  # pylint: disable=protected-access
          h, params, conv_size, (1e-8, 1e-8), dtype)
      forward = timed(lambda: fused_block._middle_forward_xla(  # pylint: disable=protected-access
          h, params, conv_size, (1e-8, 1e-8), dtype)[0].numpy()[0, 0, 0])
      backward = timed(lambda: fused_block._middle_backward_xla(  # pylint: disable=protected-access
          h, c, stats, params, grad, conv_size, dtype)[1].numpy()[0, 0, 0])
      count = same * sizes["num_repeats"]
      rows.append({"chain_batch": batch, "dilation": 2 ** d, "count": count,
                   "forward_s": forward, "backward_s": backward})
      total += count * (forward + backward)
  return {"dtype": dtype_name, "middles_s": total, "chains": chain_batches,
          "frames": frames, "channels": channels, "rows": rows}


def _child(args, *child_args):
  cmd = [sys.executable, os.path.abspath(__file__), "--child", *child_args,
         "--repeats", str(args.repeats), "--mode", args.mode]
  for key in SIZE_KEYS:
    cmd += [f"--{key}", str(getattr(args, key))]
  env = dict(os.environ)
  env.update(item.split("=", 1) for item in args.env)
  out = subprocess.run(cmd, capture_output=True, text=True, check=False,
                       env=env)
  if out.returncode != 0:
    sys.exit(f"benchmark child {child_args} failed:\n{out.stderr[-3000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def _ratio(seconds, floor):
  return f"{seconds / floor['floor_s']:.2f}×" if floor else "–"


def _table(results, floors, args):
  tf1 = args.tf1_seconds is not None
  lines = [
      f"B = {args.batch} mixtures ({args.batch // 2} MoMs) of "
      f"{args.seconds:g} s at {args.sample_rate} Hz; {args.mode}; wall and "
      f"CPU: median of {args.repeats} steps after a warm-up step; peak: "
      f"VmHWM of the process, warm-up included"
      + (f"; environment {' '.join(args.env)}" if args.env else ""),
      "",
      "| config | wall s/step | CPU s/step | peak RSS GB | × fp32 floor | × own floor | "
      "first step s |" + (" × TF1 time | × TF1 memory |" if tf1 else ""),
      "|---|---|---|---|---|---|---|" + ("---|---|" if tf1 else "")]
  for r in results:
    own = floors.get(FLOOR_DTYPE[CONFIGS[r["config"]]["precision"]])
    line = (f"| {r['config']} | {r['wall_s']:.3g} | {r['cpu_s']:.3g} | "
            f"{r['peak_rss_gb']:.2f} | {_ratio(r['wall_s'], floors.get('float32'))} | "
            f"{_ratio(r['wall_s'], own)} | {r['first_step_s']:.1f} |")
    if tf1:
      memory = (f"{r['peak_rss_gb'] / args.tf1_peak_gb:.2f}×" if args.tf1_peak_gb
                else "–")
      line += f" {r['wall_s'] / args.tf1_seconds:.2f}× | {memory} |"
    lines.append(line)
  return "\n".join(lines)


def _parts(results, floors, middles):
  """Each step split into its matmul floor, its block middles and the rest (seconds)."""
  parts = {}
  for r in results:
    dtype = FLOOR_DTYPE[CONFIGS[r["config"]]["precision"]]
    if dtype in floors and dtype in middles:
      matmuls, middle = floors[dtype]["floor_s"], middles[dtype]["middles_s"]
      parts[r["config"]] = {"step_s": r["wall_s"], "matmul_floor_s": matmuls,
                            "middles_s": middle, "rest_s": r["wall_s"] - matmuls - middle}
  return parts


def _parts_table(results, floors, middles):
  lines = ["| config | step s | matrix products (floor) s | block middles s | rest s |",
           "|---|---|---|---|---|"]
  for name, p in _parts(results, floors, middles).items():
    share = lambda v, p=p: f"{v:.3g} ({100 * v / p['step_s']:.0f} %)"
    lines.append(f"| {name} | {p['step_s']:.3g} | {share(p['matmul_floor_s'])} | "
                 f"{share(p['middles_s'])} | {share(p['rest_s'])} |")
  return "\n".join(lines)


def main():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--configs", nargs="+", choices=list(CONFIGS),
                      default=list(CONFIGS))
  parser.add_argument("--smoke", action="store_true",
                      help="tiny model and 0.25 s clips, to check the script")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--mode", choices=("train_on_batch", "function"),
                      default="train_on_batch",
                      help="time trainer.train_on_batch, or a tf.function of "
                           "trainer.train_step")
  parser.add_argument("--no_floor", action="store_true",
                      help="skip measuring the matmul floors")
  parser.add_argument("--floors", nargs="+", default=["float32", "bfloat16"],
                      choices=("float32", "bfloat16", "float16"),
                      help="the precisions whose matmul floor is measured")
  parser.add_argument("--parts", action="store_true",
                      help="also time the blocks' elementwise middles alone (per floor "
                           "precision) and split each step into matrix products, middles "
                           "and the rest; meaningful with one thread (--env "
                           "TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1), where the "
                           "parts add up")
  parser.add_argument("--tf1_seconds", type=float, default=None,
                      help="the original TF1 code's step on this machine (s), for ratios")
  parser.add_argument("--tf1_peak_gb", type=float, default=None,
                      help="its peak memory on this machine (GB)")
  parser.add_argument("--env", nargs="+", default=[], metavar="NAME=VALUE",
                      help="environment of the configurations' processes, "
                           "e.g. TF_CPU_ALLOCATOR_USE_BFC=true")
  parser.add_argument("--json", default=None)
  for key, value in FULL.items():
    parser.add_argument(f"--{key}", type=type(value), default=None,
                        help=f"default {value} ({SMOKE[key]} with --smoke)")
  parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
  args = parser.parse_args()
  for key in SIZE_KEYS:
    if getattr(args, key) is None:
      setattr(args, key, (SMOKE if args.smoke else FULL)[key])
  if args.batch % 2:
    parser.error("--batch must be even: pairs of mixtures form the MoMs")
  if any("=" not in item for item in args.env):
    parser.error("--env takes NAME=VALUE items")
  sizes = {key: getattr(args, key) for key in SIZE_KEYS}

  if args.child:
    if args.child[0] == "floor":
      result = run_floor_child(sizes, max(args.repeats, 5), args.child[1])
    elif args.child[0] == "middles":
      result = run_middles_child(sizes, max(args.repeats, 5), args.child[1])
    else:
      result = run_step_child(args.child[0], sizes, args.repeats, args.mode)
    print(json.dumps(result))
    return

  floors = {}
  for dtype in ([] if args.no_floor else args.floors):
    floors[dtype] = floor = _child(args, "floor", dtype)
    print(f"matmul work: {floor['flop'] / 1e12:.4g} TFLOP per step "
          f"(forward + backward); tf.matmul in {dtype} at these shapes: "
          f"{floor['gflop_s']:.0f} GFLOP/s -> floor {floor['floor_s']:.3g} s",
          flush=True)
  middles = {}
  for dtype in (args.floors if args.parts else []):
    middles[dtype] = part = _child(args, "middles", dtype)
    print(f"block middles in {dtype}: {part['middles_s']:.3g} s per step (one thread)",
          flush=True)
  results = []
  for name in args.configs:
    result = _child(args, name)
    results.append(result)
    print(f"{name:20s} wall {result['wall_s']:7.3g} s  CPU "
          f"{result['cpu_s']:7.3g} s  peak {result['peak_rss_gb']:6.2f} GB  "
          f"(first step {result['first_step_s']:.1f} s)", flush=True)
  if not results:
    return
  print(f"\nModule: {results[0]['module']}; step matmul work "
        f"{results[0]['step_flop'] / 1e12:.4g} TFLOP "
        f"(forward {results[0]['forward_flop'] / 1e9:.4g} GFLOP ×3)")
  print("\n" + _table(results, floors, args))
  if middles:
    print("\n" + _parts_table(results, floors, middles))
  info = bench_common.machine()
  print(f"\nMachine: {info['cpu']} ({' '.join(info['cpu_flags'])}), {info['cores']} cores, "
        f"TensorFlow {info['tensorflow']}, Python {info['python']}")
  path = args.json or ("bench_results/train_step_smoke.json" if args.smoke
                       else "bench_results/train_step.json")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    json.dump({"machine": info, "args": vars(args),
               "tf1_reference": ({"wall_s": args.tf1_seconds, "peak_rss_gb": args.tf1_peak_gb}
                                 if args.tf1_seconds else None),
               "matmul_floors": floors, "middles": middles,
               "parts": _parts(results, floors, middles), "results": results}, f, indent=2)
  print(f"Wrote {path}")


if __name__ == "__main__":
  main()
