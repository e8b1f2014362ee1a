"""A run's batches: MixIT mixtures beside supervised examples (docs/formats.md).

- `training_dataset` / `validation_dataset`: a run's batches in the format
  the trainer reads (`batches`): single mixtures for MixIT (paired into MoMs
  inside the step) beside supervised examples for PIT, each part batched by
  its data format (`formats`: clip lists, FUSS lists, records, or one you
  register).
- `pipeline_share`: what one of several input pipelines reads.

Every batch has static shapes, as XLA and TPUs need.
"""

import tensorflow as tf

from sound_separation import checks
from sound_separation import gin_utils
from sound_separation.data import batches
from sound_separation.data import formats
from sound_separation.data import lists


def _check_batch_size(name, value, list_name, list_path):
  checks.integer(name, value, minimum=0)
  if (value > 0) != (list_path is not None):
    raise ValueError(f"{name}={value} needs {list_name} to be set, and {list_name} a "
                     f"positive {name} (got {list_name}={list_path!r})")


def pipeline_share(batch_size, input_context=None):
  """What one input pipeline reads of a global batch: `(batch, per_step, shard)`.

  Args:
    batch_size: examples per global batch (over every replica).
    input_context: None (one pipeline feeding every replica), or the
      `tf.distribute.InputContext` of one of several pipelines.

  Returns:
    `batch`: the pipeline's batch (per replica under a context: Keras feeds
    each replica its own); `per_step`: the examples a global step takes
    from this pipeline (a resumed run starts at `step · per_step`); `shard`:
    `(n, i)`, the list indices `i mod n` it reads.
  """
  if input_context is None:
    return batch_size, batch_size, (1, 0)
  pipelines = input_context.num_input_pipelines
  return (input_context.get_per_replica_batch_size(batch_size),  # checks divisibility
          batch_size // pipelines, (pipelines, input_context.input_pipeline_id))


# The training loop passes these (they follow the run, not the configuration).
@gin_utils.configurable(denylist=["start_batch", "default_seed", "input_context"])
def training_dataset(batch_size=0, unsupervised_list=None, unsupervised_format="clips",
                     supervised_list=None, supervised_batch_size=0, supervised_as_moms=False,
                     vocabulary=None, clip_seconds=10.0, sample_rate=16000, shuffle=True,
                     repeat=True, seed=None, max_sources=lists.MAX_FUSS_SOURCES, on_error="raise",
                     skip_counter=None, backend="auto", start_batch=0, default_seed=None,
                     input_context=None):
  """Batches in the format `MixITTrainer` trains on, from a run's list files.

  Every batch joins `batch_size` single mixtures for MixIT (paired into MoMs
  inside the step) and `supervised_batch_size` examples with sources for PIT,
  so the supervised fraction of a batch is fixed and every shape is static.
  Under a distribution strategy each replica gets its share of both parts.

  Args:
    batch_size: single mixtures per batch from `unsupervised_list` (even,
      as they are paired into MoMs); 0 for none.
    unsupervised_list: the MixIT data: a clip list (`read_clip_list`) or,
      with `unsupervised_format='fuss'`, a FUSS list whose mixtures are used
      and whose sources are ignored.
    unsupervised_format: the name of a registered data format (`formats`):
      'clips', 'fuss' or 'records' (a records index, `<prefix>.index.json`
      of clips or FUSS examples) built in.
    supervised_list: a file of examples with sources, scored by PIT, in a
      format recognised by `formats.detect` (a FUSS list or FUSS records
      index built in); None for none.
    supervised_batch_size: FUSS examples per batch from `supervised_list`.
    supervised_as_moms: pair consecutive supervised examples into MoMs with
      their 2·max_sources sources (`supervised_moms`): the "MoMs" PIT
      baseline. `supervised_batch_size` must then be even.
    vocabulary: None, or class names / a vocabulary file: with a clip list,
      batches then carry the clips' weak labels.
    clip_seconds, sample_rate, shuffle, repeat, seed, max_sources, on_error,
      skip_counter, backend: as in `pipelines.clip_dataset` and
      `pipelines.fuss_dataset`
      (`seed` seeds the unsupervised stream, `seed + 1` the supervised one).
    start_batch: the batches already trained on: the streams start where a
      run that took them would be (an exact resume, docs/training.md).
    default_seed: the seed when `seed` is None (the loop derives one from
      the run folder, so a resumed run sees the same order).
    input_context: a `tf.distribute.InputContext` (from
      `strategy.distribute_datasets_from_function`): this pipeline reads only
      its share (list indices, or record shards, `i mod n`) and batches the
      per-replica sizes of `batch_size` and `supervised_batch_size`, which
      are global.

  Returns:
    A `tf.data.Dataset` of dicts: `'mixtures'` float32 `[batch_size, T]`
    (with `'labels'` `[batch_size, K]` given a vocabulary) when there is
    unsupervised data; `'supervised_mixtures'` `[Bs, T]` and
    `'supervised_sources'` `[Bs, S, T]` when there is supervised data, where
    `Bs, S` are `supervised_batch_size, max_sources`, or half and twice
    those with `supervised_as_moms`.
  """
  _check_batch_size("batch_size", batch_size, "unsupervised_list", unsupervised_list)
  _check_batch_size("supervised_batch_size", supervised_batch_size, "supervised_list",
                    supervised_list)
  if unsupervised_list is None and supervised_list is None:
    raise ValueError("training_dataset needs unsupervised_list, supervised_list or both")
  if batch_size % 2:
    raise ValueError(f"batch_size must be even (mixtures are paired into MoMs), got {batch_size}")
  if supervised_as_moms and supervised_batch_size % 2:
    raise ValueError(f"supervised_as_moms pairs examples: supervised_batch_size must be even, "
                     f"got {supervised_batch_size}")
  try:
    unsupervised = formats.get(unsupervised_format) if unsupervised_list is not None else None
  except ValueError as e:
    raise ValueError(f"unsupervised_format: {e}") from None
  if vocabulary is not None and (unsupervised is None or not unsupervised.has_labels):
    raise ValueError("vocabulary (weak labels) needs a clip list or clip records as "
                     "unsupervised_list")
  if seed is None:
    seed = default_seed
  batch_size, local_batch, shard = pipeline_share(batch_size, input_context)
  supervised_batch_size, local_supervised, _ = pipeline_share(supervised_batch_size,
                                                              input_context)
  if batch_size % 2:
    raise ValueError(f"the per-replica batch ({batch_size}) must be even: mixtures are "
                     f"paired into MoMs on each replica")
  common = dict(clip_seconds=clip_seconds, sample_rate=sample_rate, shuffle=shuffle,
                repeat=repeat, on_error=on_error, skip_counter=skip_counter, backend=backend,
                max_sources=max_sources, shard=shard)
  parts = []
  if unsupervised is not None:
    ds = unsupervised.dataset(unsupervised_list, batch_size, seed=seed, vocabulary=vocabulary,
                              start_example=start_batch * local_batch, **common)
    # MixIT reads the mixtures (and labels) only: a FUSS list's sources stay unused.
    parts.append(ds.map(lambda b: {k: v for k, v in b.items() if k != batches.SOURCES}))
  if supervised_list is not None:
    supervised = formats.detect(supervised_list, has_sources=True)
    ds = supervised.dataset(supervised_list, supervised_batch_size,
                            seed=None if seed is None else seed + 1,
                            start_example=start_batch * local_supervised, **common)
    if batches.SOURCES not in ds.element_spec:
      raise ValueError(f"supervised_list '{supervised_list}' ({supervised.name}) has no "
                       f"sources; PIT needs a mixture and its sources (a FUSS list)")
    if supervised_as_moms:
      ds = ds.map(batches.supervised_moms)
    parts.append(ds.map(lambda b: {batches.SUPERVISED_MIXTURES: b[batches.MIXTURES],
                                   batches.SUPERVISED_SOURCES: b[batches.SOURCES]}))
  if len(parts) == 1:
    return parts[0]
  return tf.data.Dataset.zip(tuple(parts)).map(lambda a, b: {**a, **b})


@gin_utils.configurable
def validation_dataset(batch_size=0, unsupervised_list=None, unsupervised_format="clips",
                       supervised_list=None, supervised_batch_size=0, supervised_as_moms=False,
                       clip_seconds=10.0, sample_rate=16000, max_sources=lists.MAX_FUSS_SOURCES,
                       backend="auto"):
  """A run's validation batches: `training_dataset` over validation lists.

  The lists are read once, in order, with crops at sample 0 and errors
  raised (never skipped), so every validation pass scores the same audio.
  Its own gin name keeps validation lists from silently inheriting the
  training lists' bindings. Arguments and batches as in `training_dataset`.
  """
  return training_dataset(
      batch_size=batch_size, unsupervised_list=unsupervised_list,
      unsupervised_format=unsupervised_format, supervised_list=supervised_list,
      supervised_batch_size=supervised_batch_size, supervised_as_moms=supervised_as_moms,
      clip_seconds=clip_seconds, sample_rate=sample_rate, shuffle=False, repeat=False,
      max_sources=max_sources, backend=backend)
