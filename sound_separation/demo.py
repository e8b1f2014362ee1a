"""`sound-separation demo`: MixIT from nothing to a trained model in minutes.

With no download, `run` synthesises a deterministic in-the-wild-like corpus
(`corpus/synthetic.py`: harmonic tones with vibrato, chirps, noise bursts,
clicks, AM/FM textures over filtered noise beds), trains the narrow separator
of `gin/demo.gin` on mixtures of its mixtures with MixIT and L1/L2 sparsity
for a time budget, prints the validation losses before and after, evaluates
the model on held-out FUSS-format mixtures (MSi, 1S, TRF) and writes a few
example separations. `train_list`/`eval_list` run the same on your data.

Layout under `out_dir`: `corpus/` (wavs, clip and FUSS lists, labels) and
`model/` (checkpoints, TensorBoard summaries, config), `evaluation/`
(summary.json, examples.csv) and `examples/` (wavs). Running the demo again
reuses the corpus and continues training the model.
"""

import json
import os
import shutil
import sys
import time

from sound_separation import filesystem
from sound_separation import gin_utils
from sound_separation import run_folder
from sound_separation.corpus import synthetic
from sound_separation.data import lists
from sound_separation.evaluation import evaluator
from sound_separation.inference import chunked
from sound_separation.inference import separate
from sound_separation.inference import separator as separator_lib
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
    if json.loads(filesystem.read_text(stamp)) == settings:
      print(f"Reusing the synthetic corpus in {out_dir}.", file=stream, flush=True)
      return lists
  start = time.monotonic()
  for split, count in splits.items():
    synthetic.write_corpus(out_dir, split, count, clip_seconds=CLIP_SECONDS,
                           sample_rate=SAMPLE_RATE, seed=seed)
  filesystem.write_text(stamp, json.dumps(settings))
  print(f"Synthesised {num_train_clips} training and {num_validation_clips} validation "
        f"clips of {CLIP_SECONDS:g} s in {time.monotonic() - start:.0f} s ({out_dir}).",
        file=stream, flush=True)
  return lists


def run(out_dir="sound_separation_demo", minutes=8.0, seed=0, num_train_clips=600,
        num_validation_clips=64, gin_params=(), train_list=None, eval_list=None,
        num_examples=3, pretrained=False, stream=None):
  """Synthesises the corpus, trains for `minutes`, evaluates, writes examples.

  Args:
    out_dir: folder of the corpus and the model.
    minutes: training time budget (synthesis, start-up, the validation
      passes and the evaluation come on top).
    seed: seed of the corpus.
    num_train_clips, num_validation_clips: corpus size (4 s clips at 16 kHz).
    gin_params: extra gin bindings, applied last (e.g. a smaller
      'sound_separation.train.num_steps').
    train_list, eval_list: your own data instead of the synthetic corpus
      (both or neither): a clip list to train on (random 4 s crops) and a
      FUSS list to validate and evaluate on (e.g. the development corpus's
      `wild/train_example_list.txt` and
      `fuss_like/validation_example_list.txt`).
    num_examples: evaluation mixtures separated into `out_dir/examples/`.
    pretrained: train nothing: evaluate the model that ships with the
      library (`sound_separation.pretrained`) on `eval_list` (alone; or,
      without it, the synthetic corpus's held-out mixtures) and separate
      examples.
    stream: where the report goes (default stdout).

  Returns:
    `(train.TrainResult or None with pretrained, evaluation summary dict)`.
  """
  stream = stream or sys.stdout
  if not minutes > 0:
    raise ValueError(f"minutes must be positive, got {minutes!r}")
  if pretrained and eval_list is not None:
    if not os.path.isfile(eval_list):
      raise FileNotFoundError(f"eval_list {eval_list!r} does not exist")
    return None, _evaluate(separator_lib.load_model(), eval_list, out_dir, num_examples, "", stream)
  if (train_list is None) != (eval_list is None):
    raise ValueError("give both train_list and eval_list, or neither (the synthetic corpus)")
  model_dir = run_folder.model_subfolder(out_dir)
  if train_list is None:
    if num_validation_clips < 2:
      raise ValueError(f"num_validation_clips must be at least 2 (a MoM), got "
                       f"{num_validation_clips!r}")
    corpus_dir = os.path.join(out_dir, "corpus")
    corpus_lists = _corpus(corpus_dir, seed, num_train_clips, num_validation_clips, stream)
    train_list = corpus_lists["train"]
    eval_list = os.path.join(corpus_dir, "validation_example_list.txt")
    validation = [f"VALIDATION_CLIP_LIST = {corpus_lists['validation']!r}"]
    num_validation = num_validation_clips
  else:
    for name, path in (("train_list", train_list), ("eval_list", eval_list)):
      if not os.path.isfile(path):
        raise FileNotFoundError(f"{name} {path!r} does not exist")
    # Validation losses on MoMs of the evaluation list's mixtures.
    validation = [f"VALIDATION_CLIP_LIST = {eval_list!r}",
                  "sound_separation.validation_dataset.unsupervised_format = 'fuss'"]
    num_validation = len(lists.read_fuss_list(eval_list))
  if pretrained:
    return None, _evaluate(separator_lib.load_model(), eval_list, out_dir, num_examples, "", stream)
  validation_batch = max(2, min(8, num_validation - num_validation % 2))
  gin_utils.parse_gin(["demo.gin"], [
      f"CLIP_LIST = {train_list!r}", *validation,
      f"sound_separation.validation_dataset.batch_size = {validation_batch}",
      *gin_params,
  ])
  print(f"Training for up to {minutes:g} min; follow it with "
        f"`tensorboard --logdir {run_folder.summaries(model_dir)}`.",
        file=stream, flush=True)
  result = loop.train(model_dir, time_limit_seconds=60.0 * minutes, stream=stream)

  print("\nValidation (MoMs of held-out mixtures; MixIT loss in dB, lower is "
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

  summary = _evaluate(separator_lib.load_model(model_dir), eval_list, out_dir, num_examples,
                      f" at step {result.step}", stream)
  return result, summary


def _evaluate(separator, eval_list, out_dir, num_examples, what, stream):
  """Evaluates `separator` on `eval_list` and separates its first mixtures; the summary."""
  print(f"\nEvaluation of {separator.description}{what} on the held-out mixtures "
        f"(SI-SNR improvement in dB, higher is better):", file=stream, flush=True)
  in_chunks = chunked.ChunkedSeparation(separator)
  summary = evaluator.evaluate(in_chunks, eval_list, "fuss",
                               out_dir=os.path.join(out_dir, "evaluation"), stream=stream)
  examples_dir = os.path.join(out_dir, "examples")
  for index, (mixture, _) in enumerate(lists.read_fuss_list(eval_list)[:num_examples]):
    # One folder per example: the input next to its outputs (FUSS-style
    # corpora may name every mixture 'mixture.wav').
    folder = os.path.join(examples_dir, f"example{index}")
    os.makedirs(folder, exist_ok=True)
    shutil.copyfile(mixture, os.path.join(folder, "input" + os.path.splitext(mixture)[1]))
    separate.separate_file(separator, mixture, folder)
  page = evaluator.write_listening_page(
      in_chunks, eval_list, os.path.join(out_dir, "evaluation"), "fuss", sample_size=8,
      title="Demo: held-out mixtures", intro=f"Model: {separator.description}{what}.")
  print(f"\nEvaluation: {os.path.join(out_dir, 'evaluation')} (summary.json, examples.csv). "
        f"Separations of {num_examples} evaluation mixtures: {examples_dir}. "
        f"Listen and look: {page}", file=stream, flush=True)
  return summary
