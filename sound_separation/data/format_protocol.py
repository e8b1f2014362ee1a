"""What a data format offers (docs/formats.md#data-formats); no TensorFlow.

A data format is one kind of corpus file (a clip list, a FUSS list, a
records corpus, ...). `DataFormat` says what every format implements;
`formats` registers them and dispatches to them. A new format's module
imports only this one, so `formats` can import it and register it.
"""

import collections

from sound_separation.data import lists

# One listed example as the evaluator reads it.
#   name: the path that names it in messages (a records example: its source file).
#   source_paths: its source files, or None when it is not read from files
#     (the evaluator then cannot stream it).
#   num_sources: S, known before reading (a task checks it first).
#   read(): `(mixture float32 [T], sources float32 [S, T])` at the rate given
#     to `examples`; `audio.AudioReadError` / `examples.ExampleError` name a
#     bad file.
Example = collections.namedtuple("Example", "name source_paths num_sources read")


class DataFormat:
  """How one kind of corpus file is recognised, counted, read and batched.

  Subclass it, set `name` (and `has_sources`, `has_labels`), implement the
  methods below, and `register` an instance.

  Attributes:
    name: what gin files and flags call it (`unsupervised_format = 'fuss'`).
    has_sources: its examples carry reference sources (evaluation and PIT
      need them).
    has_labels: `dataset` can emit weak labels given a vocabulary.
  """

  name = None
  has_sources = False
  has_labels = False

  def recognises(self, path):
    """Whether `path` is a file of this format (from its name; cheap)."""
    raise NotImplementedError

  def count(self, path):
    """The number of examples `path` holds."""
    raise NotImplementedError

  def files(self, path):
    """`[(mixture_path, [source_path, ...]), ...]` in order, or None if not files."""
    raise NotImplementedError

  def examples(self, path, sample_rate):
    """The examples of `path` in order, as `Example`s read at `sample_rate` Hz."""
    raise NotImplementedError(f"format {self.name!r} has no examples to evaluate")

  def dataset(self, path, batch_size, *, clip_seconds, sample_rate, shuffle, repeat, seed,
              vocabulary=None, max_sources=lists.MAX_FUSS_SOURCES, on_error="raise",
              skip_counter=None, backend="auto", start_example=0, shard=(1, 0)):
    """A `tf.data.Dataset` of batches of `path` (arguments as `pipelines.clip_dataset`).

    Returns:
      Batches `{'mixtures': float32 [batch_size, T]}`, plus `'sources'`
      `[batch_size, max_sources, T]` if `has_sources` and `'labels'`
      `[batch_size, K]` given a vocabulary. Static shapes.
    """
    raise NotImplementedError

  def __repr__(self):
    return f"<data format {self.name!r}>"


