#!/usr/bin/env python
"""Unlabeled "recordings" and reference test sets for the adaptation evidence (results/adapt/).

`sound-separation adapt` learns from a user's own unlabeled recordings. To
measure whether it helps, this tool makes two such collections from the
development corpus's *training* split (no reference of them is written or
used) and the reference sets that score the result, from its *validation*
split (no file of which any recording uses):

- `speech/recordings/rec<NNN>.wav`: what a meeting recorder captures from
  the corpus's people and characters: a third single talkers (a chain of one
  speaker's utterances with pauses), two thirds conversations of two talkers
  taking turns that overlap (-0.5 to 2 s of overlap at each change), each
  talker at its own level (±4 dB). Lengths 30-120 s. Scored on the corpus's
  own two-speaker sets (`speech/validation_clean`, `speech/validation`).
- `outdoor/recordings/rec<NNN>.wav`: a field recorder outdoors: an ambience
  or nature bed (looped) with animal, vehicle and machine events at random
  times, -5 to 20 dB above the bed. 30-120 s.
- `outdoor/validation/`: FUSS-format 10 s mixtures of the validation split's
  ambience/nature beds and animal/vehicle/machine events (1-4 sources), for
  MSi / 1S of the non-speech shift.

Every draw is seeded ("<seed>/<collection>/<k>"); the same corpus and seed
give the same files. Run it with the corpus's Python (it reuses the corpus
tools' decoder, which reads the G.722 prompts):

  DEV/venv/bin/python tools/prepare_adapt_data.py --corpus DEV \
      --corpus_tools shared/dev_corpus [--out_dir DEV/adapt]
"""

import argparse
import collections
import csv
import hashlib
import importlib.util
import json
import os

import numpy as np
import soundfile as sf

SR = 16000
SPEECH_TYPES = ("person", "character")
BEDS = ("ambience", "nature")
EVENTS = ("animal", "vehicle", "tools_machines")


def _rng(seed, name, k):
  digest = hashlib.sha256(f"{seed}/{name}/{k}".encode()).digest()
  return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _active_rms_db(x, frame=400):
  n = len(x) // frame
  if n == 0:
    return -120.0
  power = np.mean(np.square(x[:n * frame].reshape(n, frame).astype(np.float64)), axis=1)
  top = power.max()
  if top <= 0:
    return -120.0
  active = power[power >= top * 1e-4]
  return float(10 * np.log10(np.mean(active)))


def _at_level(x, db):
  return x * 10 ** ((db - _active_rms_db(x)) / 20)


def _write(path, x):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  peak = float(np.max(np.abs(x))) if len(x) else 0.0
  if peak > 0.9:
    x = x * (0.9 / peak)
  sf.write(path, x.astype(np.float32), SR, subtype="PCM_16")
  return x


def _chain(rng, loader, rows, seconds):
  """One speaker's utterances with pauses, about `seconds` long."""
  parts, total = [], 0
  while total < seconds * SR:
    x = loader.full(rows[rng.integers(len(rows))])
    gap = np.zeros(int(rng.uniform(0.2, 1.2) * SR), np.float32)
    parts += [x, gap]
    total += len(x) + len(gap)
  return np.concatenate(parts)


def speech_recordings(loader, manifest, out_dir, count, seed):
  speakers = collections.defaultdict(list)
  for row in manifest:
    if row["split"] == "train" and row["group"] == "speech" \
        and row["speaker_type"] in SPEECH_TYPES:
      speakers[row["speaker"]].append(row)
  # Speakers with at least a minute of material.
  names = sorted(s for s, rows in speakers.items()
                 if sum(float(r["dur"]) for r in rows) >= 60)
  info = []
  for k in range(count):
    rng = _rng(seed, "speech", k)
    seconds = rng.uniform(30, 120)
    if k % 3 == 0:
      who = [names[rng.integers(len(names))]]
      x = _at_level(_chain(rng, loader, speakers[who[0]], seconds), -30 + rng.uniform(-4, 4))
    else:
      who = list(rng.choice(names, 2, replace=False))
      levels = [-30 + rng.uniform(-4, 4) for _ in who]
      x = np.zeros(int(seconds * SR) + 30 * SR, np.float32)
      at, turn, end = 0, 0, 0
      while at < seconds * SR:
        talk = _chain(rng, loader, speakers[who[turn % 2]], rng.uniform(2, 8))
        talk = _at_level(talk, levels[turn % 2])[:len(x) - at]
        x[at:at + len(talk)] += talk
        end = at + len(talk)
        at = max(0, end - int(rng.uniform(-0.5, 2.0) * SR))
        turn += 1
      x = x[:end]
    _write(os.path.join(out_dir, "recordings", f"rec{k:03d}.wav"), x)
    info.append({"file": f"rec{k:03d}.wav", "seconds": round(len(x) / SR, 2),
                 "talkers": len(who)})
  return info


def _rows_by_label(manifest, split, labels):
  return [r for r in manifest if r["split"] == split and r["label"] in labels]


def _loop(rng, x, n):
  start = rng.integers(len(x))
  reps = int(np.ceil((n + start) / len(x)))
  return np.tile(x, reps)[start:start + n]


