"""Adaptation: fine-tune a separator on your own unlabeled recordings (docs/adapt.md).

- `recordings`: recordings -> training clips and a held-out set of mixtures
  of mixtures, split by recording, streamed.
- `fine_tuning`: `adapt(model, audio, out_dir, minutes=|steps=)`: the whole
  job, resumable: estimate, fine-tune, select by held-out MoMi, write the
  adapted model folder, its card and a before/after listening page.
"""

from sound_separation.adaptation.fine_tuning import AdaptError
from sound_separation.adaptation.fine_tuning import AdaptResult
from sound_separation.adaptation.fine_tuning import adapt
from sound_separation.adaptation.recordings import NotEnoughAudioError

__all__ = ["AdaptError", "AdaptResult", "NotEnoughAudioError", "adapt"]
