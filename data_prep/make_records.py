#!/usr/bin/env python3
r"""Turns a clip list or a FUSS list into sharded TFRecords for fast training input.

Example:
  python data_prep/make_records.py --clip_list wild/train_example_list.txt \
      --vocabulary wild/labels.txt --out_prefix records/wild_train --sample_rate 16000
  python data_prep/make_records.py --fuss_list fuss/train_example_list.txt \
      --out_prefix gs://bucket/fuss/train --num_shards 64

Writes <out_prefix>-00000-of-NNNNN.tfrecord ... and <out_prefix>.index.json
(shard names and counts, sample rate, vocabulary): 16-bit PCM at the model's
rate, a clip (+ its label indices) or a FUSS example (mixture, then its
sources) per record, round-robin over the shards. Train on them with
`training_dataset.unsupervised_list = '<out_prefix>.index.json'` and
`unsupervised_format = 'records'`. Paths may be on any TensorFlow
filesystem (gs://, ...). See sound_separation/corpus/records.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cli  # noqa: E402  pylint: disable=wrong-import-position

PROG = "make_records.py"


def parser():
  p = _cli.parser(PROG, __doc__)
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument("--clip_list", help="a clip list (<clip>[<TAB>labels] per line)")
  source.add_argument("--fuss_list", help="a FUSS list (mixture, then sources)")
  p.add_argument("--vocabulary", default=None,
                 help="with --clip_list: the class names file; labels are kept")
  p.add_argument("--out_prefix", required=True, help="path prefix of the shards and index")
  p.add_argument("--sample_rate", type=int, default=16000, help="the model's rate, Hz")
  p.add_argument("--num_shards", type=int, default=None,
                 help="default: one per --examples_per_shard examples")
  p.add_argument("--examples_per_shard", type=int, default=1000)
  return p


def main(argv=None):
  args = parser().parse_args(argv)

  def work():
    from sound_separation.corpus import records  # pylint: disable=import-outside-toplevel

    def progress(done, total):
      if done == total or done % 500 == 0:
        print(f"{done}/{total} examples", file=sys.stderr, flush=True)

    list_path, list_format = ((args.clip_list, "clips") if args.clip_list
                              else (args.fuss_list, "fuss"))
    files = records.write_records(list_path, args.out_prefix, list_format,
                                  sample_rate=args.sample_rate, num_shards=args.num_shards,
                                  examples_per_shard=args.examples_per_shard,
                                  vocabulary=args.vocabulary, progress=progress)
    print(f"{files.count} examples in {len(files.shards)} shards; wrote {files.index}")

  return _cli.run(PROG, work)


if __name__ == "__main__":
  sys.exit(main())
