"""Studies: a grid of training runs, checkpoint selection, test metrics, a report.

`sound-separation study --config=FILE --out_dir=RUNS` (`runner.run_study`)
trains a MixIT baseline per number of outputs and fine-tunes it with each
loss arm and weight of the study file (`grid.Study`), selects checkpoints
and weights on a selection list (`selection`), tests them, and writes a
Table-1-shaped report with Figure 1 (`report`, `figure`). Killed studies
resume with the same command; finished runs are never retrained.
"""

from sound_separation.study.arms import all_arms
from sound_separation.study.grid import RunSpec
from sound_separation.study.grid import Study
from sound_separation.study.runner import run_study

__all__ = [
    "all_arms",
    "run_study",
    "RunSpec",
    "Study",
]
