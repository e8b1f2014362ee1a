"""Models composed from `sound_separation.layers`: the separator and the classifier."""

from sound_separation.models.separation_model import SeparationModel
from sound_separation.models.classifier import SoundClassifier
from sound_separation.models.folders import load_classifier
from sound_separation.models.folders import load_keras_separator
from sound_separation.models.folders import save_separator

__all__ = [
    "load_classifier",
    "load_keras_separator",
    "save_separator",
    "SeparationModel",
    "SoundClassifier",
]
