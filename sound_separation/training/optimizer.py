"""The separator's optimizer: the paper's recipe (docs/training.md#optimizer)."""

import keras

from sound_separation import gin_utils


@gin_utils.configurable
def default_optimizer(learning_rate=1e-4, decay_steps=2_000_000,
                      decay_rate=0.5, clipnorm=None):
  """Adam with a staircase exponential decay: the paper's recipe (docs/training.md#optimizer).

  With the defaults the learning rate is 1e-4, halved every 2M steps, as in
  the original training code.

  Args:
    learning_rate: initial learning rate.
    decay_steps: steps between decays.
    decay_rate: factor applied every `decay_steps` steps.
    clipnorm: if set, each gradient is clipped to this norm.

  Returns:
    A `keras.optimizers.Adam`.
  """
  if decay_steps <= 0:
    raise ValueError(f"decay_steps must be positive, got {decay_steps!r}.")
  schedule = keras.optimizers.schedules.ExponentialDecay(
      learning_rate, decay_steps=decay_steps, decay_rate=decay_rate,
      staircase=True)
  return keras.optimizers.Adam(learning_rate=schedule, clipnorm=clipnorm)

