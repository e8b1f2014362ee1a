"""Streaming separation: the same outputs as the whole-file computation, in bounded memory."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.signal
import soundfile

from sound_separation.data import audio
from sound_separation.data import examples as examples_lib
from sound_separation.inference import chunked
from sound_separation.inference import separate
from sound_separation.inference import separator as separator_lib
from sound_separation.inference import streaming


@pytest.mark.parametrize("rate_in,rate_out", [(44100, 16000), (16000, 22050), (8000, 16000)])
def test_range_resampling_equals_whole_signal_resampling(rate_in, rate_out):
  x = np.random.default_rng(0).standard_normal(3 * rate_in + 17).astype(np.float32)
  whole = scipy.signal.resample_poly(x, rate_out // np.gcd(rate_in, rate_out),
                                     rate_in // np.gcd(rate_in, rate_out))
  ranges = audio.RangeResampler(lambda a, b: x[a:b], len(x), rate_in, rate_out)
  assert ranges.num_samples == len(whole)
  edges = [0, 1, 999, 5000, rate_out, len(whole) - 3, len(whole)]
  pieces = [ranges.get(a, b) for a, b in zip(edges[:-1], edges[1:])]
  np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=0, atol=1e-6)


@pytest.mark.parametrize("rate_in,rate_out", [(16000, 44100), (22050, 16000)])
def test_output_resampling_of_blocks_equals_whole_signal_resampling(rate_in, rate_out):
  rng = np.random.default_rng(1)
  x = rng.standard_normal((3, 2 * rate_in + 5)).astype(np.float32)
  length_out = int(np.ceil(x.shape[1] * rate_out / rate_in))
  whole = audio.resample(x, rate_in, rate_out)[:, :length_out]
  back = streaming.OutputResampler(rate_in, rate_out, length_out)
  cuts = np.cumsum(rng.integers(1, 9000, size=40))
  cuts = [0] + [int(c) for c in cuts if c < x.shape[1]] + [x.shape[1]]
  outs = [back.push(x[:, a:b]) for a, b in zip(cuts[:-1], cuts[1:])] + [back.flush(3)]
  np.testing.assert_allclose(np.concatenate(outs, axis=1), whole, rtol=0, atol=1e-6)


class _Recorder:
  """A stand-in separator: each output a fixed filter of the input, with a chunk-dependent swap."""

  sample_rate = 8000

  def __init__(self):
    self.calls = 0

  def __call__(self, batch):
    batch = np.asarray(batch, np.float32)
    self.calls += 1
    outputs = np.stack([batch * 0.5, np.roll(batch, 3, axis=1) * 0.3, batch ** 2 * 0.2], 1)
    # Permute the outputs differently per call, as a separator may: matching undoes it.
    return outputs[:, np.roll(np.arange(3), self.calls)]


def test_stitching_as_a_stream_equals_the_whole_waveform_path():
  x = np.random.default_rng(2).standard_normal(8000 * 47).astype(np.float32)  # many chunks
  whole = chunked.separate_waveform(_Recorder(), x, chunk_seconds=10.0, overlap_seconds=1.0)
  blocks = list(streaming.stitch(_Recorder(), lambda a, b: x[a:b], len(x), 80000, 8000, 2))
  starts = [s for s, _ in blocks]
  assert starts == sorted(starts) and starts[0] == 0
  streamed = np.concatenate([b for _, b in blocks], axis=1)
  np.testing.assert_array_equal(streamed, whole)
  # Each block is final when handed on: at most a chunk is held back.
  assert max(b.shape[1] for _, b in blocks) <= 80000


@pytest.mark.parametrize("file_rate", [8000, 11025])
def test_a_file_of_several_chunks_separates_as_the_whole_file(model_folder, tmp_path,
                                                              file_rate):
  folder, _ = model_folder
  separator = separator_lib.load_model(folder)
  path = tmp_path / "long.wav"
  x = 0.1 * np.random.default_rng(3).standard_normal(int(file_rate * 3.7))
  soundfile.write(str(path), np.stack([x, 0.5 * x], 1).astype(np.float32), file_rate,
                  subtype="FLOAT")  # two channels, averaged
  written = separate.separate_file(separator, str(path), str(tmp_path / "out"),
                                   chunk_seconds=1.0, overlap_seconds=0.25, batch_size=2)
  expected = _reference_with(separator, str(path), 1.0, 0.25)
  assert len(written) == 4
  for j, out in enumerate(written):
    samples, rate = soundfile.read(out, dtype="float32")
    assert rate == file_rate and samples.shape == (len(x),)
    np.testing.assert_allclose(samples, expected[j], atol=2e-6)


def _reference_with(separator, path, chunk_seconds, overlap_seconds):
  rate = audio.file_sample_rate(path)
  waveform = audio.read_audio(path, rate)
  separated = chunked.separate_waveform(
      separator, audio.resample(waveform, rate, separator.sample_rate), chunk_seconds,
      overlap_seconds)
  restored = audio.resample(separated, separator.sample_rate, rate)[:, :len(waveform)]
  return np.pad(restored, [(0, 0), (0, len(waveform) - restored.shape[1])])


def test_the_loudest_outputs_are_chosen_by_their_whole_energy(model_folder, tmp_path):
  folder, _ = model_folder
  separator = separator_lib.load_model(folder)
  path = tmp_path / "a.wav"
  soundfile.write(str(path), (0.1 * np.random.default_rng(4).standard_normal(8000 * 3)).astype(
      np.float32), 8000, subtype="FLOAT")
  expected = _reference_with(separator, str(path), 1.0, 0.25)
  keep = separate.loudest(expected, 2)
  written = separate.separate_file(separator, str(path), str(tmp_path / "o"), num_sources=2,
                                   chunk_seconds=1.0, overlap_seconds=0.25)
  assert [os.path.basename(p) for p in written] == [f"a_source{j}.wav" for j in keep]
  assert sorted(os.listdir(tmp_path / "o")) == sorted(os.path.basename(p) for p in written)


def test_peak_memory_does_not_grow_with_the_length(model_folder, tmp_path):
  """A 40 s and a 400 s file in child processes: the peak grows by far less than the audio."""
  folder, _ = model_folder
  code = textwrap.dedent(f"""
      import sys
      import numpy as np, soundfile
      from sound_separation.inference import separate, separator as separator_lib
      seconds = float(sys.argv[1])
      path = sys.argv[2]
      with soundfile.SoundFile(path, "w", 8000, 1, "FLOAT") as f:
        rng = np.random.default_rng(0)
        for _ in range(int(seconds / 10)):
          f.write((0.1 * rng.standard_normal(80000)).astype(np.float32))
      model = separator_lib.load_model({str(folder)!r})
      separate.separate_file(model, path, sys.argv[3])
      with open("/proc/self/status") as f:
        print([l for l in f if l.startswith("VmHWM")][0].split()[1])
      """)
  peaks = {}
  for seconds in (40, 400):
    result = subprocess.run([sys.executable, "-c", code, str(seconds),
                             str(tmp_path / f"in{seconds}.wav"), str(tmp_path / f"o{seconds}")],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    peaks[seconds] = int(result.stdout.strip().splitlines()[-1]) * 1024
  # 360 s more at 8 kHz: input 11.5 MB, 4 outputs 46 MB as float32, float64
  # copies twice that. A streamed separation holds none of it; the allowance is
  # for the allocator (21 MB seen with another test process beside it).
  assert peaks[400] - peaks[40] < 30e6, peaks


class _TimedSeparator:
  """A stand-in with an any-length path that takes `graph_seconds` a chunk and a fixed one."""

  sample_rate = 100

  def __init__(self, graph_seconds):
    self.graph_seconds = graph_seconds
    self.calls = []

  def __call__(self, batch):
    import time  # pylint: disable=import-outside-toplevel
    time.sleep(self.graph_seconds * len(batch))
    self.calls.append("graph")
    return np.stack([batch, -batch], 1)

  def has_fixed_length(self, length):
    return length == 1000

  def fixed_length(self, length):
    def call(batch):
      self.calls.append("compiled")
      return np.stack([batch, -batch], 1)
    return call


@pytest.mark.parametrize("graph_seconds,expected", [
    (0.02, ["graph"] * 6),                    # 11 chunks x 0.02 s: never worth compiling
    (0.3, ["graph"] + ["compiled"] * 5),      # 9 more chunks x 0.3 s > 1 s: compile
])
def test_a_job_compiles_only_when_the_graph_would_take_long(monkeypatch, graph_seconds,
                                                            expected):
  monkeypatch.setattr(chunked, "COMPILE_WHEN_GRAPH_SECONDS", 1.0)
  model = _TimedSeparator(graph_seconds)
  job = chunked.JobChunks(model, num_chunks=11, chunk_seconds=10.0)
  x = np.random.default_rng(5).standard_normal(1000 * 10).astype(np.float32)
  out = chunked.separate_waveform(model, x, chunk_seconds=10.0, overlap_seconds=1.0,
                                  batch_size=2, compiled=job)
  assert model.calls == expected
  np.testing.assert_allclose(out.sum(axis=0), 0.0, atol=1e-6)  # the outputs are ±x, stitched


class _Filters:
  """A stateless stand-in separator at 8 kHz: three filters of each chunk, one chunk-dependent."""

  sample_rate = 8000
  num_sources = 3
  description = "three filters"

  def __call__(self, batch):
    batch = np.asarray(batch, np.float32)
    return np.stack([batch * 0.5, np.roll(batch, 3, axis=1) * 0.3, batch ** 2 * 0.2], 1)


def _long_fuss_list(tmp_path, file_rate, seconds):
  """A FUSS list of one example several chunks long (3 sources, one silent) at `file_rate`."""
  rng = np.random.default_rng(5)
  sources = 0.1 * rng.standard_normal((3, int(file_rate * seconds))).astype(np.float32)
  sources[1] *= np.linspace(0.0, 2.0, sources.shape[1], dtype=np.float32)
  sources[2] = 0.0
  names = ["mix.wav", "s0.wav", "s1.wav", "s2.wav"]
  for name, wave in zip(names, [sources.sum(0)] + list(sources)):
    soundfile.write(str(tmp_path / name), wave, file_rate, subtype="FLOAT")
  (tmp_path / "list.txt").write_text("\t".join(names) + "\n")
  return str(tmp_path / "list.txt")


@pytest.mark.parametrize("file_rate", [8000, 11025])
def test_a_long_example_is_scored_streaming_as_the_whole_example(tmp_path, file_rate):
  from sound_separation.evaluation import evaluator  # pylint: disable=import-outside-toplevel
  list_path = _long_fuss_list(tmp_path, file_rate, 33.3)  # four 10 s chunks
  streaming_fn = chunked.ChunkedSeparation(_Filters())
  reads, stream = [], streaming_fn.stream

  def counting_stream(read, num_samples):
    return stream(lambda a, b: reads.append(b - a) or read(a, b), num_samples)
  streaming_fn.stream = counting_stream
  streamed, _ = evaluator.score_examples(streaming_fn, list_path, "fuss", 8000)
  # The reference: the whole example read at once and scored by `score_example`.
  whole, _ = evaluator.score_examples(
      lambda w: chunked.separate_waveform(_Filters(), w), list_path, "fuss", 8000)
  assert max(reads) <= 80000  # the separator saw chunks, never the example
  assert streamed[0]["num_active_refs"] == 2 and streamed[0]["MSi"] is not None
  as_float = lambda v: np.array(v if isinstance(v, list) else [v], float)  # None -> nan
  for key, value in whole[0].items():
    if key in ("reference_power_db", "si_snr", "si_snr_mixture", "si_snri", "MSi", "1S"):
      np.testing.assert_allclose(as_float(streamed[0][key]), as_float(value), rtol=0,
                                 atol=1e-5, err_msg=key)
    else:
      assert streamed[0][key] == value, key


def test_a_streaming_separator_that_skips_samples_names_the_example(tmp_path):
  from sound_separation.evaluation import evaluator  # pylint: disable=import-outside-toplevel
  list_path = _long_fuss_list(tmp_path, 8000, 21.0)

  class Skipping(chunked.ChunkedSeparation):
    def stream(self, read, num_samples):
      for start, block in super().stream(read, num_samples):
        yield start, block[:, :-1]
  with pytest.raises(ValueError, match=r"mix\.wav"):
    evaluator.score_examples(Skipping(_Filters()), list_path, "fuss", 8000)
  # A source of another length is named before anything is separated.
  soundfile.write(str(tmp_path / "s1.wav"), np.zeros(8000, np.float32), 8000)
  with pytest.raises(examples_lib.ExampleError, match=r"s1\.wav"):
    evaluator.score_examples(chunked.ChunkedSeparation(_Filters()), list_path, "fuss", 8000)


def test_evaluation_peak_memory_does_not_grow_with_the_example(tmp_path):
  """A 40 s and a 400 s example evaluated in child processes: the peak grows by far less."""
  code = textwrap.dedent("""
      import io, sys
      import numpy as np, soundfile
      from sound_separation.evaluation import evaluator
      from sound_separation.inference import chunked
      seconds, folder = float(sys.argv[1]), sys.argv[2]
      rng = np.random.default_rng(0)
      files = [soundfile.SoundFile(f"{folder}/{n}.wav", "w", 8000, 1, "FLOAT")
               for n in ("mix", "s0", "s1")]
      for _ in range(int(seconds / 10)):
        s = (0.1 * rng.standard_normal((2, 80000))).astype(np.float32)
        for f, w in zip(files, [s.sum(0), s[0], s[1]]):
          f.write(w)
      for f in files:
        f.close()
      with open(f"{folder}/list.txt", "w") as f:
        f.write("mix.wav\\ts0.wav\\ts1.wav\\n")

      class Filters:
        sample_rate = 8000
        num_sources = 3
        description = "three filters"
        def __call__(self, batch):
          return np.stack([0.5 * batch, 0.5 * batch, np.roll(batch, 3, axis=1)], 1)

      summary = evaluator.evaluate(chunked.ChunkedSeparation(Filters()), f"{folder}/list.txt",
                                   "fuss", 8000, stream=io.StringIO())
      assert summary["num_examples"] == 1, summary
      with open("/proc/self/status") as f:
        print([l for l in f if l.startswith("VmHWM")][0].split()[1])
      """)
  peaks = {}
  for seconds in (40, 400):
    folder = tmp_path / f"e{seconds}"
    folder.mkdir()
    result = subprocess.run([sys.executable, "-c", code, str(seconds), str(folder)],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    peaks[seconds] = int(result.stdout.strip().splitlines()[-1]) * 1024
  # 360 s more at 8 kHz: three files 35 MB as float32, three outputs 35 MB,
  # float64 copies twice that. Scoring block by block holds none of it.
  assert peaks[400] - peaks[40] < 20e6, peaks


def test_a_job_counts_its_chunks_from_the_headers(tmp_path):
  paths = []
  for seconds in (5, 25):
    paths.append(str(tmp_path / f"{seconds}.wav"))
    soundfile.write(paths[-1], np.zeros(8000 * seconds, np.float32), 8000)
  (tmp_path / "bad.wav").write_bytes(b"not audio")
  # 5 s: one chunk; 25 s with 10 s chunks, 1 s overlap: starts 0, 9 and 15.
  assert chunked.job_chunks(paths + [str(tmp_path / "bad.wav")], 8000) == 1 + 3
  # At another model rate the header's seconds are what count.
  assert chunked.job_chunks(paths, 16000) == 4


def test_a_fixed_length_function_that_costs_nothing_is_used_from_the_first_chunk():
  model = _TimedSeparator(0.0)
  model.compiles_fixed_length = False  # as LiteRT's static chunk program
  job = chunked.JobChunks(model, num_chunks=2, chunk_seconds=10.0)
  x = np.random.default_rng(6).standard_normal(1000 * 10).astype(np.float32)
  chunked.separate_waveform(model, x, chunk_seconds=10.0, overlap_seconds=1.0, batch_size=2,
                             compiled=job)
  assert model.calls == ["compiled"] * 6
