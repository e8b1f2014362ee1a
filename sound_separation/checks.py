"""Argument checks the whole package shares: one wording for one mistake."""

import numbers


def integer(name, value, *, minimum=1, allow_none=False, hint=""):
  """`value` if it is an integer >= `minimum` (a NumPy one too; a bool is not), or None when allowed.

  Args:
    name: the argument's name, as the caller's user would write it.
    value: the value to check.
    minimum: the least value allowed (1: "a positive integer", 0: "a
      non-negative integer").
    allow_none: None is allowed too.
    hint: appended to the kind in the message, e.g. " (gin: train.num_steps)".

  Returns:
    `value`.

  Raises:
    ValueError: `<name> must be [None or ]a positive integer<hint>, got <value>.`
  """
  if allow_none and value is None:
    return value
  if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
    kind = {1: "a positive integer", 0: "a non-negative integer"}.get(
        minimum, f"an integer >= {minimum}")
    raise ValueError(f"{name} must be {'None or ' if allow_none else ''}{kind}{hint}, "
                     f"got {value!r}.")
  return value
