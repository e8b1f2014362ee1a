#!/usr/bin/env python
"""The lists of the small-scale WASPAA 2021 study, made from a development corpus.

The study (`sound-separation study`, `results/waspaa2021_small/`) trains on the
corpus's in-the-wild clips and needs three held-out lists that share no
source file with them:

- `selection_list.txt`: the even-numbered half of `fuss_like/validation`
  (100 mixtures), on which checkpoints and loss weights are selected;
- `test_list.txt`: the odd-numbered half plus `--num_extra` further FUSS-style
  mixtures made from the corpus's *validation* split with another seed (the
  corpus's own `make_mixtures.py --mode fuss --split validation`);
- `test_mom_list.txt`: mixtures of pairs of test mixtures, for MoMi.

The training clips (`wild/train`) draw on the corpus's train split, so
mixtures of that split are never used for testing.

Usage:
  python tools/prepare_study_data.py --corpus DEV --corpus_tools DEV_TOOLS \
      [--out_dir DEV/study] [--num_extra 300] [--seed 203]
  python tools/prepare_study_data.py --round 2 --corpus DEV --corpus_tools DEV_TOOLS \
      [--out_dir DEV/study2] [--num_test 400] [--seed 303]
  python tools/prepare_study_data.py --round 3 --corpus DEV --corpus_tools DEV_TOOLS \
      [--wild_n 2880] [--record_dir DIR]

`--round 2` writes the second round's lists (results/waspaa2021_round2/):

- `selection_list.txt`: the same even half of `fuss_like/validation` as round 1;
- `test/test_example_list.txt`: `--num_test` FUSS-style mixtures made by the
  corpus's `make_mixtures.py` from a copy of its manifest that holds only
  validation-split files used by no selection mixture (`manifest_test.csv`),
  so that no test mixture shares a recorded file with a selection mixture
  or a training clip; `independence.json` records the check
  (`sound_separation.study.independence`) on the lists' `origin` columns,
  and with `--record_dir` the committed record (each list's hash and source
  files) that `sound-separation study --check_independence` re-checks;
- `mom/test_mom_list.txt`: MoMs of pairs of those test mixtures;
- `train_clip_list.txt`: the wild training clips with their weak labels (the
  semantic arms read the labels; the other arms ignore them), and
  `labels.txt`, the class names;
- `classifier/{train,validation}_clip_list.txt`: the classifier's
  pretraining data: the labelled wild clips and every source of
  `fuss_like/train` with its label; validation: the sources of
  `fuss_like/validation`.

`--round 3` keeps round 2's selection and test lists (DEV/study2, made first)
and writes a larger training list for the model trained for shipping
(results/waspaa2021_round3/README.md): `--wild_n` in-the-wild mixtures of
the corpus's *train* split made by its `make_mixtures.py` with the corpus's
own seed (101) into `DEV/wild_<N>/` (its first 720 are the corpus's own),
`study3/train_clip_list.txt` with their weak labels (round 2's class names),
and the independence check of those clips' source files against the round-2
test and selection lists (`study3/independence.json`; with `--record_dir`,
the committed record).

`DEV` is the folder `make_dev_corpus.sh` wrote; `DEV_TOOLS` the folder of its
scripts (it holds `make_mixtures.py`). Re-running rewrites the same lists and
reuses the extra mixtures when they are there.
"""

import argparse
import os
import subprocess
import sys



