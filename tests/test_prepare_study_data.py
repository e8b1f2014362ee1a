"""`tools/prepare_study_data.py --round 3` on a planted corpus: the larger training list with
its weak labels, the independence record it writes, and its refusals as the user reads them.

The corpus's mixtures are planted as tables and empty files (the tool reads lists and
`origin` columns; the wild mixtures are already "made", so the corpus's own
`make_mixtures.py` is never called)."""

import json
import pathlib
import subprocess
import sys

from sound_separation.study import independence

REPO = pathlib.Path(__file__).resolve().parents[1]
TOOL = str(REPO / "tools" / "prepare_study_data.py")
HEADER = "example\tsource\tmixture\tgroup\tlabel\tspeaker\torigin\tonset_s\toffset_s\tlevel_db\n"


def _labels(path, rows):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(HEADER + "".join(f"{example}\tbackground0\t\tsfx\tx\t\t{origin}\t0\t10\t-40\n"
                                   for example, origin in rows))


def _fuss_list(path, folder, names):
  path.parent.mkdir(parents=True, exist_ok=True)
  lines = []
  for name in names:
    mixture = folder / f"{name}.wav"
    source = folder / f"{name}_sources" / "background0_sound.wav"
    source.parent.mkdir(parents=True, exist_ok=True)
    mixture.touch()
    source.touch()
    lines.append(f"{mixture}\t{source}")
  path.write_text("\n".join(lines) + "\n")


def _corpus(tmp_path, wild_origins, wild_n=4):
  corpus = tmp_path / "dev"
  (corpus / "data" / "x").mkdir(parents=True)
  (corpus / "manifest.csv").write_text("path,split\n")
  # The validation split: examples 0 and 2 are round 2's selection mixtures.
  validation = corpus / "fuss_like" / "validation"
  _labels(corpus / "fuss_like" / "validation_labels.tsv",
          [("validation/example00000", "pkg/sel_a.wav"), ("validation/example00001", "pkg/x.wav"),
           ("validation/example00002", "pkg/sel_b.wav")])
  _fuss_list(corpus / "fuss_like" / "validation_example_list.txt", validation,
             ["example00000", "example00001", "example00002"])
  _fuss_list(corpus / "study2" / "selection_list.txt", validation, ["example00000", "example00002"])
  test = corpus / "study2" / "test"
  _fuss_list(test / "test_example_list.txt", test / "test", ["example00000"])
  _labels(test / "test_labels.tsv", [("test/example00000", "pkg/test_a.wav|pkg/test_b.wav")])
  (corpus / "study2" / "labels.txt").write_text("ambience\nmusic\nspeech\n")
  # Round 2's 2 wild clips, and the larger set the round-3 list is made from.
  _labels(corpus / "wild" / "train_labels.tsv",
          [("train/example00000", "pkg/w0.wav"), ("train/example00001", "pkg/w1.wav")])
  wild = corpus / f"wild_{wild_n}"
  (wild / "train").mkdir(parents=True)
  clips = [wild / "train" / f"example{i:05d}.wav" for i in range(wild_n)]
  for clip in clips:
    clip.touch()
  (wild / "train_example_list.txt").write_text("".join(f"{c}\n" for c in clips))
  _labels(wild / "train_labels.tsv",
          [(f"train/example{i:05d}", origin) for i, origin in enumerate(wild_origins)])
  weak = ["music,ambience", "speech", "ambience", "music"]
  (wild / "train_weak_labels.tsv").write_text(
      "clip\tlabels\n" + "".join(f"train/example{i:05d}.wav\t{weak[i % 4]}\n"
                                 for i in range(wild_n)))
  return corpus


def _run(corpus, *extra):
  return subprocess.run([sys.executable, TOOL, "--round", "3", "--corpus", str(corpus),
                         "--corpus_tools", "/nonexistent", "--wild_n", "4", *extra],
                        capture_output=True, text=True, timeout=300, check=False)


def test_round3_writes_the_labelled_list_and_a_record_that_rechecks(tmp_path):
  corpus = _corpus(tmp_path, ["pkg/w0.wav", "pkg/w1.wav", "pkg/w2.wav", "pkg/w3.wav|pkg/w0.wav"])
  record_dir = tmp_path / "results"
  done = _run(corpus, "--record_dir", str(record_dir))
  assert done.returncode == 0, done.stderr[-2000:]
  lines = (corpus / "study3" / "train_clip_list.txt").read_text().splitlines()
  # Labels in the vocabulary's order, each clip's own.
  assert [line.split("\t")[1] for line in lines] == ["ambience,music", "speech", "ambience",
                                                     "music"]
  assert lines[0].split("\t")[0].endswith("wild_4/train/example00000.wav")
  record = json.loads((corpus / "study3" / "independence.json").read_text())
  assert record["source_files"] == {"test": 2, "selection": 2, "train (wild clips, 4)": 4}
  assert record["round2_training_sources_included"] == 2
  assert independence.recheck(str(record_dir)) == record["source_files"]


def test_round3_refuses_clips_that_share_a_file_with_the_test_list(tmp_path):
  corpus = _corpus(tmp_path, ["pkg/w0.wav", "pkg/w1.wav", "pkg/test_b.wav", "pkg/w3.wav"])
  done = _run(corpus)
  assert done.returncode == 1
  assert "not independent of round 2's held-out lists" in done.stderr
  assert "'test' and 'train (wild clips, 4)' share 1 source file(s), e.g. 'pkg/test_b.wav'" \
      in done.stderr
  assert not (corpus / "study3" / "independence.json").exists()


def test_round3_refuses_a_set_that_lost_round_2s_clips(tmp_path):
  corpus = _corpus(tmp_path, ["pkg/w0.wav", "pkg/v1.wav", "pkg/w2.wav", "pkg/w3.wav"])
  done = _run(corpus)
  assert done.returncode == 1
  assert "does not hold every source file of round 2's training clips (1 missing)" in done.stderr
