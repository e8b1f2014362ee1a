"""`sound-separation export`: a run's separator as a SavedModel (and TFLite).

The SavedModel's `serve` function (also its `serving_default` signature)
takes float32 `[batch, samples]` of any length and returns float32
`[batch, M, samples]`: `separate`'s chunked separation in the graph
(`models.serving.chunked_function`: 10 s chunks through one program with the
TDCN++ middles compiled by XLA, matched and cross-faded; inputs shorter than
a chunk run whole), so every length runs without compiling anew;
`serve_chunk` takes `[batch, chunk_samples]` only, one chunk;
`serve_unchunked` runs any input whole with plain ops (what TFLite converts).
All load with plain `tf.saved_model.load` in a process without this library:

    separated = tf.saved_model.load(path).serve(waveforms)

`assets.extra/sound_separation.json` records the sample rate, M and
`chunk_samples`. TFLite converts `serve` (XLA calls do not convert).

`export_litert` writes a LiteRT model folder instead (`inference.litert`):
the separator for static `[1, chunk_samples]` inputs and for `[1, T]` of any
length, weights frozen into constants, for LiteRT's interpreter in a process
without TensorFlow.
"""

import json
import os

import keras
import tensorflow as tf

from sound_separation import filesystem
from sound_separation.inference import litert
from sound_separation.inference import separator as separator_lib
from sound_separation.models import folders
from sound_separation.models import serving
from sound_separation.training import keras_compat


def export_saved_model(model_dir, out, checkpoint=None, tflite=False, chunk_seconds=10.0,
                       overlap_seconds=1.0):
  """Exports a model folder's separator.

  Args:
    model_dir: a training run's folder or an imported model folder.
    out: the SavedModel folder to write (must not exist, or be empty).
    checkpoint: a checkpoint prefix to export instead of the latest.
    tflite: also write `<out>/model.tflite` (a TFLite flatbuffer of `serve`,
      any batch and length).
    chunk_seconds: the chunk length of `serve` and the input length of
      `serve_chunk` (None: `serve` runs the whole input at once, plain ops,
      and there is no `serve_chunk`).
    overlap_seconds: the least overlap of `serve`'s chunks (as `separate`'s).

  Returns:
    dict: `saved_model`, `tflite` (path or None), `sample_rate`,
    `num_sources`, `checkpoint`.
  """
  out = os.fspath(out)
  if filesystem.exists(out) and filesystem.listdir(out):
    raise FileExistsError(f"--out_dir {out!r} exists and is not empty")
  separator, sample_rate, read = folders.load_keras_separator(model_dir, checkpoint)
  archive = keras.export.ExportArchive()
  archive.track(separator)
  # The first endpoint is also `serving_default`. The XLA choice is made
  # inside the traced functions: the archive traces its endpoints again when
  # it writes them, outside any context set around `add_endpoint`.
  chunk_samples = overlap_samples = None
  if chunk_seconds is not None:
    chunk_samples = int(round(chunk_seconds * sample_rate))
    overlap_samples = int(round(overlap_seconds * sample_rate))
    # `separate`'s chunked separation, in the graph: every chunk through one
    # program compiled for [1, chunk_samples], so no length compiles anew.
    archive.add_endpoint("serve", serving.chunked_function(separator, chunk_samples,
                                                           overlap_samples),
                         input_signature=[tf.TensorSpec([None, None], tf.float32,
                                                        name="waveforms")])
    archive.add_endpoint("serve_chunk", serving.inference_call(separator, True), input_signature=[
        tf.TensorSpec([None, chunk_samples], tf.float32, name="waveforms")])
  # The whole input at once, plain ops: what TFLite converts (it cannot hold
  # XLA calls), and `serve` itself when no chunk length is given.
  archive.add_endpoint("serve_unchunked" if chunk_seconds is not None else "serve",
                       serving.inference_call(separator, False), input_signature=[
                           tf.TensorSpec([None, None], tf.float32, name="waveforms")])
  archive.write_out(out, verbose=False)
  info = {"sample_rate": sample_rate, "num_sources": separator.num_sources,
          "chunk_samples": chunk_samples, "overlap_samples": overlap_samples,
          "model_dir": os.path.abspath(model_dir),
          "checkpoint": read}
  filesystem.makedirs(filesystem.join(out, os.path.dirname(separator_lib.SAVED_MODEL_INFO)))
  filesystem.write_text(filesystem.join(out, separator_lib.SAVED_MODEL_INFO),
                        json.dumps(info, indent=1) + "\n")
  result = dict(info, saved_model=out, tflite=None)
  if tflite:
    result["tflite"] = _write_tflite(out)
  return result


def _write_tflite(saved_model):
  signatures = tf.saved_model.load(saved_model).signatures
  key = "serve_unchunked" if "serve_unchunked" in signatures else "serving_default"
  converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=[key])
  flatbuffer = converter.convert()
  path = filesystem.join(saved_model, "model.tflite")
  filesystem.write_bytes(path, flatbuffer)
  return path


def export_litert(model_dir, out, checkpoint=None, chunk_seconds=10.0):
  """Writes a model folder's separator as a LiteRT model folder (`inference.litert`).

  Args:
    model_dir: a training run's folder or an imported model folder.
    out: the folder to write (must not exist, or be empty). `litert.json`
      is written last (each file renamed into place when complete), so a
      killed export leaves no folder that loads.
    checkpoint: a checkpoint prefix to export instead of the latest.
    chunk_seconds: the static input length of `chunk.tflite` (what
      `separate` cuts long inputs into; keep its default to use the fast
      program there).

  Returns:
    the `litert.json` dict.
  """
  out = os.fspath(out)
  if filesystem.exists(out) and filesystem.listdir(out):
    raise FileExistsError(f"--out_dir {out!r} exists and is not empty")
  separator, sample_rate, read = folders.load_keras_separator(model_dir, checkpoint)
  chunk_samples = int(round(chunk_seconds * sample_rate))
  if chunk_samples < 1:
    raise ValueError(f"chunk_seconds must give at least one sample, got {chunk_seconds!r}")
  programs = {litert.CHUNK_FILE: [1, chunk_samples], litert.ANY_LENGTH_FILE: [1, None]}
  info = {"format": litert.FORMAT, "version": litert.VERSION, "sample_rate": sample_rate,
          "num_sources": separator.num_sources, "chunk_samples": chunk_samples,
          "model_dir": os.fspath(model_dir), "checkpoint": read}
  filesystem.makedirs(out)
  for name, shape in programs.items():
    filesystem.write_bytes(filesystem.join(out, name), _tflite_flatbuffer(separator, shape))
  filesystem.write_text(filesystem.join(out, litert.INFO_FILE), json.dumps(info, indent=1) + "\n")
  return info


def _tflite_flatbuffer(separator, shape):
  """The separator's inference call for `shape` inputs as a TFLite flatbuffer, weights constant."""
  function = tf.function(serving.inference_call(separator, False),
                         input_signature=[tf.TensorSpec(shape, tf.float32, name="waveforms")])
  frozen = keras_compat.frozen(function.get_concrete_function())
  return tf.lite.TFLiteConverter.from_concrete_functions([frozen], separator).convert()
