"""Tests of the data preparation: corpus writing, FUSS-style mixing, clips, MoM sets,
public-list importers, the `sound-separation prepare` commands and
tools/plot_tradeoff.py.

Inputs are planted in tmp_path with known answers; audio is 1 s at 8 kHz so
that the file stays fast. Commands run in-process (`prepare.run`)
(the package imports TensorFlow, seconds per process), and in subprocesses
only for `--help`, argument errors (neither imports the package) and one
end-to-end error.
"""

import importlib.util
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import soundfile

from sound_separation import prepare
from sound_separation.corpus import clips
from sound_separation.corpus import layout
from sound_separation.corpus import mixing
from sound_separation.corpus import mom_sets
from sound_separation.corpus import public_lists
from sound_separation.data import audio
from sound_separation.data import pipelines
from sound_separation.data import examples
from sound_separation.data import lists

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The `sound-separation prepare` commands, and the tool, by the names the tests use.
COMMANDS = {"make_fuss_mixtures": ["-m", "sound_separation", "prepare", "fuss-mixtures"],
            "make_clips": ["-m", "sound_separation", "prepare", "clips"],
            "make_mom_set": ["-m", "sound_separation", "prepare", "mom-set"],
            "import_lists": ["-m", "sound_separation", "prepare", "import-lists"],
            "plot_tradeoff": [os.path.join(REPO, "tools", "plot_tradeoff.py")]}
RATE = 8000


def _noise(rng, seconds, rate=RATE, level=0.3, channels=None):
  shape = (int(seconds * rate),) if channels is None else (int(seconds * rate), channels)
  return np.clip(level * rng.standard_normal(shape), -0.99, 0.99)


def _write_pcm16(path, x, rate=RATE):
  os.makedirs(os.path.dirname(str(path)), exist_ok=True)
  soundfile.write(str(path), x, rate, subtype="PCM_16")
  return str(path)


def _read(path):
  return audio.read_audio(path, RATE)


def _all_files(root):
  out = {}
  for folder, _, names in os.walk(root):
    for name in names:
      path = os.path.join(folder, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, root)] = f.read()
  return out


