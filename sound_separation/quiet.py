"""Native libraries' notices kept off the user's terminal: file descriptor 2, filtered.

TensorFlow's import (absl's C++ logging) and LiteRT's interpreter (its CPU
delegate) write notices straight to file descriptor 2, below Python's
`sys.stderr`, where no logging setting reaches them. `filtered(call, keep)`
runs `call()` with descriptor 2 on a temporary file and writes back to
stderr the lines `keep(lines)` returns; if `call` raises, every line is
written back, since then the notices may be the explanation.
"""

import os
import sys
import tempfile


def filtered(call, keep):
  """`call()`, its descriptor-2 output passed back through `keep(lines) -> lines`."""
  sys.stderr.flush()
  saved = os.dup(2)
  failed = True
  with tempfile.TemporaryFile() as capture:
    os.dup2(capture.fileno(), 2)
    try:
      result = call()
      failed = False
      return result
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      capture.seek(0)
      lines = capture.read().decode("utf-8", "replace").splitlines()
      for line in (lines if failed else keep(lines)):
        print(line, file=sys.stderr)