def outdoor_recordings(loader, manifest, out_dir, count, seed):
  beds = _rows_by_label(manifest, "train", BEDS)
  events = _rows_by_label(manifest, "train", EVENTS)
  info = []
  for k in range(count):
    rng = _rng(seed, "outdoor", k)
    n = int(rng.uniform(30, 120) * SR)
    x = _at_level(_loop(rng, loader.full(beds[rng.integers(len(beds))]), n), -35)
    t = int(rng.uniform(0, 4) * SR)
    num_events = 0
    while t < n:
      event = loader.full(events[rng.integers(len(events))])[:10 * SR]
      event = _at_level(event, -35 + rng.uniform(-5, 20))[:n - t]
      x[t:t + len(event)] += event
      num_events += 1
      t += len(event) + int(rng.uniform(0.5, 8) * SR)
    _write(os.path.join(out_dir, "recordings", f"rec{k:03d}.wav"), x)
    info.append({"file": f"rec{k:03d}.wav", "seconds": round(n / SR, 2), "events": num_events})
  return info


def outdoor_validation(loader, manifest, out_dir, count, seed):
  """FUSS-format mixtures: a bed and 0-3 events, sources written, mixture their int sum."""
  beds = _rows_by_label(manifest, "validation", BEDS)
  events = _rows_by_label(manifest, "validation", EVENTS)
  n = 10 * SR
  lines, labels = [], []
  for k in range(count):
    rng = _rng(seed, "outdoor_validation", k)
    bed = _at_level(_loop(rng, loader.full(beds[rng.integers(len(beds))]), n), -35)
    sources, names = [bed], ["background0_sound.wav"]
    for j, index in enumerate(rng.choice(len(events), k % 4, replace=False)):
      event = loader.full(events[index])[:n]
      placed = np.zeros(n, np.float32)
      onset = rng.integers(0, n - len(event) + 1)
      placed[onset:onset + len(event)] = _at_level(event, -35 + rng.uniform(-5, 20))
      sources.append(placed)
      names.append(f"foreground{j}_sound.wav")
      labels.append((k, events[index]["label"], events[index]["path"]))
    peak = max(float(np.max(np.abs(np.sum(sources, axis=0)))),
               *(float(np.max(np.abs(s))) for s in sources))
    scale = min(1.0, 0.9 / peak) if peak > 0 else 1.0
    ints = [np.round(s * scale * 32767).astype(np.int32) for s in sources]
    mixture = np.sum(ints, axis=0)
    folder = os.path.join(out_dir, "validation", f"example{k:05d}_sources")
    os.makedirs(folder, exist_ok=True)
    for name, q in zip(names, ints):
      sf.write(os.path.join(folder, name), q.astype(np.int16), SR, subtype="PCM_16")
    sf.write(os.path.join(out_dir, "validation", f"example{k:05d}.wav"),
             mixture.astype(np.int16), SR, subtype="PCM_16")
    lines.append("\t".join([f"validation/example{k:05d}.wav"]
                           + [f"validation/example{k:05d}_sources/{name}" for name in names]))
  with open(os.path.join(out_dir, "validation_example_list.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
  return {"mixtures": count, "events": [list(map(str, row)) for row in labels]}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--corpus", required=True, help="the development corpus folder")
  parser.add_argument("--corpus_tools", required=True,
                      help="the folder of the corpus's make_mixtures.py")
  parser.add_argument("--out_dir", help="default: CORPUS/adapt")
  parser.add_argument("--speech_recordings", type=int, default=120)
  parser.add_argument("--outdoor_recordings", type=int, default=90)
  parser.add_argument("--outdoor_validation", type=int, default=200)
  parser.add_argument("--seed", type=int, default=401)
  args = parser.parse_args(argv)
  # The corpus tools' decoder (it reads the G.722 prompts), loaded from its file.
  spec = importlib.util.spec_from_file_location(
      "make_mixtures", os.path.join(args.corpus_tools, "make_mixtures.py"))
  make_mixtures = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(make_mixtures)
  out_dir = args.out_dir or os.path.join(args.corpus, "adapt")
  with open(os.path.join(args.corpus, "manifest.csv"), newline="") as f:
    manifest = list(csv.DictReader(f))
  loader = make_mixtures.AudioLoader(os.path.join(args.corpus, "data", "x"))
  record = {"seed": args.seed}
  record["speech"] = speech_recordings(loader, manifest, os.path.join(out_dir, "speech"),
                                       args.speech_recordings, args.seed)
  record["outdoor"] = outdoor_recordings(loader, manifest, os.path.join(out_dir, "outdoor"),
                                         args.outdoor_recordings, args.seed)
  record["outdoor_validation"] = outdoor_validation(
      loader, manifest, os.path.join(out_dir, "outdoor"), args.outdoor_validation, args.seed)
  with open(os.path.join(out_dir, "info.json"), "w") as f:
    json.dump(record, f, indent=1)
  for name in ("speech", "outdoor"):
    hours = sum(r["seconds"] for r in record[name]) / 3600
    print(f"{name}: {len(record[name])} recordings, {hours:.2f} h -> {out_dir}/{name}/recordings")
  print(f"outdoor validation: {args.outdoor_validation} mixtures -> "
        f"{out_dir}/outdoor/validation_example_list.txt")


if __name__ == "__main__":
  main()
