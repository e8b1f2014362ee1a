"""Tests of `evaluation.evaluate` on tiny wav lists with planted separators."""

import csv
import io
import json
import os

import numpy as np
import pytest

from sound_separation.data import audio
from sound_separation.data import examples
from sound_separation.evaluation import evaluate
from sound_separation.evaluation import evaluator
from sound_separation.evaluation import format_table
from sound_separation.evaluation import metrics

RATE = 16000
T = 1600
CAP = metrics.MAX_SI_SNR_DB
TOL = 1e-4
NUM_OUTPUTS = 4


def exact_si_snr(estimate, reference):
  estimate, reference = np.float64(estimate), np.float64(reference)
  alpha = estimate @ reference / (reference @ reference)
  target = alpha * reference
  return 10.0 * np.log10(target @ target / ((target - estimate) @ (target - estimate)))


def write_list(tmp_path, examples, subtype="FLOAT", name="list.txt"):
  """Writes `[(input [T], [sources])]` as wavs under tmp_path/audio and a list.

  Returns `(list_path, lines)` with lines `[(mixture path, [source paths])]`
  as absolute paths.
  """
  folder = tmp_path / "audio"
  folder.mkdir(exist_ok=True)
  lines, text = [], []
  for i, (mixture, sources) in enumerate(examples):
    names = [f"audio/ex{i}_mix.wav"] + [f"audio/ex{i}_s{k}.wav" for k in range(len(sources))]
    for rel, wave in zip(names, [mixture] + list(sources)):
      audio.write_audio(tmp_path / rel, wave, RATE, subtype=subtype)
    text.append("\t".join(names))
    lines.append((str(tmp_path / names[0]), [str(tmp_path / n) for n in names[1:]]))
  list_path = tmp_path / name
  list_path.write_text("\n".join(text) + "\n")
  return str(list_path), lines


def fuss_examples(rng):
  """Source counts 1, 2, 3 (the third silent: 2 active) and 2."""
  examples = []
  for n, silent in ((1, False), (2, False), (3, True), (2, False)):
    sources = 0.1 * rng.normal(size=(n, T)).astype(np.float32)
    if silent:
      sources[-1] = 0.0
    examples.append((sources.sum(axis=0), sources))
  return examples


def read_back(lines):
  """`[(mixture, sources [S, T])]` as `evaluate` reads them."""
  return [(audio.read_audio(m, RATE), np.stack([audio.read_audio(p, RATE) for p in s]))
          for m, s in lines]


def lookup(table):
  """A separate_fn answering from `{input bytes: outputs}`; records its calls."""
  def separate(waveform):
    separate.calls += 1
    assert waveform.dtype == np.float32 and waveform.shape == (T,)
    return table[waveform.tobytes()]
  separate.calls = 0
  return separate


def padded(sources):
  return np.concatenate([sources, np.zeros((NUM_OUTPUTS - len(sources), T), np.float32)])


