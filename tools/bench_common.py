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


def machine():
  """CPU model, core count, Python, TensorFlow and platform, for the JSON."""
  cpu = "unknown"
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          cpu = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
          "tensorflow": tf.__version__, "platform": platform.platform()}
