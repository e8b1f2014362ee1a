"""The separator's optimizer: the paper's recipe (docs/training.md#optimizer)."""

import keras

from sound_separation import gin_utils


@gin_utils.configurable
def default_optimizer(learning_rate=1e-4, decay_steps=2_000_000,
                      decay_rate=0.5, clipnorm=None, ema_momentum=None):
  """Adam with a staircase exponential decay: the paper's recipe (docs/training.md#optimizer).

  With the defaults the learning rate is 1e-4, halved every 2M steps, as in
  the original training code.

  Args:
    learning_rate: initial learning rate.
    decay_steps: steps between decays.
    decay_rate: factor applied every `decay_steps` steps.
    clipnorm: if set, each gradient is clipped to this norm.
    ema_momentum: None, or keep an exponential moving average of the
      weights, `a ← m·a + (1 − m)·w` after every step (`a = w` after the
      first): Keras' own (`use_ema`). The run then also checkpoints the
      averaged separator (`checkpoints.AveragedSaver`), which the study and
      `adapt` select from (docs/training.md#averaged-weights). Training
      itself uses the raw weights.

  Returns:
    A `keras.optimizers.Adam`.
  """
  if decay_steps <= 0:
    raise ValueError(f"decay_steps must be positive, got {decay_steps!r}.")
  if ema_momentum is not None and not 0.0 <= ema_momentum < 1.0:
    raise ValueError(f"ema_momentum must be None or in [0, 1), got {ema_momentum!r}.")
  schedule = keras.optimizers.schedules.ExponentialDecay(
      learning_rate, decay_steps=decay_steps, decay_rate=decay_rate,
      staircase=True)
  if ema_momentum is None:
    return keras.optimizers.Adam(learning_rate=schedule, clipnorm=clipnorm)
  # ema_overwrite_frequency=None: the weights are never replaced by their
  # average while training (Keras does so only when `fit` returns).
  return keras.optimizers.Adam(learning_rate=schedule, clipnorm=clipnorm, use_ema=True,
                               ema_momentum=float(ema_momentum), ema_overwrite_frequency=None)

