"""`checks.integer`: the one wording of a bad integer argument."""

import numpy as np
import pytest

from sound_separation import checks


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_integers_at_or_above_the_minimum_pass_through(value):
  assert checks.integer("n", value) is value


@pytest.mark.parametrize("value, kwargs, message", [
    (0, {}, "n must be a positive integer, got 0."),
    (True, {}, "n must be a positive integer, got True."),
    (2.0, {}, "n must be a positive integer, got 2.0."),
    (None, {}, "n must be a positive integer, got None."),
    (-1, {"minimum": 0}, "n must be a non-negative integer, got -1."),
    (2, {"minimum": 3}, "n must be an integer >= 3, got 2."),
    ("4", {"allow_none": True, "hint": " (Hz)"}, "n must be None or a positive integer (Hz), "
                                                  "got '4'."),
])
def test_anything_else_is_refused_naming_the_argument(value, kwargs, message):
  with pytest.raises(ValueError) as error:
    checks.integer("n", value, **kwargs)
  assert str(error.value) == message


def test_none_passes_only_when_allowed():
  assert checks.integer("n", None, allow_none=True) is None
