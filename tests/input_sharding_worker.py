"""One worker of a 2-worker `MultiWorkerMirroredStrategy` reading a list per host.

Run by `tests/test_input_sharding.py` with TF_CONFIG set:

  python input_sharding_worker.py LIST OUT_DIR FORMAT

Builds the training input as the training loop does under a multi-worker
strategy (`run.input_data`: `distribute_datasets_from_function`, one
pipeline per host), iterates one epoch, and writes the indices of the
examples this worker read (each clip is a constant whose value encodes its
index) to OUT_DIR/worker<task index>.json.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(list_path, out_dir, data_format):
  import numpy as np
  import tensorflow as tf

  from sound_separation.data import datasets

  strategy = tf.distribute.MultiWorkerMirroredStrategy()

  def make(context):
    return datasets.training_dataset(
        batch_size=4, unsupervised_list=list_path, unsupervised_format=data_format,
        clip_seconds=0.01, sample_rate=16000, shuffle=True, repeat=False, seed=3,
        input_context=context)

  seen = []
  for batch in strategy.distribute_datasets_from_function(make):
    for local in strategy.experimental_local_results(batch["mixtures"]):
      seen += [int(round(float(x) * 1000)) for x in np.asarray(local)[:, 0]]
  task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
  with open(os.path.join(out_dir, f"worker{task}.json"), "w", encoding="utf-8") as f:
    json.dump({"seen": seen, "replicas": strategy.num_replicas_in_sync}, f)


if __name__ == "__main__":
  main(*sys.argv[1:])
