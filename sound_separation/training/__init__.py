"""Training: `MixITTrainer`, the separator's Keras training model (SPEC 1.6),
the gin-configured loop `train`, strategy selection and checkpoints; the
classifier's pretraining (`ClassifierTrainer`, `train_classifier`)."""

from sound_separation.training.checkpoints import CheckpointSaver
from sound_separation.training.checkpoints import make_manager
from sound_separation.training.checkpoints import restore_or_initialize
from sound_separation.training.strategies import get_strategy
from sound_separation.training.loop import TrainResult
from sound_separation.training.loop import train
from sound_separation.training.trainer import MixITTrainer
from sound_separation.training.trainer import default_optimizer
from sound_separation.training.classifier_trainer import ClassifierTrainer
from sound_separation.training.classifier_loop import train_classifier
