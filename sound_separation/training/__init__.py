"""Training: the training models, one run setup, the gin-configured loops.

- `training_model.TrainingModel`: the guarded train/test step every
  training model shares; `trainer.MixITTrainer` (the separator, with the
  total loss of docs/losses.md#total-loss) and
  `classifier_trainer.ClassifierTrainer` subclass it.
- `run`: the run setup both loops share (strategy, checkpoints, callbacks,
  fit); `loop.train` and `classifier_loop.train_classifier` use it.
- `optimizer`, `strategies`, `checkpoints`, `callbacks`; `keras_compat`
  holds every use of Keras/TensorFlow internals.
"""

from sound_separation.training.checkpoints import CheckpointSaver
from sound_separation.training.checkpoints import make_manager
from sound_separation.training.checkpoints import restore_or_initialize
from sound_separation.training.strategies import get_strategy
from sound_separation.training.run import TrainResult
from sound_separation.training.loop import train
from sound_separation.training.trainer import MixITTrainer
from sound_separation.training.optimizer import default_optimizer
from sound_separation.training.classifier_trainer import ClassifierTrainer
from sound_separation.training.classifier_loop import train_classifier

__all__ = [
    "CheckpointSaver",
    "ClassifierTrainer",
    "default_optimizer",
    "get_strategy",
    "make_manager",
    "MixITTrainer",
    "restore_or_initialize",
    "train",
    "train_classifier",
    "TrainResult",
]
