#!/usr/bin/env python
"""Start-up and short-job times of the command line: `--help`, one file, 100 files.

Each measurement runs `python -m sound_separation ...` in a fresh process, as
a user's shell would, with the shipped model, and takes the median wall time
of `--repeats` runs (one run for the 100-file job):

- `help`: `sound-separation --help`;
- `separate 1 × 10 s`: one 10 s file into a fresh folder;
- `separate 100 × 10 s`: a hundred 10 s files into a fresh folder.

`--before REV` measures a git revision of this repository the same way (a
temporary `git worktree` put first on `PYTHONPATH`), for before/after tables.
`--phases` also times, in one process, where a one-file job's time goes:
importing TensorFlow, the package, loading the model, the first separation
(tracing or compiling), a second one, writing.

Usage:
  python tools/bench_cli.py --audio_dir DEV/fuss_like/validation [--before 3cb37b6] [--phases]

Prints a table and writes JSON (default bench_results/cli.json). Run it on an
otherwise idle machine.
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import bench_common  # noqa: E402  pylint: disable=wrong-import-position


def _timed(command, env):
  start = time.monotonic()
  # From a neutral folder: the working directory comes first on sys.path.
  result = subprocess.run(command, capture_output=True, text=True, env=env, check=False,
                          cwd=tempfile.gettempdir())
  elapsed = time.monotonic() - start
  if result.returncode:
    raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
  return elapsed, result.stdout + result.stderr


def _measure(label, checkout, files, repeats, work):
  env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",)}
  env["PYTHONPATH"] = checkout + os.pathsep + env.get("PYTHONPATH", "")
  base = [sys.executable, "-m", "sound_separation"]
  rows = []
  times = [_timed(base + ["--help"], env)[0] for _ in range(repeats)]
  rows.append({"version": label, "job": "help", "seconds": statistics.median(times),
               "runs": times})
  times, lines = [], 0
  for i in range(repeats):
    out = os.path.join(work, f"{label}-one-{i}")
    elapsed, text = _timed(base + ["separate", f"--out_dir={out}", files[0]], env)
    times.append(elapsed)
    lines = len(text.strip().splitlines())
  rows.append({"version": label, "job": "separate 1 x 10 s", "seconds": statistics.median(times),
               "runs": times, "lines_printed": lines})
  out = os.path.join(work, f"{label}-hundred")
  elapsed, _ = _timed(base + ["separate", f"--out_dir={out}"] + files[:100], env)
  rows.append({"version": label, "job": f"separate {len(files[:100])} x 10 s",
               "seconds": elapsed, "runs": [elapsed]})
  return rows


def _phases(path):
  """In-process times of a one-file job's stages (this checkout)."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  marks = [("start", time.monotonic())]
  import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  marks.append(("import TensorFlow", time.monotonic()))
  from sound_separation.data import audio  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import chunked  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import separator as separator_lib  # pylint: disable=import-outside-toplevel
  marks.append(("import sound_separation", time.monotonic()))
  model = separator_lib.load_model()
  marks.append(("load the shipped model", time.monotonic()))
  waveform = audio.read_audio(path, model.sample_rate)
  marks.append(("read 10 s", time.monotonic()))
  outputs = chunked.separate_waveform(model, waveform, compiled=False)
  marks.append(("first separation, uncompiled (tracing)", time.monotonic()))
  chunked.separate_waveform(model, waveform, compiled=False)
  marks.append(("second separation, uncompiled", time.monotonic()))
  chunked.separate_waveform(model, waveform, compiled=True)
  marks.append(("first separation, compiled (XLA)", time.monotonic()))
  chunked.separate_waveform(model, waveform, compiled=True)
  marks.append(("second separation, compiled", time.monotonic()))
  with tempfile.TemporaryDirectory() as folder:
    for j, output in enumerate(outputs):
      audio.write_audio(os.path.join(folder, f"s{j}.wav"), output, model.sample_rate, "FLOAT")
  marks.append(("write 4 outputs", time.monotonic()))
  return [{"phase": name, "seconds": t - marks[i][1]}
          for i, (name, t) in enumerate(marks[1:])]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--audio_dir", required=True, help="a folder of 10 s wav files (>= 100)")
  parser.add_argument("--before", default=None, help="a git revision to compare with")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--phases", action="store_true")
  parser.add_argument("--out", default=os.path.join(REPO, "bench_results", "cli.json"))
  args = parser.parse_args(argv)
  files = sorted(glob.glob(os.path.join(args.audio_dir, "*.wav")))[:100]
  if len(files) < 100:
    raise SystemExit(f"{args.audio_dir} holds {len(files)} wav files; 100 are needed")
  rows, phases = [], None
  with tempfile.TemporaryDirectory() as work:
    if args.before:
      tree = os.path.join(work, "before")
      subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", tree, args.before],
                     check=True, capture_output=True)
      try:
        rows += _measure(f"before ({args.before})", tree, files, args.repeats, work)
      finally:
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", tree], check=False,
                       capture_output=True)
    rows += _measure("after", REPO, files, args.repeats, work)
    shutil.rmtree(work, ignore_errors=True)
  if args.phases:
    phases = _phases(files[0])
  print("| version | job | wall s (median) | runs |")
  print("|---|---|---|---|")
  for r in rows:
    print(f"| {r['version']} | {r['job']} | {r['seconds']:.2f} | "
          f"{', '.join(f'{t:.2f}' for t in r['runs'])} |")
  if phases:
    print("\n| phase (one process, this checkout) | s |\n|---|---|")
    for p in phases:
      print(f"| {p['phase']} | {p['seconds']:.2f} |")
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, "w", encoding="utf-8") as f:
    json.dump({"machine": bench_common.machine(), "rows": rows, "phases": phases}, f, indent=1)
  print(f"\nWrote {args.out}")


if __name__ == "__main__":
  main()
