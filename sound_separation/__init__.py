"""Unsupervised universal sound separation with mixture invariant training.

Keras 3 layers and TensorFlow losses for "Sparse, Efficient, and Semantic Mixture
Invariant Training" (Wisdom et al., WASPAA 2021). Subpackages, in the order
they may import one another (each only earlier ones; docs/architecture.md):

- `filesystem`: paths on any TensorFlow filesystem (local, `gs://`, ...).
- `layers`: encoder, decoder, TDCN++, mixture consistency, classifier blocks.
- `losses`: every loss of the paper as a callable on tensors (`mixit`,
  `pit`, signal losses, sparsity, covariance, classification).
- `models`: `SeparationModel`, `SoundClassifier`, the model-folder format
  (`models.folders`), the TF1 checkpoint import.
- `pretrained`: the separator that ships with the library.
- `data`: audio, list files, input pipelines, training batches.
- `corpus`: building corpora on disk (`sound-separation prepare`'s library).
- `evaluation`: the paper's metrics and the evaluator.
- `training`: the training models, one run setup, the loops.
- `inference`: loading, separating files, export.
- `study`: grids of training runs and their report.
- `adapt`: fine-tuning a separator on a user's unlabeled recordings.
- `demo`, `cli`: `sound-separation demo` and the command line.

What users reach for first is here, imported on first use (so that the
command line and `separate` with LiteRT stay light):

    import sound_separation as ss
    separator = ss.load_model()                  # the shipped model
    sources = ss.separate_waveform(separator, waveform)   # float32 [M, T]
"""

from sound_separation import _tf_check
from sound_separation import lazy

_tf_check.check_tensorflow()

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy.exports(__name__, {
    # Separating audio.
    "load_model": "inference.separator",
    "separate_waveform": "inference.chunked",
    "separate_file": "inference.separate",
    "read_audio": "data.audio",
    "write_audio": "data.audio",
    # Models and the paper's losses.
    "SeparationModel": "models.separation_model",
    "SoundClassifier": "models.classifier",
    "mixit": "losses.mixture_invariant",
    "pit": "losses.permutation_invariant",
    # Training, evaluation, export.
    "train": "training.loop",
    "evaluate": "inference.chunked",
    "export_saved_model": "inference.export",
    "export_litert": "inference.export",
    # Adapting a separator to your own recordings.
    "adapt": "adaptation.fine_tuning",
})