from sound_separation.corpus import mom_sets  # noqa: E402  pylint: disable=wrong-import-position
from sound_separation.data import lists  # noqa: E402  pylint: disable=wrong-import-position
from sound_separation.study import independence  # noqa: E402  pylint: disable=wrong-import-position


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--corpus", required=True, help="the development corpus folder")
  parser.add_argument("--corpus_tools", required=True,
                      help="the folder of the corpus's scripts (make_mixtures.py)")
  parser.add_argument("--round", type=int, default=1, choices=(1, 2, 3))
  parser.add_argument("--wild_n", type=int, default=2880,
                      help="round 3: in-the-wild training mixtures to make")
  parser.add_argument("--out_dir", default=None, help="default: CORPUS/study (round 2: study2)")
  parser.add_argument("--num_extra", type=int, default=300)
  parser.add_argument("--num_test", type=int, default=400, help="round 2: test mixtures")
  parser.add_argument("--seed", type=int, default=None, help="default 203 (round 2: 303)")
  parser.add_argument("--record_dir", default=None,
                      help="round 2: also write the committed independence record "
                           "(RECORD_DIR/independence/: each list's hash and source files; "
                           "'sound-separation study --check_independence' re-checks it)")
  parser.add_argument("--corpus_python", default=None,
                      help="the Python that runs make_mixtures.py (it needs g722); default: "
                           "CORPUS/venv/bin/python where make_dev_corpus.sh made one, else this one")
  args = parser.parse_args(argv)
  corpus = os.path.abspath(args.corpus)
  for required in ("manifest.csv", os.path.join("data", "x")):
    if not os.path.exists(os.path.join(corpus, required)):
      raise SystemExit(f"{os.path.join(corpus, required)} is missing: is {corpus} a corpus "
                       f"folder written by make_dev_corpus.sh?")
  python = args.corpus_python or os.path.join(corpus, "venv", "bin", "python")
  if not os.path.exists(python):
    python = sys.executable
  if args.round == 3:
    return prepare_round3(corpus, args.corpus_tools, python, args.wild_n, args.record_dir)
  if args.round == 2:
    return prepare_round2(corpus, os.path.abspath(args.out_dir or os.path.join(corpus, "study2")),
                          args.corpus_tools, python, args.num_test,
                          303 if args.seed is None else args.seed, args.record_dir)
  seed = 203 if args.seed is None else args.seed
  out_dir = os.path.abspath(args.out_dir or os.path.join(corpus, "study"))
  validation = lists.read_fuss_list(
      os.path.join(corpus, "fuss_like", "validation_example_list.txt"))

  extra_dir = os.path.join(out_dir, "extra")
  extra_list = os.path.join(extra_dir, "validation_example_list.txt")
  if not os.path.exists(extra_list):
    subprocess.run([python, os.path.join(args.corpus_tools, "make_mixtures.py"),
                    os.path.join(corpus, "manifest.csv"), os.path.join(corpus, "data", "x"),
                    extra_dir, "--mode", "fuss", "--split", "validation",
                    "--n", str(args.num_extra), "--seed", str(seed)], check=True)
  extra = lists.read_fuss_list(extra_list)
  if len(extra) != args.num_extra:
    raise SystemExit(f"{extra_list} holds {len(extra)} mixtures, not --num_extra="
                     f"{args.num_extra}; delete {extra_dir} to remake it")

  selection = validation[0::2]
  test = validation[1::2] + extra
  lists.write_fuss_list(os.path.join(out_dir, "selection_list.txt"), selection)
  test_list = lists.write_fuss_list(os.path.join(out_dir, "test_list.txt"), test)
  mom_sets.write_mom_set([m for m, _ in test], os.path.join(out_dir, "mom"), "test", seed=0)
  print(f"{out_dir}: selection_list.txt ({len(selection)} mixtures), test_list.txt "
        f"({len(test)}: {len(validation) - len(selection)} + {len(extra)} extra), "
        f"mom/test_mom_list.txt; test list {test_list}")


def _example_name(list_dir, mixture_path):
  """`validation/example00012` for `<list_dir>/validation/example00012.wav` (labels tables' key)."""
  return os.path.splitext(os.path.relpath(mixture_path, list_dir))[0]


def _source_labels(labels_path, list_path):
  """`[(source file, [label])]` of every source of a FUSS list, from its labels table."""
  import csv  # pylint: disable=import-outside-toplevel
  list_dir = os.path.dirname(list_path)
  with open(labels_path, encoding="utf-8") as f:
    table = {(row["example"], row["source"]): row["label"]
             for row in csv.DictReader(f, delimiter="\t")}
  labelled = []
  for mixture, sources in lists.read_fuss_list(list_path):
    example = _example_name(list_dir, mixture)
    for source in sources:
      name = os.path.basename(source)[:-len("_sound.wav")]
      labelled.append((source, [table[(example, name)]]))
  return labelled


