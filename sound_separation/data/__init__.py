"""Audio files and input pipelines (SPEC §5).

- `sound_separation.data.audio`: `read_audio`, `write_audio`, `resample`,
  `tfio_available`, `AudioReadError`.
- `sound_separation.data.datasets`: clip and FUSS list parsing and
  writing, `clip_dataset`, `fuss_dataset`, `form_moms`, `supervised_moms`,
  `training_dataset` (the trainer's batches).
- Corpus preparation (the `data_prep/` scripts use these): `corpus` (the
  on-disk layout; mixtures written as the exact sum of their sources),
  `mixing` (FUSS-style mixtures from labelled clips), `clips` (fixed-length
  clips from long recordings), `mom` (MoM evaluation sets), `public_lists`
  (YFCC100m, FUSS and LibriMix lists), `synthetic` (the demo corpus).
"""

from sound_separation.data.audio import AudioReadError
from sound_separation.data.audio import read_audio
from sound_separation.data.audio import resample
from sound_separation.data.audio import tfio_available
from sound_separation.data.audio import write_audio
from sound_separation.data.datasets import ExampleError
from sound_separation.data.datasets import SkipCounter
from sound_separation.data.datasets import clip_dataset
from sound_separation.data.datasets import crop_or_pad
from sound_separation.data.datasets import form_moms
from sound_separation.data.datasets import fuss_dataset
from sound_separation.data.datasets import read_clip_list
from sound_separation.data.datasets import read_fuss_list
from sound_separation.data.datasets import read_label_vocabulary
from sound_separation.data.datasets import supervised_moms
from sound_separation.data.datasets import training_dataset
from sound_separation.data.datasets import validation_dataset
from sound_separation.data.datasets import write_clip_list
from sound_separation.data.datasets import write_fuss_list
from sound_separation.data.datasets import write_label_vocabulary