def read_csv(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_16"])
def test_oracle_separator_gives_known_scores(tmp_path, rng, subtype):
  list_path, lines = write_list(tmp_path, fuss_examples(rng), subtype)
  data = read_back(lines)
  oracle = lookup({m.tobytes(): padded(s) for m, s in data})
  out_dir = tmp_path / "out"
  stream = io.StringIO()
  summary = evaluate(oracle, list_path, out_dir=str(out_dir), stream=stream)

  pairs = {n: [] for n in (2, 3)}
  for mixture, sources in data[1:]:
    active = [s for s in sources if np.any(s)]
    pairs[len(active)].extend(CAP - exact_si_snr(mixture, s) for s in active)
  assert not pairs[3]
  expected_msi = np.mean(pairs[2])
  assert summary["MSi"] == pytest.approx(expected_msi, abs=TOL)
  assert summary["1S"] == pytest.approx(CAP, abs=TOL)
  assert summary["TRF"] == pytest.approx(0.25 * CAP + 0.75 * expected_msi, abs=TOL)
  assert summary["MoMi"] is None
  assert summary["num_examples"] == 4
  assert summary["per_source_count"]["2"]["count"] == 3
  assert (summary["under_separation"], summary["equal_separation"],
          summary["over_separation"]) == (0, 4, 0)
  assert oracle.calls == 4

  with open(out_dir / "summary.json") as f:
    on_disk = json.load(f)
  assert on_disk == json.loads(json.dumps(summary))
  assert on_disk["task"] == "fuss" and on_disk["list_path"] == list_path
  for key in ("MSi", "1S", "TRF", "MoMi", "num_examples", "per_source_count",
              "under_separation", "over_separation"):
    assert key in on_disk

  rows = read_csv(out_dir / "examples.csv")
  assert [r["mixture"] for r in rows] == [m for m, _ in lines]
  assert [int(r["num_active_refs"]) for r in rows] == [1, 2, 2, 2]
  assert float(rows[0]["1S"]) == pytest.approx(CAP, abs=TOL)
  assert rows[0]["MSi"] == ""
  assert rows[2]["si_snr_3"] == "" and rows[2]["pair_active_3"] == "False"
  mixture, sources = data[1]
  assert float(rows[1]["si_snri_1"]) == pytest.approx(CAP - exact_si_snr(mixture, sources[0]),
                                                      abs=TOL)
  text = stream.getvalue()
  assert "MSi" in text and "TRF" in text and "under 0" in text


def test_mixture_in_first_output_gives_zero_msi(tmp_path, rng):
  list_path, lines = write_list(tmp_path, fuss_examples(rng))
  data = read_back(lines)
  table = {m.tobytes(): padded(m[np.newaxis]) for m, _ in data}
  summary = evaluate(lookup(table), list_path, stream=io.StringIO())
  assert summary["MSi"] == pytest.approx(0.0, abs=1e-9)
  # The single-source mixture equals its source (float wavs): 1S at the cap.
  assert summary["1S"] == pytest.approx(CAP, abs=TOL)
  assert summary["TRF"] == pytest.approx(0.25 * CAP, abs=TOL)
  assert (summary["under_separation"], summary["equal_separation"]) == (3, 1)


def test_max_examples_and_no_out_dir(tmp_path, rng):
  list_path, lines = write_list(tmp_path, fuss_examples(rng))
  data = read_back(lines)
  oracle = lookup({m.tobytes(): padded(s) for m, s in data})
  summary = evaluate(oracle, list_path, max_examples=2, stream=io.StringIO())
  assert summary["num_examples"] == 2 and oracle.calls == 2
  assert not (tmp_path / "summary.json").exists()


def test_mom_task(tmp_path, rng):
  examples = []
  for _ in range(2):
    mixtures = 0.1 * rng.normal(size=(2, T)).astype(np.float32)
    examples.append((mixtures.sum(0), mixtures))
  list_path, lines = write_list(tmp_path, examples)
  data = read_back(lines)
  # Outputs: mixture 2, then mixture 1 split in two parts.
  table = {}
  for mom, mixtures in data:
    part = np.float32(0.3) * mixtures[0]
    table[mom.tobytes()] = np.stack([mixtures[1], part, mixtures[0] - part])
  summary = evaluate(lookup(table), list_path, task="mom", out_dir=str(tmp_path / "o"),
                     stream=io.StringIO())
  expected = np.mean([CAP - exact_si_snr(mom, m) for mom, mixtures in data for m in mixtures])
  assert summary["MoMi"] == pytest.approx(expected, abs=TOL)
  assert summary["MSi"] is None and summary["TRF"] is None
  rows = read_csv(tmp_path / "o" / "examples.csv")
  assert [r["assignment_1"] + r["assignment_2"] + r["assignment_3"] for r in rows] == ["100"] * 2


def test_enhancement_task_calls_separator_on_clean_speech(tmp_path, rng):
  speech, noise = 0.1 * rng.normal(size=(2, T)).astype(np.float32)
  list_path, lines = write_list(tmp_path, [(speech + noise, np.stack([speech, noise]))])
  (noisy, (speech, noise)), = read_back(lines)
  table = {noisy.tobytes(): np.stack([noise, speech]),
           speech.tobytes(): np.stack([np.float32(0.5) * speech, np.zeros(T, np.float32)])}
  separate = lookup(table)
  summary = evaluate(separate, list_path, task="enhancement", stream=io.StringIO())
  assert separate.calls == 2
  assert summary["S+N"] == pytest.approx(CAP - exact_si_snr(noisy, speech), abs=TOL)
  assert summary["S-only"] == pytest.approx(CAP, abs=TOL)
  assert summary["MSi"] is None and summary["under_separation"] is None
  assert "S-only" in format_table(summary)


def test_speech_task_1s_from_first_speaker_alone(tmp_path, rng):
  s1, s2 = 0.1 * rng.normal(size=(2, T)).astype(np.float32)
  list_path, lines = write_list(tmp_path, [(s1 + s2, np.stack([s1, s2]))])
  (mixture, (s1, s2)), = read_back(lines)
  table = {mixture.tobytes(): np.stack([s2, s1, np.zeros(T, np.float32)]),
           s1.tobytes(): np.stack([np.zeros(T, np.float32), s1, 0.5 * s2])}
  summary = evaluate(lookup(table), list_path, task="speech", stream=io.StringIO())
  expected = np.mean([CAP - exact_si_snr(mixture, s) for s in (s1, s2)])
  assert summary["MSi"] == pytest.approx(expected, abs=TOL)
  assert summary["1S"] == pytest.approx(CAP, abs=TOL)
  assert summary["TRF"] is None


def test_speech_task_reads_a_noise_column_and_scores_only_the_speakers(tmp_path, rng):
  # The development corpus's noisy list: mixture, speaker 0, speaker 1, noise.
  s1, s2, noise = 0.1 * rng.normal(size=(3, T)).astype(np.float32)
  list_path, lines = write_list(tmp_path, [(s1 + s2 + noise, np.stack([s1, s2, noise]))])
  (mixture, (s1, s2, noise)), = read_back(lines)
  # The noise goes to its own output (or stays with speaker 2: then speaker 2
  # scores below the cap); speaker 1 alone comes back whole.
  table = {mixture.tobytes(): np.stack([s1, s2 + noise, np.zeros(T, np.float32)]),
           s1.tobytes(): np.stack([s1, np.zeros(T, np.float32), np.zeros(T, np.float32)])}
  summary = evaluate(lookup(table), list_path, task="speech", stream=io.StringIO())
  expected = np.mean([CAP - exact_si_snr(mixture, s1),
                      exact_si_snr(s2 + noise, s2) - exact_si_snr(mixture, s2)])
  assert summary["MSi"] == pytest.approx(expected, abs=1e-3)
  assert summary["1S"] == pytest.approx(CAP, abs=TOL)


def test_speech_task_refuses_four_columns_naming_the_file(tmp_path, rng):
  sources = 0.1 * rng.normal(size=(4, T)).astype(np.float32)
  list_path, lines = write_list(tmp_path, [(sources.sum(0), sources)])
  with pytest.raises(examples.ExampleError, match=r"ex0_mix\.wav.*needs 2 or 3"):
    evaluate(lookup({}), list_path, task="speech", stream=io.StringIO())


# ----------------------------------------------------------------------------
# Errors.


def test_source_with_wrong_length_names_the_file(tmp_path, rng):
  source = 0.1 * rng.normal(size=T).astype(np.float32)
  list_path, lines = write_list(tmp_path, [(source, source[np.newaxis])])
  audio.write_audio(lines[0][1][0], source[:-10], RATE, subtype="FLOAT")
  with pytest.raises(examples.ExampleError, match="ex0_s0.wav.*1590 samples.*1600"):
    evaluate(lambda x: x[np.newaxis], list_path, stream=io.StringIO())


def test_wrong_separator_output_names_the_example(tmp_path, rng):
  list_path, _ = write_list(tmp_path, fuss_examples(rng))
  with pytest.raises(ValueError, match=r"the separator returned shape \(1, 1599\).*ex0_mix.wav"):
    evaluate(lambda x: x[np.newaxis, :-1], list_path, stream=io.StringIO())
  with pytest.raises(ValueError, match=r"shape \(1600,\)"):
    evaluate(lambda x: x, list_path, stream=io.StringIO())
  with pytest.raises(ValueError, match="non-finite.*ex0_mix.wav"):
    evaluate(lambda x: np.full((2, T), np.nan), list_path, stream=io.StringIO())
  # One output for two active sources.
  with pytest.raises(ValueError, match="cannot score example 2 .*ex1_mix.wav.*only 1 outputs"):
    evaluate(lambda x: x[np.newaxis], list_path, stream=io.StringIO())


def test_task_needs_its_number_of_sources(tmp_path, rng):
  list_path, _ = write_list(tmp_path, fuss_examples(rng))
  with pytest.raises(examples.ExampleError, match="example 1 .* 1 source file.*'mom' needs 2"):
    evaluate(lambda x: x[np.newaxis], list_path, task="mom", stream=io.StringIO())


def test_bad_arguments(tmp_path, rng):
  list_path, _ = write_list(tmp_path, fuss_examples(rng))
  separate = lambda x: x[np.newaxis]
  with pytest.raises(ValueError, match="task must be one of"):
    evaluate(separate, list_path, task="libri", stream=io.StringIO())
  with pytest.raises(ValueError, match="max_examples"):
    evaluate(separate, list_path, max_examples=0, stream=io.StringIO())
  with pytest.raises(ValueError, match="sample_rate"):
    evaluate(separate, list_path, sample_rate=0, stream=io.StringIO())
  with pytest.raises(ValueError, match="cannot read list file"):
    evaluate(separate, os.path.join(tmp_path, "missing.txt"), stream=io.StringIO())


def test_separated_inputs_lists_what_evaluate_separates(tmp_path, rng):
  list_path, lines = write_list(tmp_path, fuss_examples(rng))
  assert evaluator.separated_inputs(list_path) == [m for m, _ in lines]
  assert evaluator.separated_inputs(list_path, max_examples=2) == [m for m, _ in lines[:2]]
  # The speech task also separates each example's first speaker alone.
  assert evaluator.separated_inputs(list_path, "speech") == [
      p for m, s in lines for p in (m, s[0])]
