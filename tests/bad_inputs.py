"""The bad-input matrix: awkward files through training lists, evaluation lists and `separate`.

Each case is one file (or path) as a user might hand it over; each consumer
either works with finite outputs or fails with a message naming the file.
`tests/test_fault_injection.py` asserts that; run this file to print the
table of docs/robustness.md:

  python tests/bad_inputs.py [--long]     # --long adds the 2-hour file
"""

import io
import os
import sys
import tempfile

import numpy as np
import soundfile

RATE = 16000


def _noise(seconds, rate=RATE, channels=None, seed=0):
  shape = (int(seconds * rate),) if channels is None else (int(seconds * rate), channels)
  return (0.1 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def make_cases(folder, long=False):
  """Writes the cases into `folder`: `{name: (path, description)}`."""
  cases = {}

  def add(name, description, write):
    path = os.path.join(folder, name)
    write(path)
    cases[name] = (path, description)

  add("empty.wav", "a wav with a header and no samples",
      lambda p: soundfile.write(p, np.zeros(0, np.float32), RATE, subtype="PCM_16"))
  add("zero_bytes.wav", "a 0-byte file", lambda p: open(p, "wb").close())
  add("not_audio.wav", "a text file named .wav",
      lambda p: open(p, "w", encoding="utf-8").write("not audio at all\n"))

  def truncated(p):
    soundfile.write(p, _noise(1.0), RATE, subtype="PCM_16")
    data = open(p, "rb").read()
    open(p, "wb").write(data[:len(data) // 2])
  add("truncated.wav", "half of a 1 s wav (the header promises more)", truncated)

  def nonfinite(p):
    x = _noise(1.0)
    x[100], x[200] = np.nan, np.inf
    soundfile.write(p, x, RATE, subtype="FLOAT")
  add("nan_inf.wav", "float samples with a NaN and an inf", nonfinite)
  add("silent.wav", "1 s of digital silence",
      lambda p: soundfile.write(p, np.zeros(RATE, np.float32), RATE, subtype="PCM_16"))
  add("clipped.wav", "a full-scale clipped square wave",
      lambda p: soundfile.write(p, np.sign(np.sin(np.arange(RATE) / 7.0)).astype(np.float32),
                                RATE, subtype="PCM_16"))
  add("rate_8k.wav", "1 s at 8 kHz",
      lambda p: soundfile.write(p, _noise(1.0, 8000), 8000, subtype="PCM_16"))
  add("rate_44k.wav", "1 s at 44.1 kHz",
      lambda p: soundfile.write(p, _noise(1.0, 44100), 44100, subtype="PCM_16"))
  add("six_channels.wav", "1 s, 6 channels",
      lambda p: soundfile.write(p, _noise(1.0, channels=6), RATE, subtype="PCM_16"))
  add("ten_samples.wav", "10 samples",
      lambda p: soundfile.write(p, _noise(10 / RATE), RATE, subtype="PCM_16"))
  add("a_folder", "a folder", lambda p: os.makedirs(p, exist_ok=True))
  cases["missing.wav"] = (os.path.join(folder, "missing.wav"), "a path that does not exist")
  if long:
    def two_hours(p):
      with soundfile.SoundFile(p, "w", RATE, 1, subtype="PCM_16") as f:
        for k in range(120):  # a minute at a time
          f.write(_noise(60.0, seed=k))
    add("two_hours.wav", "2 hours at 16 kHz", two_hours)
  return cases


def _outcome(fn, path):
  """('ok', detail) if `fn()` returns finite arrays, else ('error', message)."""
  try:
    arrays = fn()
  except Exception as e:  # pylint: disable=broad-except
    return "error", f"{type(e).__name__}: {e}"
  if not all(np.all(np.isfinite(a)) for a in arrays):
    return "non-finite", "non-finite outputs"
  return "ok", ", ".join("x".join(str(d) for d in np.shape(a)) for a in arrays[:1])


def training_outcome(path, folder):
  """A clip list holding the file twice; one batch of 2 random 0.5 s crops."""
  from sound_separation.data import datasets  # pylint: disable=import-outside-toplevel
  from sound_separation.data import batches
  clip_list = os.path.join(folder, "train_list.txt")
  with open(clip_list, "w", encoding="utf-8") as f:
    f.write(f"{path}\n{path}\n")

  def run():
    dataset = datasets.training_dataset(batch_size=2, unsupervised_list=clip_list,
                                        clip_seconds=0.5, sample_rate=RATE, seed=0)
    batch = next(iter(dataset))
    return [batch[batches.MIXTURES].numpy()]
  return _outcome(run, path)


def evaluation_outcome(path, folder, separator):
  """A FUSS list line with the file as mixture and as its one source (as `evaluate` runs it)."""
  from sound_separation.evaluation import evaluator  # pylint: disable=import-outside-toplevel
  fuss_list = os.path.join(folder, "eval_list.txt")
  with open(fuss_list, "w", encoding="utf-8") as f:
    f.write(f"{path}\t{path}\n")

  def run():
    from sound_separation.inference import chunked  # pylint: disable=import-outside-toplevel
    summary = evaluator.evaluate(lambda w: chunked.separate_waveform(separator, w), fuss_list,
                                 "fuss", separator.sample_rate, stream=io.StringIO())
    values = [v for v in (summary["MSi"], summary["1S"]) if v is not None]
    return [np.asarray(values + [summary["num_examples"]], np.float64)]
  return _outcome(run, path)


def separation_outcome(path, folder, separator):
  """`separate_files` on the path alone; outputs read back."""
  from sound_separation.inference import separate  # pylint: disable=import-outside-toplevel
  out_dir = os.path.join(folder, "separated", os.path.basename(path))

  summary = separate.separate_files(separator, [path], out_dir, stream=io.StringIO())
  if summary.failed:  # the reason as `separate` reports it, with the path
    return "error", "; ".join(f"{reason} [{p}]" for p, reason in summary.failed)

  def run():
    outputs = []
    for root, _, names in os.walk(out_dir):
      outputs += [soundfile.read(os.path.join(root, n), dtype="float32")[0]
                  for n in sorted(names)]
    if not outputs:
      raise RuntimeError(f"{path}: nothing was separated")
    return [np.stack(outputs)]
  return _outcome(run, path)


CONSUMERS = ("train list", "evaluate list", "separate")


def run_matrix(folder, separator, long=False):
  """`[(name, description, {consumer: (status, detail)})]` for every case."""
  rows = []
  for name, (path, description) in make_cases(folder, long).items():
    rows.append((name, description, {
        "train list": training_outcome(path, folder),
        "evaluate list": evaluation_outcome(path, folder, separator),
        "separate": separation_outcome(path, folder, separator),
    }))
  return rows


def names_the_file(detail, path):
  return path in detail or os.path.basename(path) in detail


def table(rows):
  lines = ["| input | " + " | ".join(CONSUMERS) + " |",
           "|---|" + "---|" * len(CONSUMERS)]
  for name, description, outcomes in rows:
    cells = []
    for consumer in CONSUMERS:
      status, detail = outcomes[consumer]
      if status == "ok":
        cells.append("works, finite")
      else:
        reason = detail.split(": ", 1)[0] if status == "error" else detail
        reason = reason.split(" (")[0].split(" [")[0]
        text = detail.replace("|", "/")
        for marker in ("truncated", "no samples", "non-finite", "Is a directory",
                       "does not exist", "No such file", "Format not recognised",
                       "Error opening", "shorter than", "no such file"):
          if marker.lower() in text.lower():
            reason += f" ({marker.lower()})"
            break
        cells.append(f"error naming the file: {reason}")
    lines.append(f"| {description} (`{name}`) | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main():
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  from test_trainer import tiny_separator  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import separator as separator_lib  # pylint: disable=import-outside-toplevel
  from sound_separation.models import folders  # pylint: disable=import-outside-toplevel
  with tempfile.TemporaryDirectory() as folder:
    separator = tiny_separator()
    separator(np.zeros((1, 400), np.float32))
    folders.save_separator(separator, os.path.join(folder, "model"), RATE)
    rows = run_matrix(folder, separator_lib.load_model(os.path.join(folder, "model")),
                      long="--long" in sys.argv)
  print(table(rows))


if __name__ == "__main__":
  main()
