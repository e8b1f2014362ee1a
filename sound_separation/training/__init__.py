"""Training: the training models, one run setup, the gin-configured loops.

- `training_model.TrainingModel`: the guarded train/test step every
  training model shares; `trainer.MixITTrainer` (the separator, with the
  weighted sum of its `loss_terms`, docs/losses.md#total-loss) and
  `classifier_trainer.ClassifierTrainer` subclass it.
- `loss_terms`: the terms a trainer sums (`MixIT`, `PIT`, `Sparsity`,
  `Covariance`, `Classification`, `CosineSimilarity`; `LossTerm` to add one).
- `loop.run_task`: the one training loop; `tasks` says what it trains (the
  separator, `loop.train`, or the classifier, `loop.train_classifier`);
  `run`: its setup (strategy, checkpoints, callbacks, fit).
- `optimizer`, `strategies`, `checkpoints`, `callbacks`; `keras_compat`
  holds every use of Keras/TensorFlow internals.
"""

from sound_separation.training.checkpoints import CheckpointSaver
from sound_separation.training.checkpoints import make_manager
from sound_separation.training.checkpoints import restore_or_initialize
from sound_separation.training.strategies import get_strategy
from sound_separation.training.run import TrainResult
from sound_separation.training.loop import run_task
from sound_separation.training.run import Schedule
from sound_separation.training.loop import train
from sound_separation.training.tasks import ClassifierTask
from sound_separation.training.tasks import SeparationTask
from sound_separation.training.tasks import Task
from sound_separation.training.trainer import MixITTrainer
from sound_separation.training.loss_terms import Classification
from sound_separation.training.loss_terms import CosineSimilarity
from sound_separation.training.loss_terms import Covariance
from sound_separation.training.loss_terms import LossTerm
from sound_separation.training.loss_terms import MixIT
from sound_separation.training.loss_terms import PIT
from sound_separation.training.loss_terms import Sparsity
from sound_separation.training.optimizer import default_optimizer
from sound_separation.training.classifier_trainer import ClassifierTrainer
from sound_separation.training.loop import train_classifier

__all__ = [
    "CheckpointSaver",
    "Classification",
    "ClassifierTask",
    "ClassifierTrainer",
    "CosineSimilarity",
    "Covariance",
    "default_optimizer",
    "get_strategy",
    "LossTerm",
    "make_manager",
    "MixIT",
    "MixITTrainer",
    "PIT",
    "restore_or_initialize",
    "run_task",
    "Schedule",
    "SeparationTask",
    "Sparsity",
    "Task",
    "train",
    "train_classifier",
    "TrainResult",
]
