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
"""

from sound_separation.data.audio import AudioReadError
from sound_separation.data.audio import read_audio
from sound_separation.data.audio import resample
from sound_separation.data.audio import tfio_available
from sound_separation.data.audio import write_audio
from sound_separation.data.batches import form_moms
from sound_separation.data.batches import supervised_moms
from sound_separation.data.batches import union_labels
from sound_separation.data.datasets import clip_dataset
from sound_separation.data.datasets import crop_or_pad
from sound_separation.data.datasets import fuss_dataset
from sound_separation.data.datasets import SkipCounter
from sound_separation.data.datasets import training_dataset
from sound_separation.data.datasets import validation_dataset
from sound_separation.data.examples import ExampleError
from sound_separation.data.examples import read_fuss_example
from sound_separation.data.lists import read_clip_list
from sound_separation.data.lists import read_fuss_list
from sound_separation.data.lists import read_label_vocabulary
from sound_separation.data.lists import write_clip_list
from sound_separation.data.lists import write_fuss_list
from sound_separation.data.lists import write_label_vocabulary
