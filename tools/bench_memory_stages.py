#!/usr/bin/env python
"""Where a separating process's memory goes: peak resident memory after each stage.

Two fresh processes with the shipped model, each separating one 10 s chunk
(`[1, 160000]` at 16 kHz) after the stages below; the peak (VmHWM) is read
after each stage, so each row is what that stage added on top of the ones
before it:

- TensorFlow: import TensorFlow; load the shipped model folder; the
  any-length graph on one chunk; the XLA-compiled chunk function on one chunk;
- LiteRT (the `litert` extra): import the interpreter; load the shipped
  model's LiteRT copy; its static chunk program on one chunk.

Usage:
  python tools/bench_memory_stages.py

Prints a table and writes JSON (bench_results/memory_stages.json).
"""

import json
import os
import subprocess
import sys

import bench_common  # tools/, the scripts' own folder


def _peak_mb():
  return bench_common.status_kb("VmHWM") / 1024


def run_child(runtime):
  """In the child: `[(stage, peak MB)]` of one runtime's stages."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  stages = [("start (Python, NumPy)", _peak_mb())]
  x = (0.1 * np.random.default_rng(0).standard_normal((1, 160000))).astype(np.float32)
  if runtime == "tensorflow":
    import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    stages.append(("import TensorFlow", _peak_mb()))
    from sound_separation.inference import separator as separator_lib  # pylint: disable=import-outside-toplevel
    model = separator_lib.load_model(None, runtime="tensorflow")
    stages.append(("load the shipped model folder", _peak_mb()))
    model(x)
    stages.append(("any-length graph, one 10 s chunk", _peak_mb()))
    model.fixed_length(160000)(x)
    stages.append(("XLA chunk function, one 10 s chunk", _peak_mb()))
  else:
    from ai_edge_litert import interpreter  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    stages.append(("import the LiteRT interpreter", _peak_mb()))
    from sound_separation.inference import separator as separator_lib  # pylint: disable=import-outside-toplevel
    model = separator_lib.load_model(None, runtime="litert")
    stages.append(("load the shipped model's LiteRT copy", _peak_mb()))
    model.fixed_length(160000)(x)
    stages.append(("static chunk program, one 10 s chunk", _peak_mb()))
    assert "tensorflow" not in sys.modules
  return stages


def main():
  if len(sys.argv) == 3 and sys.argv[1] == "--child":
    print(json.dumps(run_child(sys.argv[2])))
    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  rows = []
  for runtime in ("tensorflow", "litert"):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", runtime],
                         capture_output=True, text=True, check=False)
    if out.returncode:
      sys.exit(f"{runtime} failed:\n{out.stderr[-3000:]}")
    for stage, peak in json.loads(out.stdout.strip().splitlines()[-1]):
      rows.append({"runtime": runtime, "stage": stage, "peak_mb": peak})
  lines = ["| runtime | after | peak RSS MB |", "|---|---|---|"]
  lines += [f"| {r['runtime']} | {r['stage']} | {r['peak_mb']:.0f} |" for r in rows]
  table = "\n".join(lines)
  print(table)
  machine = bench_common.machine()
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "bench_results", "memory_stages.json")
  with open(path, "w", encoding="utf-8") as f:
    json.dump({"machine": machine, "results": rows, "table": table}, f, indent=1)
  print(f"Wrote {path}")


if __name__ == "__main__":
  main()
