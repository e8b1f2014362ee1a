"""Process measurements shared by the benchmark scripts in tools/ (Linux)."""

import os
import platform


def status_kb(field):
  """A `/proc/self/status` field in KiB, e.g. 'VmRSS' or 'VmHWM' (peak RSS)."""
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1])
  raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss():
  # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
  with open("/proc/self/clear_refs", "w") as f:
    f.write("5")


# The instruction sets that change what a step costs here (bfloat16 and
# matrix units above all); a benchmark says which of them its machine had.
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
             "amx_tile", "amx_bf16", "amx_int8")


def machine():
  """CPU model and flags, core count, Python, TensorFlow and platform, for the JSON."""
  cpu, flags = "unknown", set()
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name") and cpu == "unknown":
          cpu = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
          flags = set(line.split(":", 1)[1].split())
  except OSError:
    pass
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return {"cpu": cpu, "cpu_flags": [f for f in CPU_FLAGS if f in flags],
          "cores": os.cpu_count(), "python": platform.python_version(),
          "tensorflow": tf.__version__, "platform": platform.platform()}


def add_training_arguments(parser):
  """--data, --train_list, --selection_list and --runs_dir: what the tools that train on
  the development corpus share (`corpus_lists` checks the lists)."""
  parser.add_argument("--data", required=True, help="the development corpus folder")
  parser.add_argument("--train_list", required=True, help="clip list, relative to --data")
  parser.add_argument("--selection_list", required=True, help="FUSS list, relative to --data")
  parser.add_argument("--runs_dir", required=True, help="the runs' folders (not committed)")


def corpus_lists(parser, args, flags=("train_list", "selection_list")):
  """`{flag: absolute path}` of list flags given relative to `args.data`; a missing one
  is a usage error naming the flag and the path (`parser.error`, exit status 2)."""
  lists = {}
  for flag in flags:
    path = os.path.join(os.path.abspath(args.data), getattr(args, flag))
    if not os.path.isfile(path):
      parser.error(f"--{flag}: no such list {path}")
    lists[flag] = path
  return lists
