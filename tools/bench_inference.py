#!/usr/bin/env python
"""Benchmark of separation (inference): seconds, real-time factor and peak memory.

The paper's separator (`SeparationModel(num_sources=8)`, 9.07M parameters,
random weights) on one input of 10 s and of 60 s at 16 kHz, through each path
a user has:

- `graph`: `load_model(folder)`'s function: one graph for any length, the
  TDCN++ blocks as plain TensorFlow ops;
- `compiled`: `load_model(folder).fixed_length(L)`: the graph for one input
  length L with the blocks' middles compiled by XLA (what `separate` uses);
- `separate`: `separate_file` on a wav file (read, chunks of 10 s, stitching,
  writing) with the model folder; `separate_graph`: the same through the
  any-length graph only (what `separate` did before it had the compiled path);
- `saved_model` / `saved_model_chunk`: an exported SavedModel's any-length
  `serve` function / its fixed-length `serve_chunk` function (10 s);
- `separate_cli`: `separate_files`, what `sound-separation separate` runs
  (it decides whether to compile: `worth_compiling`);
- `separate_long`: `separate_files` on a long recording (e.g. 30 min, 2 h;
  written to disk block by block, so the benchmark holds none of it), timed
  once; its peak memory is the whole process's, start-up and model included.
  `--model=shipped` runs it with the shipped model instead of the paper's,
  `--runtime` through LiteRT (the shipped model's LiteRT copy, without
  TensorFlow in the process) or TensorFlow.
- `evaluate_long`: what `sound-separation evaluate` runs on a FUSS list of
  one long example (the mixture and two sources, written block by block),
  streamed (`ChunkedSeparation`); timed once, peak memory as above;
- `tf1_graph` (with `--tf1_model DIR`): the original TF1 graph a published
  model folder holds (`*.meta` and a `model.ckpt-N` checkpoint: Google's
  MixIT checkpoints, fetched by hand), run whole in a `tf.compat.v1`
  session as the original's inference code does (input
  `input_audio/receiver_audio:0` `[1, 1, T]`, output `denoised_waveforms:0`).
  Its weights are the published ones, not the random ones of the other
  paths; a separator's time does not depend on its weights, but its size
  must be the paper's for the comparison to hold.

`graph`, `compiled` and the SavedModel functions see the whole input at
once, except that fixed-length functions take 10 s chunks (a 60 s input is 6
calls); `separate` cuts into 10 s chunks with 1 s overlap. Each path runs in
its own process (peak memory its own): the first call (tracing, XLA
compilation) is timed apart from the median of `--repeats` further calls.
RTF = seconds / audio seconds; "× separate": steady seconds over the
`separate` path's at the same length in the same run.

Usage:
  python tools/bench_inference.py [--paths graph compiled ...] [--seconds 10 60]
  python tools/bench_inference.py --smoke    # tiny model, to check the script
  python tools/bench_inference.py --paths separate saved_model tf1_graph --tf1_model DIR

Prints a table and writes JSON (default bench_results/inference.json).
"""

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import bench_common  # tools/, the scripts' own folder


PATHS = ("graph", "compiled", "separate_graph", "separate", "separate_cli", "saved_model",
         "saved_model_chunk", "separate_long", "evaluate_long", "tf1_graph")
# The original's exported graph (its inference code's names).
TF1_INPUT, TF1_OUTPUT = "input_audio/receiver_audio:0", "denoised_waveforms:0"
TF1_MODEL_FILE = "tf1_model.txt"
LONG_PATHS = ("separate_long", "evaluate_long")
RATE = 16000
CHUNK_SECONDS = 10.0
FULL = dict(num_sources=8)  # the paper's separator (SeparationModel defaults)
SMOKE = dict(num_sources=4, num_basis=32, bottleneck=16, conv_channels=32, num_dilations=2,
             num_repeats=1)