def _load_script(name):
  """`.main(argv)` of a `prepare` command run in-process, or the tool's module."""
  if name == "plot_tradeoff":
    spec = importlib.util.spec_from_file_location(f"dp_{name}", COMMANDS[name][0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
  return types.SimpleNamespace(main=lambda argv=None: prepare.run(COMMANDS[name][-1], argv))


def _subprocess(args):
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env,
                        timeout=120, check=False)


def _inventory(root, rng):
  """Label folders: backgrounds 'rain', 'wind' (1.5 s, one 0.6 s to loop, one at 22.05 kHz
  stereo) and foregrounds 'bell', 'dog', 'door', 'car' (0.2–1.3 s)."""
  _write_pcm16(root / "rain" / "r0.wav", _noise(rng, 1.5))
  _write_pcm16(root / "rain" / "r1.wav", _noise(rng, 0.6))
  _write_pcm16(root / "wind" / "w0.wav", _noise(rng, 1.5, 22050, channels=2), 22050)
  for label, seconds in [("bell", 0.2), ("dog", 0.4), ("door", 0.3), ("car", 1.3)]:
    for i in range(2):
      _write_pcm16(root / label / f"{i}.wav", _noise(rng, seconds + 0.05 * i))
  (root / "dog" / "notes.txt").write_text("not audio")
  return root


# ----------------------------------------------------------------------------
# Corpus writing and list files.


def test_write_sum_writes_the_exact_sum(tmp_path):
  rng = np.random.default_rng(0)
  sources = rng.uniform(-0.3, 0.3, [4, 999]).astype(np.float32)
  mixture_path, source_paths = layout.write_sum(tmp_path / "ex", "mix.wav", sources,
                                                ["a.wav", "b.wav", "c.wav", "d.wav"], RATE)
  mixture, read = _read(mixture_path), np.stack([_read(p) for p in source_paths])
  np.testing.assert_array_equal(mixture, read.sum(axis=0))  # float32, any order: exact.
  np.testing.assert_array_equal(mixture.astype(np.float64), read.astype(np.float64).sum(axis=0))
  np.testing.assert_allclose(read, sources, atol=2 ** -16)
  assert soundfile.info(mixture_path).subtype == "PCM_16"
  with pytest.raises(ValueError, match="beyond 16-bit"):
    layout.write_sum(tmp_path / "loud", "m.wav", np.full([2, 10], 0.6), ["a.wav", "b.wav"], RATE)


def test_list_writers_round_trip_through_the_readers(tmp_path):
  outside = _write_pcm16(tmp_path / "elsewhere" / "x.wav", np.zeros(10))
  inside = [_write_pcm16(tmp_path / "c" / "train" / f"{i}.wav", np.zeros(10)) for i in range(3)]
  vocabulary = lists.write_label_vocabulary(tmp_path / "c" / "labels.txt", ["b", "a"])
  clip_list = lists.write_clip_list(tmp_path / "c" / "l.txt",
                                       [(inside[0], ["a", "b", "a"]), (outside, ["b"])],
                                       vocabulary=["b", "a"])
  assert open(clip_list).read().splitlines() == [
      "train/0.wav\tb,a", f"{os.path.abspath(outside)}\tb"]
  paths, labels = lists.read_clip_list(clip_list, vocabulary)
  assert paths == [os.path.abspath(inside[0]), os.path.abspath(outside)]
  np.testing.assert_array_equal(labels, [[1, 1], [1, 0]])
  fuss_list = lists.write_fuss_list(tmp_path / "c" / "f.txt", [(inside[0], inside[1:])])
  assert lists.read_fuss_list(fuss_list) == [(os.path.abspath(inside[0]),
                                                 [os.path.abspath(p) for p in inside[1:]])]
  for bad in [[(tmp_path / "c" / "#x.wav", None)], [(inside[0], ["a,b"])], []]:
    with pytest.raises(ValueError):
      lists.write_clip_list(tmp_path / "c" / "bad.txt", bad)
  with pytest.raises(ValueError, match="has 6 sources"):
    lists.write_fuss_list(tmp_path / "c" / "bad.txt", [(inside[0], inside * 2)])
  assert not os.path.exists(tmp_path / "c" / "bad.txt")


# ----------------------------------------------------------------------------
# FUSS-style mixtures.


def test_fuss_mixtures_follow_the_rules(tmp_path):
  root = _inventory(tmp_path / "clips", np.random.default_rng(1))
  inventory = mixing.clips_from_folders(root, ["rain", "wind"])
  assert len(inventory) == 11 and all(c.path.endswith(".wav") for c in inventory)
  assert {c.label for c in inventory if c.role == mixing.BACKGROUND} == {"rain", "wind"}
  files = mixing.write_mixtures(inventory, tmp_path / "out", "train", 16, seed=3,
                                clip_seconds=1.0, sample_rate=RATE)

  vocabulary = lists.read_label_vocabulary(files.vocabulary)
  assert vocabulary == ["bell", "car", "dog", "door", "rain", "wind"]
  examples = lists.read_fuss_list(files.fuss_list)
  paths, labels = lists.read_clip_list(files.clip_list, vocabulary)
  assert len(examples) == len(paths) == 16
  counts = set()
  for (mixture_path, source_paths), path, row in zip(examples, paths, labels):
    assert path == mixture_path
    names = [os.path.basename(p).split("_", 1)[1][:-4] for p in source_paths]
    assert names[0] in ("rain", "wind")  # one background, first.
    assert all(n in ("bell", "car", "dog", "door") for n in names[1:])
    assert 0 <= len(names) - 1 <= 3 and len(set(names)) == len(names)  # distinct labels.
    counts.add(len(names) - 1)
    np.testing.assert_array_equal(row, [n in names for n in vocabulary])
    mixture = _read(mixture_path)
    sources = np.stack([_read(p) for p in source_paths])
    assert mixture.shape == (RATE,) and sources.shape == (len(names), RATE)
    np.testing.assert_array_equal(mixture, sources.sum(axis=0))
    peak = max(np.max(np.abs(mixture)), np.max(np.abs(sources)))
    assert 10 ** (-10 / 20) - 1e-3 < peak < 10 ** (-1 / 20) + 1e-3
    assert np.all(np.any(sources != 0, axis=1))
  assert counts == {0, 1, 2, 3}


def test_fuss_mixtures_are_deterministic_by_seed(tmp_path):
  inventory = mixing.clips_from_folders(_inventory(tmp_path / "clips", np.random.default_rng(2)),
                                        ["rain"], background_min_seconds=1.0)
  # 'wind' (1.5 s) and 'car' (1.3 s) clips are backgrounds by duration.
  assert {c.label for c in inventory if c.role == mixing.BACKGROUND} == {"rain", "wind", "car"}
  args = dict(split="train", num_mixtures=5, clip_seconds=1.0, sample_rate=RATE)
  mixing.write_mixtures(inventory, tmp_path / "a", seed=7, **args)
  mixing.write_mixtures(list(reversed(inventory)), tmp_path / "b", seed=7, **args)
  mixing.write_mixtures(inventory, tmp_path / "c", seed=8, **args)
  a = _all_files(tmp_path / "a")
  assert a == _all_files(tmp_path / "b")
  c = _all_files(tmp_path / "c")
  mixture = os.path.join("train", "example00000", "mixture.wav")
  assert a[mixture] != c[mixture]


def test_fuss_mixing_refuses_impossible_inventories(tmp_path):
  root = _inventory(tmp_path / "clips", np.random.default_rng(3))
  inventory = mixing.clips_from_folders(root, ["rain"])
  foregrounds_only = [c for c in inventory if c.role == mixing.FOREGROUND]
  with pytest.raises(ValueError, match="no background"):
    mixing.write_mixtures(foregrounds_only, tmp_path / "o", "train", 2, clip_seconds=1.0,
                          sample_rate=RATE)
  two_labels = [c for c in inventory if c.label in ("rain", "dog", "bell")]
  with pytest.raises(ValueError, match="too few foreground labels"):
    mixing.write_mixtures(two_labels, tmp_path / "o", "train", 1, min_foreground=3,
                          clip_seconds=1.0, sample_rate=RATE)
  with pytest.raises(ValueError, match="max_foreground"):
    mixing.write_mixtures(inventory, tmp_path / "o", "train", 1, max_foreground=4)
  with pytest.raises(audio.FileError, match="background label has no folder"):
    mixing.clips_from_folders(root, ["thunder"])


def test_make_fuss_mixtures_script_with_a_manifest(tmp_path, capsys):
  rng = np.random.default_rng(4)
  _write_pcm16(tmp_path / "audio" / "bg.wav", _noise(rng, 1.2))
  _write_pcm16(tmp_path / "audio" / "fg1.wav", _noise(rng, 0.3))
  _write_pcm16(tmp_path / "audio" / "fg2.wav", _noise(rng, 0.5))
  manifest = tmp_path / "clips.csv"
  manifest.write_text("path,label,role\naudio/bg.wav,street,background\n"
                      "audio/fg1.wav,horn,foreground\naudio/fg2.wav,Speech,Foreground\n")
  script = _load_script("make_fuss_mixtures")
  argv = ["--manifest", str(manifest), "--out_dir", str(tmp_path / "out"), "--num_mixtures",
          "3", "--clip_seconds", "1", "--sample_rate", str(RATE), "--max_foreground", "2"]
  assert script.main(argv) == 0
  assert lists.read_label_vocabulary(tmp_path / "out" / "labels.txt") == [
      "Speech", "horn", "street"]
  assert len(lists.read_fuss_list(tmp_path / "out" / "train_example_list.txt")) == 3

  manifest.write_text("path,label,role\naudio/bg.wav,street,ambient\n")
  assert script.main(argv) == 1
  assert f"{manifest}:2: role 'ambient'" in capsys.readouterr().err


# ----------------------------------------------------------------------------
# Clips from long recordings.


def test_make_clips_cuts_labels_and_skips_silence(tmp_path, capsys):
  rng = np.random.default_rng(5)
  stereo = _noise(rng, 3.5, 22050, channels=2)
  stereo[int(1.0 * 22050):int(2.0 * 22050)] = 0  # second clip silent.
  _write_pcm16(tmp_path / "rec" / "street.wav", stereo, 22050)
  _write_pcm16(tmp_path / "rec" / "park.wav", _noise(rng, 2.0))
  manifest = tmp_path / "recordings.csv"
  manifest.write_text('path,labels\nrec/street.wav,"car,horn"\nrec/park.wav,bird\n')
  recordings = clips.read_recording_manifest(manifest)
  assert [r.labels for r in recordings] == [("car", "horn"), ("bird",)]

  report = clips.write_clips(recordings, tmp_path / "drop", "train", clip_seconds=1.0,
                             sample_rate=RATE, tail="drop", min_rms_dbfs=-60)
  assert (report.clips, report.silent, report.failed) == (4, 1, ())
  vocabulary = lists.read_label_vocabulary(report.vocabulary)
  assert vocabulary == ["bird", "car", "horn"]
  paths, labels = lists.read_clip_list(report.clip_list, vocabulary)
  names = [os.path.relpath(p, tmp_path / "drop") for p in paths]
  assert names == [os.path.join("train", "00000_street", f"clip{k:04d}.wav") for k in (0, 2)] + [
      os.path.join("train", "00001_park", f"clip{k:04d}.wav") for k in (0, 1)]
  np.testing.assert_array_equal(labels, [[0, 1, 1], [0, 1, 1], [1, 0, 0], [1, 0, 0]])
  recording = audio.read_audio(tmp_path / "rec" / "street.wav", RATE)
  for path, k in zip(paths[:2], (0, 2)):
    clip = _read(path)
    assert clip.shape == (RATE,)
    np.testing.assert_allclose(clip, recording[k * RATE:(k + 1) * RATE], atol=2 ** -15)

  padded = clips.write_clips(recordings, tmp_path / "pad", "train", clip_seconds=1.0,
                             sample_rate=RATE, tail="pad")
  assert padded.clips == 6  # 4 clips of 3.5 s (3 + the padded tail), 2 of 2 s.
  last = _read(os.path.join(tmp_path, "pad", "train", "00000_street", "clip0003.wav"))
  assert np.any(last[:RATE // 2]) and not np.any(last[RATE // 2 + 1:])

  script = _load_script("make_clips")
  manifest.write_text("path,labels\nrec/street.wav,car\nrec/missing.wav,car\n")
  argv = ["--manifest", str(manifest), "--out_dir", str(tmp_path / "s"), "--clip_seconds", "1",
          "--sample_rate", str(RATE)]
  assert script.main(argv) == 1
  assert os.path.join("rec", "missing.wav") in capsys.readouterr().err
  assert script.main(argv + ["--on_error", "skip"]) == 0
  captured = capsys.readouterr()
  assert "3 clips from 1 recordings" in captured.out and "missing.wav" in captured.err


# ----------------------------------------------------------------------------
# Mixture-of-mixtures sets.


def test_mom_set_is_the_exact_sum_of_its_mixtures(tmp_path):
  rng = np.random.default_rng(6)
  levels = [0.1, 0.2, 0.6, 0.5, 0.3]  # clips 2 and 3 (a pair) peak together beyond 1.
  paths = [_write_pcm16(tmp_path / "in" / f"{i}.wav", np.clip(
      level * np.sign(rng.standard_normal(int(RATE * (0.8 + 0.2 * i)))), -1, 1))
      for i, level in enumerate(levels)]
  clip_list = lists.write_clip_list(tmp_path / "in" / "list.txt", [(p, None) for p in paths])
  files = mom_sets.write_mom_set(mom_sets.read_mixture_paths(clip_list), tmp_path / "mom", "test",
                            pairing="consecutive", clip_seconds=1.0, sample_rate=RATE)
  assert files.count == 2
  examples = lists.read_fuss_list(files.mom_list)
  origins = lists.read_fuss_list(files.origins)
  assert [[os.path.basename(p) for p in o[1]] for o in origins] == [["0.wav", "1.wav"],
                                                                     ["2.wav", "3.wav"]]
  for (mom_path, (m1, m2)), (_, originals) in zip(examples, origins):
    assert [os.path.basename(p) for p in (mom_path, m1, m2)] == [
        "mom.wav", "mixture1.wav", "mixture2.wav"]
    total, first, second = _read(mom_path), _read(m1), _read(m2)
    assert total.shape == first.shape == second.shape == (RATE,)
    np.testing.assert_array_equal(total, first + second)
    expected = np.stack([pipelines.crop_or_pad(_read(p), RATE)[0] for p in originals])
    scale = 1.0 if np.max(np.abs(expected.sum(axis=0))) <= 1 else 0.99 / np.max(
        np.abs(expected.sum(axis=0)))
    np.testing.assert_allclose(np.stack([first, second]), scale * expected, atol=2 ** -15)
  assert np.max(np.abs(_read(examples[1][0]))) == pytest.approx(0.99, abs=1e-4)  # scaled.
  # The first pair was not scaled: its mixtures are the inputs bit for bit, the 0.8 s
  # one zero-padded, the 1.0 s one whole.
  first = _read(examples[0][1][0])
  np.testing.assert_array_equal(first[:6400], _read(paths[0]))
  assert not np.any(first[6400:])
  np.testing.assert_array_equal(_read(examples[0][1][1]), _read(paths[1]))

  pairs = mom_sets.pair_indices(5, "random", seed=1)
  assert pairs == mom_sets.pair_indices(5, "random", seed=1) != mom_sets.pair_indices(5, "random", seed=2)
  assert len(pairs) == 2 and len({i for pair in pairs for i in pair}) == 4


def test_make_mom_set_script_reads_fuss_lists_and_is_deterministic(tmp_path, capsys):
  inventory = mixing.clips_from_folders(_inventory(tmp_path / "clips", np.random.default_rng(7)),
                                        ["rain", "wind"])
  files = mixing.write_mixtures(inventory, tmp_path / "fuss", "eval", 4, clip_seconds=1.0,
                                sample_rate=RATE)
  script = _load_script("make_mom_set")
  for out in ("a", "b"):
    assert script.main(["--fuss_list", files.fuss_list, "--out_dir", str(tmp_path / out),
                        "--clip_seconds", "1", "--sample_rate", str(RATE), "--seed", "4"]) == 0
  assert _all_files(tmp_path / "a") == _all_files(tmp_path / "b")
  origins = lists.read_fuss_list(tmp_path / "a" / "test_mom_origins.txt")
  assert all(p.endswith("mixture.wav") for _, o in origins for p in o)
  bad = tmp_path / "one.txt"
  bad.write_text("only.wav\n")
  assert script.main(["--clip_list", str(bad), "--out_dir", str(tmp_path / "c")]) == 1
  assert "at least 2 mixtures" in capsys.readouterr().err


# ----------------------------------------------------------------------------
# Public lists.


def _librimix(tmp_path, kind):
  """A LibriMix-like tree under tmp_path/storage and its CSV, with the generating machine's
  absolute paths under /gen/storage."""
  rng = np.random.default_rng(8)
  columns = {"mix_both": ["s1", "s2", "noise"], "mix_single": ["s1", "noise"]}[kind]
  header = ["mixture_ID", "mixture_path"] + [
      {"s1": "source_1_path", "s2": "source_2_path", "noise": "noise_path"}[c] for c in columns]
  lines = [",".join(header + ["length"])]
  for utt in ("a-1_b-2", "c-3_d-4"):
    row = [utt]
    for folder in [kind] + columns:
      relative = f"Libri2Mix/wav8k/min/test/{folder}/{utt}.wav"
      _write_pcm16(tmp_path / "storage" / relative, _noise(rng, 0.1))
      row.append("/gen/storage/" + relative)
    lines.append(",".join(row + ["800"]))
  csv_path = tmp_path / "metadata" / f"mixture_test_{kind}.csv"
  os.makedirs(csv_path.parent, exist_ok=True)
  csv_path.write_text("\n".join(lines) + "\n")
  return csv_path


def test_librimix_csv_to_fuss_lists(tmp_path, capsys):
  prefixes = [("/gen/storage/", str(tmp_path / "storage") + "/")]
  both = _librimix(tmp_path, "mix_both")
  report = public_lists.convert_librimix_csv(both, tmp_path / "lists" / "sep.txt",
                                             "separation", prefixes)
  assert (report.written, report.skipped) == (2, 0)
  examples = lists.read_fuss_list(report.list_path)
  assert [[p.split(os.sep)[-2] for p in [m] + s] for m, s in examples] == [
      ["mix_both", "s1", "s2", "noise"]] * 2
  assert examples[0][0].endswith("a-1_b-2.wav")
  with pytest.raises(audio.FileError, match="enhancement needs a mix_single CSV"):
    public_lists.convert_librimix_csv(both, tmp_path / "lists" / "enh.txt", "enhancement",
                                      prefixes)

  single = _librimix(tmp_path, "mix_single")
  report = public_lists.convert_librimix_csv(single, tmp_path / "lists" / "enh.txt",
                                             "enhancement", prefixes)
  assert [[p.split(os.sep)[-2] for p in [m] + s]
          for m, s in lists.read_fuss_list(report.list_path)] == [
              ["mix_single", "s1", "noise"]] * 2

  os.remove(tmp_path / "storage" / "Libri2Mix/wav8k/min/test/s2/c-3_d-4.wav")
  with pytest.raises(public_lists.MissingFileError, match=r"c-3_d-4\.wav.*:3"):
    public_lists.convert_librimix_csv(both, tmp_path / "lists" / "x.txt", "separation", prefixes)
  script = _load_script("import_lists")
  argv = ["librimix", "--csv", str(both), "--out_list", str(tmp_path / "lists" / "y.txt"),
          "--path_prefix", f"/gen/storage/={tmp_path / 'storage'}/"]
  assert script.main(argv) == 1
  assert "s2/c-3_d-4.wav" in capsys.readouterr().err
  assert script.main(argv + ["--on_missing", "skip"]) == 0
  captured = capsys.readouterr()
  assert "wrote 1 examples" in captured.out and "skipped 1 rows" in captured.err
  assert len(lists.read_fuss_list(tmp_path / "lists" / "y.txt")) == 1


def test_fuss_list_normalisation(tmp_path):
  inventory = mixing.clips_from_folders(_inventory(tmp_path / "clips", np.random.default_rng(9)),
                                        ["rain"])
  files = mixing.write_mixtures(inventory, tmp_path / "fuss", "eval", 3, clip_seconds=1.0,
                                sample_rate=RATE)
  out = tmp_path / "lists" / "eval.txt"
  report = public_lists.normalise_fuss_list(files.fuss_list, out, check_audio=True,
                                            sample_rate=RATE)
  assert report.written == 3
  assert lists.read_fuss_list(out) == lists.read_fuss_list(files.fuss_list)

  first_source = lists.read_fuss_list(files.fuss_list)[0][1][0]
  _write_pcm16(first_source, np.zeros(RATE))  # mixture no longer the sum.
  with pytest.raises(examples.ExampleError, match="differs from the sum"):
    public_lists.normalise_fuss_list(files.fuss_list, out, check_audio=True, sample_rate=RATE)
  os.remove(first_source)
  with pytest.raises(public_lists.MissingFileError, match="source0"):
    public_lists.normalise_fuss_list(files.fuss_list, out)
  report = public_lists.normalise_fuss_list(files.fuss_list, out, on_missing="skip")
  assert (report.written, report.skipped, report.missing) == (2, 1, (first_source,))


def test_yfcc_clips_and_moms_from_local_audio(tmp_path):
  rng = np.random.default_rng(10)
  track = np.round(_noise(rng, 2.0) * 32768) / 32768
  _write_pcm16(tmp_path / "audio" / "data/videos/mp4/aa/bb/vid1.wav", track)
  _write_pcm16(tmp_path / "audio" / "vid2.flac", track[::-1].copy())
  csv_path = tmp_path / "train.csv"
  csv_path.write_text("video,start,end,offset\n"
                      "data/videos/mp4/aa/bb/vid1.mp4,0.5,1.0,0.25\n"
                      "data/videos/mp4/cc/dd/vid2.mp4,0.0,2.0,0.0\n"
                      "data/videos/mp4/ee/ff/gone.mp4,0.0,1.0,0.0\n")
  with pytest.raises(public_lists.MissingFileError, match="gone.mp4.*train.csv:4"):
    public_lists.import_yfcc_clips(csv_path, tmp_path / "audio", tmp_path / "out", "train",
                                   clip_seconds=1.0, sample_rate=RATE)
  report = public_lists.import_yfcc_clips(csv_path, tmp_path / "audio", tmp_path / "out",
                                          "train", clip_seconds=1.0, sample_rate=RATE,
                                          on_missing="skip")
  assert (report.written, report.skipped) == (2, 1)
  paths, _ = lists.read_clip_list(report.list_path)
  first, second = _read(paths[0]), _read(paths[1])
  expected = np.zeros(RATE)
  expected[2000:6000] = track[4000:8000]  # [0.5 s, 1.0 s) placed at 0.25 s.
  np.testing.assert_array_equal(first, expected)
  np.testing.assert_array_equal(second, track[::-1][:RATE])  # cut at the clip's end.

  mom_csv = tmp_path / "test_mom.csv"
  mom_csv.write_text("data/videos/mp4/aa/bb/vid1.mp4,0,1,0,vid2.mp4,1,2,0\n")
  report = public_lists.import_yfcc_moms(mom_csv, tmp_path / "audio", tmp_path / "out", "test",
                                         clip_seconds=1.0, sample_rate=RATE)
  [(mom_path, (m1, m2))] = lists.read_fuss_list(report.list_path)
  np.testing.assert_array_equal(_read(mom_path), _read(m1) + _read(m2))
  with pytest.raises(ValueError, match=r"test_mom\.csv:1: expected 4 fields"):
    public_lists.read_yfcc_csv(mom_csv, clips_per_row=1)


# ----------------------------------------------------------------------------
# Scripts as processes.


def test_every_script_has_help_and_names_a_missing_input(tmp_path):
  missing = str(tmp_path / "nope.csv")
  bad_args = {
      "make_fuss_mixtures": ["--manifest", missing, "--out_dir", "o", "--num_mixtures", "1"],
      "make_clips": ["--manifest", missing, "--out_dir", "o"],
      "make_mom_set": ["--clip_list", missing, "--out_dir", "o"],
      "import_lists": ["librimix", "--csv", missing, "--out_list", "o.txt"],
      "plot_tradeoff": ["--runs", missing, "--out", str(tmp_path / "p.png")],
  }
  for name, command in COMMANDS.items():
    result = _subprocess(command + ["--help"])
    assert result.returncode == 0, (name, result.stderr)
    assert "usage:" in result.stdout
    result = _subprocess(command + bad_args[name])
    assert result.returncode != 0 and missing in result.stderr, (name, result.stderr)


def test_a_bad_input_file_fails_the_process_naming_it(tmp_path):
  manifest = tmp_path / "recordings.csv"
  manifest.write_text("file,labels\nx.wav,dog\n")
  result = _subprocess(COMMANDS["make_clips"] + ["--manifest", str(manifest), "--out_dir",
                        str(tmp_path / "out")])
  assert result.returncode == 1
  assert f"'{manifest}'" in result.stderr and "lacks the column(s) ['path']" in result.stderr
  assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------
# tools/plot_tradeoff.py.


def test_plot_tradeoff_writes_a_png(tmp_path, capsys):
  pytest.importorskip("matplotlib")
  tool = _load_script("plot_tradeoff")
  rows = ["label,loss,weight,summary"]
  for loss, weights in [("baseline", [0]), ("sparsity", [0.01, 0.1, 1]), ("cov", [0.1, 1])]:
    for w in weights:
      name = f"runs/{loss}_{w}.json"
      os.makedirs(tmp_path / "runs", exist_ok=True)
      (tmp_path / name).write_text(json.dumps({"MSi": 10 + w, "1S": 30 - 5 * w, "TRF": 15 + w}))
      rows.append(f"{loss} w={w},{loss},{w},{name}")
  (tmp_path / "sweep.csv").write_text("\n".join(rows) + "\n")
  out = tmp_path / "fig" / "tradeoff.png"
  extra = f"sparsity:0.5:{tmp_path / 'runs' / 'sparsity_0.1.json'}"
  # A collapsed weight: the highest TRF of all, but MSi far below the baseline's 10 dB.
  (tmp_path / "runs" / "collapsed.json").write_text(json.dumps({"MSi": 0.5, "1S": 60, "TRF": 40}))
  collapsed = f"sparsity:10:{tmp_path / 'runs' / 'collapsed.json'}"
  assert tool.main(["--runs", str(tmp_path / "sweep.csv"), "--run", extra, "--run", collapsed,
                    "--out", str(out)]) == 0
  with open(out, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  printed = capsys.readouterr().out
  assert "picked for sparsity: weight 1 (TRF 16.00 dB, MSi 11.00 dB" in printed
  # With a budget of 12 dB the floor (10 - 12) lets the collapsed weight through.
  assert tool.main(["--runs", str(tmp_path / "sweep.csv"), "--run", collapsed, "--out",
                    str(out), "--msi_tolerance_db", "12"]) == 0
  assert "picked for sparsity: weight 10 (TRF 40.00 dB" in capsys.readouterr().out
  sizes = tool.marker_sizes([0, 0.01, 0.1, 1])
  assert sizes == sorted(sizes) and sizes[0] < sizes[1]

  (tmp_path / "runs" / "cov_1.json").write_text(json.dumps({"MSi": 1.0}))
  assert tool.main(["--runs", str(tmp_path / "sweep.csv"), "--out", str(out)]) == 1
  assert "cov_1.json" in capsys.readouterr().err
