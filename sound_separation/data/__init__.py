"""The runtime input path: audio files, list files, examples, pipelines, batches.

- `audio`: `read_audio`, `write_audio`, `resample`, `clip_samples` (the one
  clip-length rule), `AudioReadError`.
- `lists`: clip lists, FUSS lists and label vocabularies (read and write;
  no TensorFlow).
- `examples`: one listed FUSS example read and checked (`ExampleError`).
- `datasets`: `clip_dataset`, `fuss_dataset`, `training_dataset`,
  `validation_dataset` (tf.data pipelines).
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
    "clip_dataset": "datasets",
    "crop_or_pad": "datasets",
    "fuss_dataset": "datasets",
    "SkipCounter": "datasets",
    "training_dataset": "datasets",
    "validation_dataset": "datasets",
    "ExampleError": "examples",
    "read_fuss_example": "examples",
    "read_clip_list": "lists",
    "read_fuss_list": "lists",
    "read_label_vocabulary": "lists",
    "write_clip_list": "lists",
    "write_fuss_list": "lists",
    "write_label_vocabulary": "lists",
})