def _write_model(folder, smoke):
  import numpy as np  # pylint: disable=import-outside-toplevel
  from sound_separation.layers.tdcn import TDCNPlusPlus  # pylint: disable=import-outside-toplevel
  from sound_separation.models import SeparationModel  # pylint: disable=import-outside-toplevel
  from sound_separation.models import folders  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import export  # pylint: disable=import-outside-toplevel

  sizes = SMOKE if smoke else FULL
  tdcn_keys = ("bottleneck", "conv_channels", "num_dilations", "num_repeats")
  tdcn = TDCNPlusPlus(**{k: sizes[k] for k in tdcn_keys if k in sizes}, name="tdcn")
  separator = SeparationModel(num_sources=sizes["num_sources"], tdcn=tdcn,
                              **({"num_basis": sizes["num_basis"]} if "num_basis" in sizes
                                 else {}))
  separator(np.zeros((1, 400), np.float32))
  rng = np.random.default_rng(0)
  for v in separator.weights:
    v.assign((0.05 * rng.standard_normal(v.shape)).astype(np.float32))
  model_dir = os.path.join(folder, "model")
  folders.save_separator(separator, model_dir, RATE)
  export.export_saved_model(model_dir, os.path.join(folder, "saved_model"),
                            chunk_seconds=CHUNK_SECONDS)
  return int(separator.count_params())