def prepare_round2(corpus, out_dir, corpus_tools, python, num_test, seed, record_dir=None):
  """Writes the second round's lists (module docstring) and checks test independence."""
  import csv  # pylint: disable=import-outside-toplevel
  import json  # pylint: disable=import-outside-toplevel
  validation_list = os.path.join(corpus, "fuss_like", "validation_example_list.txt")
  validation_dir = os.path.dirname(validation_list)
  selection = lists.read_fuss_list(validation_list)[0::2]
  os.makedirs(out_dir, exist_ok=True)
  lists.write_fuss_list(os.path.join(out_dir, "selection_list.txt"), selection)
  selection_files = independence.origins(
      independence.labels_table(validation_list),
      [_example_name(validation_dir, m) for m, _ in selection])
  wild_list = os.path.join(corpus, "wild", "train_example_list.txt")
  train_files = independence.origins(os.path.join(corpus, "wild", "train_labels.tsv"))

  # The test mixtures' material: validation-split files no selection mixture uses.
  manifest = os.path.join(out_dir, "manifest_test.csv")
  with open(os.path.join(corpus, "manifest.csv"), encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f))
  kept = [r for r in rows if r["split"] == "validation" and r["path"] not in selection_files]
  with open(manifest + ".partial", "w", encoding="utf-8", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(kept)
  os.replace(manifest + ".partial", manifest)
  test_dir = os.path.join(out_dir, "test")
  test_list = os.path.join(test_dir, "test_example_list.txt")
  if not os.path.exists(test_list):
    subprocess.run([python, os.path.join(corpus_tools, "make_mixtures.py"), manifest,
                    os.path.join(corpus, "data", "x"), test_dir, "--mode", "fuss",
                    "--split", "validation", "--out-split", "test", "--n", str(num_test),
                    "--seed", str(seed)], check=True)
  test = lists.read_fuss_list(test_list)
  if len(test) != num_test:
    raise SystemExit(f"{test_list} holds {len(test)} mixtures, not --num_test={num_test}; "
                     f"delete {test_dir} to remake it")
  test_files = independence.origins(independence.labels_table(test_list))
  counts = independence.check_disjoint(
      {"test": test_files, "selection": selection_files, "train (wild clips)": train_files})
  mom_sets.write_mom_set([m for m, _ in test], os.path.join(out_dir, "mom"), "test", seed=0)

  # Weak labels: the separator's training clips and the classifier's data.
  wild_dir = os.path.dirname(wild_list)
  weak = _weak_labels(wild_dir)
  wild = [(m, weak[os.path.relpath(m, wild_dir)]) for m in lists.read_clip_list(wild_list)[0]]
  classifier_train = wild + _source_labels(
      os.path.join(corpus, "fuss_like", "train_labels.tsv"),
      os.path.join(corpus, "fuss_like", "train_example_list.txt"))
  classifier_validation = _source_labels(independence.labels_table(validation_list),
                                         validation_list)
  vocabulary = sorted({name for _, names in classifier_train + classifier_validation
                       for name in names})
  with open(os.path.join(out_dir, "labels.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(vocabulary) + "\n")
  lists.write_clip_list(os.path.join(out_dir, "train_clip_list.txt"), wild, vocabulary)
  lists.write_clip_list(os.path.join(out_dir, "classifier", "train_clip_list.txt"),
                        classifier_train, vocabulary)
  lists.write_clip_list(os.path.join(out_dir, "classifier", "validation_clip_list.txt"),
                        classifier_validation, vocabulary)
  if record_dir:
    independence.write_record(record_dir, {
        "test": (test_list, test_files),
        "selection": (os.path.join(out_dir, "selection_list.txt"), selection_files),
        "train (wild clips)": (wild_list, train_files)})
  record = {"test_mixtures": len(test), "selection_mixtures": len(selection),
            "source_files": counts, "shared_files": 0,
            "checked": "origin columns of the lists' labels tables "
                       "(sound_separation.study.independence.check_disjoint)",
            "test_manifest_files": len(kept), "seed": seed}
  with open(os.path.join(out_dir, "independence.json"), "w", encoding="utf-8") as f:
    json.dump(record, f, indent=1, sort_keys=True)
  print(f"{out_dir}: selection_list.txt ({len(selection)}), test/test_example_list.txt "
        f"({len(test)} mixtures from {len(kept)} unused validation files; source files "
        f"{counts}, none shared), mom/test_mom_list.txt, train_clip_list.txt "
        f"({len(wild)} labelled clips, {len(vocabulary)} classes), classifier lists "
        f"({len(classifier_train)} train, {len(classifier_validation)} validation clips)")
  return record


def _weak_labels(wild_dir):
  """`{clip path relative to the wild folder: [label]}` from its weak-labels table."""
  import csv  # pylint: disable=import-outside-toplevel
  with open(os.path.join(wild_dir, "train_weak_labels.tsv"), encoding="utf-8") as f:
    return {row["clip"]: row["labels"].split(",") for row in csv.DictReader(f, delimiter="\t")}


def prepare_round3(corpus, corpus_tools, python, wild_n, record_dir=None):
  """Writes round 3's training list of `wild_n` clips (module docstring); checks independence."""
  import json  # pylint: disable=import-outside-toplevel
  study2 = os.path.join(corpus, "study2")
  for name in ("selection_list.txt", os.path.join("test", "test_example_list.txt"), "labels.txt"):
    if not os.path.exists(os.path.join(study2, name)):
      raise SystemExit(f"{os.path.join(study2, name)} is missing: make round 2's lists first "
                       f"(--round 2)")
  if wild_n < 1:
    raise SystemExit(f"--wild_n must be >= 1, got {wild_n}")
  wild_dir = os.path.join(corpus, f"wild_{wild_n}")
  wild_list = os.path.join(wild_dir, "train_example_list.txt")
  if not os.path.exists(wild_list):
    subprocess.run([python, os.path.join(corpus_tools, "make_mixtures.py"),
                    os.path.join(corpus, "manifest.csv"), os.path.join(corpus, "data", "x"),
                    wild_dir, "--mode", "wild", "--split", "train", "--n", str(wild_n),
                    "--seed", "101"], check=True)
  clips = lists.read_clip_list(wild_list)[0]
  if len(clips) != wild_n:
    raise SystemExit(f"{wild_list} holds {len(clips)} clips, not --wild_n={wild_n}; delete "
                     f"{wild_dir} to remake it")
  with open(os.path.join(study2, "labels.txt"), encoding="utf-8") as f:
    vocabulary = [line.strip() for line in f if line.strip()]
  weak = _weak_labels(wild_dir)
  labelled = [(m, weak[os.path.relpath(m, wild_dir)]) for m in clips]
  unknown = sorted({n for _, names in labelled for n in names} - set(vocabulary))
  if unknown:
    raise SystemExit(f"{wild_dir}: labels {unknown} are not in round 2's "
                     f"{os.path.join(study2, 'labels.txt')}")
  out_dir = os.path.join(corpus, "study3")
  train_list = lists.write_clip_list(os.path.join(out_dir, "train_clip_list.txt"), labelled,
                                     vocabulary)
  selection_list = os.path.join(study2, "selection_list.txt")
  validation_list = os.path.join(corpus, "fuss_like", "validation_example_list.txt")
  validation_dir = os.path.dirname(validation_list)
  selection_files = independence.origins(
      independence.labels_table(validation_list),
      [_example_name(validation_dir, m) for m, _ in lists.read_fuss_list(selection_list)])
  test_list = os.path.join(study2, "test", "test_example_list.txt")
  test_files = independence.origins(independence.labels_table(test_list))
  train_files = independence.origins(os.path.join(wild_dir, "train_labels.tsv"))
  # Round 3's study trains on round 2's clips, its production run on these:
  # the record covers both when round 2's clips' sources are among these.
  study_files = independence.origins(os.path.join(corpus, "wild", "train_labels.tsv"))
  if not study_files <= train_files:
    raise SystemExit(f"{wild_dir} does not hold every source file of round 2's training clips "
                     f"({len(study_files - train_files)} missing): was the corpus remade?")
  try:
    counts = independence.check_disjoint(
        {"test": test_files, "selection": selection_files,
         f"train (wild clips, {wild_n})": train_files})
  except independence.OverlapError as e:
    raise SystemExit(f"{wild_dir}: not independent of round 2's held-out lists: {e}") from e
  if record_dir:
    independence.write_record(record_dir, {
        "test": (test_list, test_files), "selection": (selection_list, selection_files),
        f"train (wild clips, {wild_n})": (wild_list, train_files)})
  record = {"train_clips": wild_n, "source_files": counts, "shared_files": 0,
            "round2_training_sources_included": len(study_files),
            "checked": "origin columns of the lists' labels tables "
                       "(sound_separation.study.independence.check_disjoint)"}
  with open(os.path.join(out_dir, "independence.json"), "w", encoding="utf-8") as f:
    json.dump(record, f, indent=1, sort_keys=True)
  print(f"{out_dir}: train_clip_list.txt ({wild_n} labelled clips of {wild_dir}; source files "
        f"{counts}, none shared with round 2's test and selection lists); list {train_list}")
  return record


if __name__ == "__main__":
  main()
