"""`sound-separation demo`: MixIT from nothing to a trained model in minutes.

With no download, `run` synthesises a deterministic in-the-wild-like corpus
(`data/synthetic.py`: harmonic tones with vibrato, chirps, noise bursts,
clicks, AM/FM textures over filtered noise beds), trains the narrow separator
of `gin/demo.gin` on mixtures of its mixtures with MixIT and L1/L2 sparsity
for a time budget, and prints the validation losses before and after.

Layout under `out_dir`: `corpus/` (wavs, clip and FUSS lists, labels) and
`model/` (checkpoints, TensorBoard summaries, config). Running the demo again
reuses the corpus and continues training the model.
"""

import json
import os
import sys
import time

from sound_separation import gin_utils
from sound_separation.data import synthetic
from sound_separation.training import loop

CLIP_SECONDS = 4.0
SAMPLE_RATE = 16000


def _corpus(out_dir, seed, num_train_clips, num_validation_clips, stream):
  """Writes the corpus unless `out_dir` already holds one made with these settings."""
  settings = {"seed": seed, "train": num_train_clips, "validation": num_validation_clips,
              "clip_seconds": CLIP_SECONDS, "sample_rate": SAMPLE_RATE}
  stamp = os.path.join(out_dir, "settings.json")
  splits = {"train": num_train_clips, "validation": num_validation_clips}
  lists = {split: os.path.join(out_dir, f"{split}_clip_list.txt") for split in splits}
  if os.path.exists(stamp) and all(os.path.exists(p) for p in lists.values()):
    with open(stamp, encoding="utf-8") as f:
      if json.load(f) == settings:
        print(f"Reusing the synthetic corpus in {out_dir}.", file=stream, flush=True)
        return lists
  start = time.monotonic()
  for split, count in splits.items():
    synthetic.write_corpus(out_dir, split, count, clip_seconds=CLIP_SECONDS,
                           sample_rate=SAMPLE_RATE, seed=seed)
  with open(stamp, "w", encoding="utf-8") as f:
    json.dump(settings, f)
  print(f"Synthesised {num_train_clips} training and {num_validation_clips} validation "
        f"clips of {CLIP_SECONDS:g} s in {time.monotonic() - start:.0f} s ({out_dir}).",
        file=stream, flush=True)
  return lists


def run(out_dir="sound_separation_demo", minutes=8.0, seed=0, num_train_clips=600,
        num_validation_clips=64, gin_params=(), stream=None):
  """Synthesises the corpus, trains for `minutes`, prints a loss summary.

  Args:
    out_dir: folder of the corpus and the model.
    minutes: training time budget (synthesis, start-up and the validation
      passes come on top).
    seed: seed of the corpus.
    num_train_clips, num_validation_clips: corpus size (4 s clips at 16 kHz).
    gin_params: extra gin bindings, applied last (e.g. a smaller
      'sound_separation.train.num_steps').
    stream: where the report goes (default stdout).

  Returns:
    The `train.TrainResult`.
  """
  stream = stream or sys.stdout
  if not minutes > 0:
    raise ValueError(f"minutes must be positive, got {minutes!r}")
  if num_validation_clips < 2:
    raise ValueError(f"num_validation_clips must be at least 2 (a MoM), got "
                     f"{num_validation_clips!r}")
  corpus_dir = os.path.join(out_dir, "corpus")
  model_dir = os.path.join(out_dir, "model")
  lists = _corpus(corpus_dir, seed, num_train_clips, num_validation_clips, stream)
  validation_batch = min(8, num_validation_clips - num_validation_clips % 2)
  gin_utils.parse_gin(["demo.gin"], [
      f"CLIP_LIST = {lists['train']!r}",
      f"VALIDATION_CLIP_LIST = {lists['validation']!r}",
      f"sound_separation.validation_dataset.batch_size = {validation_batch}",
      *gin_params,
  ])
  print(f"Training for up to {minutes:g} min; follow it with "
        f"`tensorboard --logdir {os.path.join(model_dir, 'summaries')}`.",
        file=stream, flush=True)
  result = loop.train(model_dir, time_limit_seconds=60.0 * minutes, stream=stream)

  print("\nValidation (MoMs of held-out synthetic clips; MixIT loss in dB, lower is "
        "better):", file=stream)
  before, after = result.initial_validation, result.validation
  rows = [name for name in ("loss", "mixit", "sparsity", "covariance") if name in after]
  if before:
    print(f"  {'term':12s}{'step 0':>12s}{f'step {result.step}':>14s}", file=stream)
    for name in rows:
      print(f"  {name:12s}{before[name]:12.3f}{after[name]:14.3f}", file=stream)
  else:
    print(f"  step {result.step}: " + "  ".join(f"{n} {after[n]:.3f}" for n in rows),
          file=stream)
  print(f"\nModel: {model_dir}. The evaluation report (MSi, 1S, TRF) and example "
        f"separations arrive with the evaluation tools.", file=stream, flush=True)
  return result