def run_child(path, folder, seconds, repeats, runtime="tensorflow"):
  """In the child: times one path at one length; returns a dict."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import soundfile  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import separator as separator_lib  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import separate  # pylint: disable=import-outside-toplevel

  if path in LONG_PATHS:
    return _run_long(path, folder, seconds, runtime)
  samples = int(seconds * RATE)
  x = (0.1 * np.random.default_rng(1).standard_normal((1, samples))).astype(np.float32)
  chunk = int(CHUNK_SECONDS * RATE)
  if path == "tf1_graph":
    call = _tf1_graph(folder, x)
  elif path in ("graph", "compiled", "separate", "separate_graph", "separate_cli"):
    separator = separator_lib.load_model(os.path.join(folder, "model"))
  else:
    separator = separator_lib.load_model(os.path.join(folder, "saved_model"))

  if path == "tf1_graph":
    pass
  elif path in ("graph", "saved_model"):
    def call():
      return separator(x)
  elif path in ("compiled", "saved_model_chunk"):
    function = separator.fixed_length(chunk)

    def call():
      pieces = [function(np.pad(x[:, s:s + chunk], [(0, 0), (0, max(0, s + chunk - samples))]))
                for s in range(0, samples, chunk)]
      return np.concatenate(pieces, axis=-1)[..., :samples]
  else:
    if path == "separate_graph":
      graph_only = separator

      class GraphOnly:  # hides the compiled function from separate_file
        sample_rate = graph_only.sample_rate
        __call__ = staticmethod(graph_only)
      separator = GraphOnly()
    wav = os.path.join(folder, f"input_{seconds:g}.wav")
    soundfile.write(wav, x[0], RATE, subtype="FLOAT")
    out_dir = os.path.join(folder, f"out_{seconds:g}")

    def call():
      if path == "separate_cli":
        return separate.separate_files(separator, [wav], out_dir, overwrite=True,
                                       stream=io.StringIO())
      return separate.separate_file(separator, wav, out_dir)

  start = time.perf_counter()
  call()
  first = time.perf_counter() - start
  bench_common.reset_peak_rss()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
  steady = statistics.median(times)
  return {"path": path, "seconds": seconds, "first_s": first, "steady_s": steady,
          "all_s": times, "rtf": steady / seconds, "first_rtf": first / seconds,
          "peak_rss_gb": bench_common.status_kb("VmHWM") / 2 ** 20}


def _tf1_graph(folder, x):
  """A call of the original TF1 graph (`--tf1_model`) on `x` `[1, T]` in a v1 session."""
  import glob  # pylint: disable=import-outside-toplevel
  import re  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  with open(os.path.join(folder, TF1_MODEL_FILE), encoding="utf-8") as f:
    model_dir = f.read().strip()
  metas = sorted(glob.glob(os.path.join(model_dir, "*.meta")))
  metas = [m for m in metas if os.path.basename(m) == "inference.meta"] or metas
  steps = sorted((int(m.group(1)), p[:-len(".index")])
                 for p in glob.glob(os.path.join(model_dir, "model.ckpt-*.index"))
                 for m in [re.search(r"model\.ckpt-(\d+)\.index$", p)] if m)
  if not metas or not steps:
    raise SystemExit(f"--tf1_model {model_dir}: needs a *.meta graph and a model.ckpt-N "
                     f"checkpoint (found {len(metas)} graphs, {len(steps)} checkpoints)")
  graph = tf.Graph()
  with graph.as_default():
    saver = tf.compat.v1.train.import_meta_graph(metas[0], clear_devices=True)
    session = tf.compat.v1.Session(graph=graph)
    saver.restore(session, steps[-1][1])
  inputs, outputs = graph.get_tensor_by_name(TF1_INPUT), graph.get_tensor_by_name(TF1_OUTPUT)
  batch = x[:, None, :]

  def call():
    return session.run(outputs, {inputs: batch})
  return call


def _run_long(path, folder, seconds, runtime):
  """`separate_files` or `evaluate` once on a long recording written block by block."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import soundfile  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import separator as separator_lib  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import chunked  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import separate  # pylint: disable=import-outside-toplevel
  names = ["long_mix", "long_s0", "long_s1"] if path == "evaluate_long" else ["long_mix"]
  files = [soundfile.SoundFile(os.path.join(folder, f"{n}.wav"), "w", RATE, 1, "PCM_16")
           for n in names]
  rng = np.random.default_rng(1)
  for start in range(0, int(seconds * RATE), 60 * RATE):
    sources = 0.05 * rng.standard_normal((2, min(60 * RATE, int(seconds * RATE) - start)))
    for f, wave in zip(files, [sources.sum(0), sources[0], sources[1]]):
      f.write(wave.astype(np.float32))
  for f in files:
    f.close()
  wavs = [f.name for f in files]
  model = os.path.join(folder, "model")
  shipped = os.path.exists(model + ".shipped")
  separator = separator_lib.load_model(None if shipped else model,
                                       runtime=runtime if shipped else "tensorflow")
  start = time.perf_counter()
  out_dir = os.path.join(folder, f"out_long_{seconds:g}")
  if path == "separate_long":
    separate.separate_files(separator, wavs, out_dir, stream=io.StringIO())
  else:
    # (The evaluator reads TFRecord corpora too, so it imports TensorFlow.)
    from sound_separation.evaluation import evaluator  # pylint: disable=import-outside-toplevel
    list_path = os.path.join(folder, "long_list.txt")
    with open(list_path, "w", encoding="utf-8") as f:
      f.write("\t".join(os.path.basename(w) for w in wavs) + "\n")
    evaluator.evaluate(chunked.for_list(separator, list_path), list_path, "fuss",
                       out_dir=out_dir, stream=io.StringIO())
  elapsed = time.perf_counter() - start
  shutil.rmtree(out_dir)
  for wav in wavs:
    os.remove(wav)
  return {"path": path, "seconds": seconds, "first_s": elapsed, "steady_s": elapsed,
          "all_s": [elapsed], "rtf": elapsed / seconds, "first_rtf": elapsed / seconds,
          "peak_rss_gb": bench_common.status_kb("VmHWM") / 2 ** 20, "runtime": runtime,
          "tensorflow_imported": "tensorflow" in sys.modules}


