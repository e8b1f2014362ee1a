"""A blind round: its grid fixed in a commit before any test number (docs/study.md#blind-rounds).

A study with `Study.blind = True` has a protocol, `<results_dir>/protocol.json`,
written just before the round's first test evaluation:

- `commit`: the last commit that changed the study file, whose committed
  content must be the file as it is (a study file with uncommitted changes
  cannot start testing: the grid, seeds and shipping rule must be on record
  first), and `study_file_blob`, the file's git blob hash;
- `runs`: every run of the grid at that moment.

A run the grid gains later was chosen knowing some test results: it is
*post hoc*. Its result says so (`"protocol": {"post_hoc": true}`), the
report labels it, and it never ships (`claims.ship` passes over it,
`tools/ship_model.py` refuses it): it belongs to a new round.
"""

import json
import os
import subprocess
import time

from sound_separation import filesystem
from sound_separation import run_folder

PROTOCOL_FILE = "protocol.json"
# A round that trains a model for shipping beside its study writes which of
# the two ships here, in the round's folder (tools/round3_production.py
# --decide_shipping); tools/ship_model.py holds to it.
SHIPPING_FILE = "shipping.json"


class ProtocolError(RuntimeError):
  """The round's protocol cannot be fixed (the message says what to do)."""


def _git(folder, *args):
  try:
    return subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True,
                          check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError) as e:
    detail = getattr(e, "stderr", "") or str(e)
    raise ProtocolError(f"git {' '.join(args)} failed in {folder}: {detail.strip()}") from None


def study_commit(study_file):
  """`(commit, blob)` of a study file committed as it is; ProtocolError otherwise."""
  study_file = os.path.abspath(study_file)
  folder, name = os.path.split(study_file)
  try:
    commit = _git(folder, "log", "-1", "--format=%H", "--", name)
  except ProtocolError:  # e.g. a repository without a commit yet
    commit = ""
  if not commit:
    raise ProtocolError(f"{study_file} is not committed: commit the round's grid, seeds and "
                        f"shipping rule before its first test evaluation")
  if _git(folder, "status", "--porcelain", "--", name):
    raise ProtocolError(f"{study_file} has uncommitted changes: commit them before the "
                        f"round's first test evaluation (a change after it is a new round)")
  return commit, _git(folder, "hash-object", name)


def path(results_dir):
  return os.path.join(results_dir, PROTOCOL_FILE)


def read(results_dir):
  """The round's protocol dict, or None before its first test evaluation."""
  file = path(results_dir)
  return json.loads(filesystem.read_text(file)) if filesystem.exists(file) else None


def fix(results_dir, study_file, run_names):
  """The round's protocol: read, or written now from the committed study file and grid."""
  record = read(results_dir)
  if record is not None:
    return record
  commit, blob = study_commit(study_file)
  record = {"commit": commit, "study_file": os.path.basename(study_file),
            "study_file_blob": blob, "runs": sorted(run_names),
            "fixed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
  run_folder.write_json(path(results_dir), record)
  return record


def is_post_hoc(record, name):
  """Whether run `name` joined the grid after the protocol was fixed."""
  return record is not None and name not in record["runs"]


def stamp(record, name):
  """What a run's result records of the protocol."""
  return {"commit": record["commit"], "post_hoc": is_post_hoc(record, name)}
