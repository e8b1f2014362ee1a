"""The runtime input path: audio files, list files, examples, pipelines, batches.

- `audio`: `read_audio`, `write_audio`, `resample`, `clip_samples` (the one
  clip-length rule), `AudioReadError`.
- `lists`: clip lists, FUSS lists and label vocabularies (read and write;
  no TensorFlow).
- `examples`: one listed FUSS example read and checked (`ExampleError`).
- `formats`: the data formats (clip lists, FUSS lists, records; `register`
  adds one): how a corpus file is recognised, counted, read and batched.
- `pipelines`: the formats' tf.data readers, `clip_dataset`, `fuss_dataset`,
  `records_dataset`.
- `datasets`: a run's batches, `training_dataset`, `validation_dataset`.
- `batches`: the keys of a training batch, `form_moms` (mixtures of
  mixtures inside the training step), `supervised_moms`, `union_labels`.

Building corpora on disk (mixing, clips, MoM sets, public lists, the
synthetic demo corpus) is `sound_separation.corpus`.

Names are imported on first use (`sound_separation.lazy`): reading audio
needs no TensorFlow.
"""

from sound_separation import lazy

__getattr__, __dir__, __all__ = lazy.exports(__name__, {
    "AudioReadError": "audio",
    "read_audio": "audio",
    "resample": "audio",
    "tfio_available": "audio",
    "write_audio": "audio",
    "form_moms": "batches",
    "supervised_moms": "batches",
    "union_labels": "batches",
    "clip_dataset": "pipelines",
    "crop_or_pad": "pipelines",
    "fuss_dataset": "pipelines",
    "SkipCounter": "pipelines",
    "training_dataset": "datasets",
    "validation_dataset": "datasets",
    "DataFormat": "formats",
    "ExampleError": "examples",
    "read_fuss_example": "examples",
    "read_clip_list": "lists",
    "read_fuss_list": "lists",
    "read_label_vocabulary": "lists",
    "write_clip_list": "lists",
    "write_fuss_list": "lists",
    "write_label_vocabulary": "lists",
})