def main():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
  parser.add_argument("--seconds", nargs="+", type=float, default=[10.0, 60.0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--smoke", action="store_true")
  parser.add_argument("--model", choices=("paper", "shipped"), default="paper",
                      help="separate_long and evaluate_long only: the paper-size model or "
                      "the shipped one")
  parser.add_argument("--runtime", choices=("tensorflow", "litert"), default="tensorflow",
                      help="with --model=shipped: run it through LiteRT or TensorFlow")
  parser.add_argument("--tf1_model", default=None,
                      help="a published TF1 model folder (*.meta + model.ckpt-N): adds the "
                           "tf1_graph path")
  parser.add_argument("--json", default=None)
  parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
  args = parser.parse_args()
  default_paths = args.paths == list(PATHS)
  if args.tf1_model is None:
    if "tf1_graph" in args.paths and not default_paths:
      parser.error("--paths tf1_graph needs --tf1_model DIR (the original's exported graph)")
    args.paths = [p for p in args.paths if p != "tf1_graph"]
  elif not os.path.isdir(args.tf1_model):
    parser.error(f"--tf1_model: no such folder {args.tf1_model}")
  if args.child:
    path, folder, seconds = args.child
    print(json.dumps(run_child(path, folder, float(seconds), args.repeats, args.runtime)))
    return
  if args.runtime == "litert" and args.model != "shipped":
    sys.exit("--runtime=litert applies to --model=shipped (the paper-size model has no LiteRT "
             "copy here)")
  with tempfile.TemporaryDirectory() as folder:
    params = _write_model(folder, args.smoke)
    if args.model == "shipped":
      if not set(args.paths) <= set(LONG_PATHS):
        sys.exit(f"--model=shipped applies to --paths {' '.join(LONG_PATHS)} only")
      open(os.path.join(folder, "model.shipped"), "w").close()
      params = f"the shipped model's ({args.runtime})"
    if args.tf1_model:
      with open(os.path.join(folder, TF1_MODEL_FILE), "w", encoding="utf-8") as f:
        f.write(os.path.abspath(args.tf1_model))
    results = []
    for seconds in args.seconds:
      for path in args.paths:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", path,
                              folder, str(seconds), "--repeats", str(args.repeats),
                              "--runtime", args.runtime],
                             capture_output=True, text=True, check=False)
        if out.returncode:
          sys.exit(f"{path} at {seconds:g} s failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{path:18s} {seconds:5g} s  first {r['first_s']:7.2f} s  steady "
              f"{r['steady_s']:7.2f} s  RTF {r['rtf']:.3f}  peak {r['peak_rss_gb']:.2f} GB",
              flush=True)
  described = (params if isinstance(params, str) else
               f"M = {'4 (smoke)' if args.smoke else 8}, {params:,}")
  lines = [f"{described} parameters, one input at "
           f"{RATE} Hz; steady: median of {args.repeats} calls after the first", "",
           "| path | input s | first call s | steady s | RTF | × separate | peak RSS GB |",
           "|---|---|---|---|---|---|---|"]
  separate_s = {r["seconds"]: r["steady_s"] for r in results if r["path"] == "separate"}
  for r in results:
    base = separate_s.get(r["seconds"])
    r["vs_separate"] = r["steady_s"] / base if base else None
    lines.append(f"| {r['path']} | {r['seconds']:g} | {r['first_s']:.2f} | "
                 f"{r['steady_s']:.2f} | {r['rtf']:.3f} | "
                 f"{'–' if base is None else format(r['vs_separate'], '.2f') + '×'} | "
                 f"{r['peak_rss_gb']:.2f} |")
  table = "\n".join(lines)
  print("\n" + table)
  machine = bench_common.machine()
  print(f"\nMachine: {machine['cpu']} ({' '.join(machine['cpu_flags'])}), "
        f"{machine['cores']} cores, TensorFlow {machine['tensorflow']}")
  out = args.json or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                  "bench_results",
                                  "inference_smoke.json" if args.smoke else
                                  f"inference_long_{args.model}"
                                  f"{'_litert' if args.runtime == 'litert' else ''}.json"
                                  if set(args.paths) <= set(LONG_PATHS) else "inference.json")
  os.makedirs(os.path.dirname(out), exist_ok=True)
  with open(out, "w", encoding="utf-8") as f:
    json.dump({"machine": machine, "parameters": params, "results": results, "table": table},
              f, indent=1)
  print(f"Wrote {out}")


if __name__ == "__main__":
  main()
