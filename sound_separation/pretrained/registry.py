"""The paper authors' published models, by name, fetched once into a cache.

`PUBLISHED` names the TF1 checkpoints Google published for MixIT under the
Apache 2.0 licence (docs/pretrained.md). `fetch(name)` makes a model folder
of one of them — the format `models.folders` reads — the first time it is
asked for, and returns the cached folder after that without any request:

1. list the model's prefix in its bucket (`download.list_objects`);
2. pick the checkpoint: the registry's `checkpoint`, else the newest
   complete `model.ckpt-N` (index and every data shard listed; the
   original's folders may ship no `checkpoint` state file);
3. download only that checkpoint's index and data shards (no event files,
   no graphs), each verified by size and MD5 (`download.download`);
4. convert them with the TF1 import (`models.tf1_checkpoint.import_tf1`) at
   the model's sample rate, check its number of outputs, write a model card;
5. rename the finished folder into the cache. A folder there is complete by
   construction; one without its `COMPLETE` marker (a crash of an older
   version, a hand copy) is refetched.

The cache is `$SOUND_SEPARATION_CACHE`, else `$XDG_CACHE_HOME/sound_separation`,
else `~/.cache/sound_separation`; each model is `<cache>/<name>/`. A lock file
(`<cache>/<name>.lock`, `fcntl.flock`) makes a second process that asks for
the same model wait for the first one's download instead of repeating it.
"""

import dataclasses
import datetime
import fcntl
import json
import os
import shutil
import sys
import typing
import urllib.error

from sound_separation import filesystem
from sound_separation import run_folder
from sound_separation.models import tf1_checkpoint
from sound_separation.pretrained import download

CACHE_ENV = "SOUND_SEPARATION_CACHE"
COMPLETE = "COMPLETE"
_APACHE = "Apache-2.0 (https://www.apache.org/licenses/LICENSE-2.0)"
_MIXIT_PAPER = ("S. Wisdom et al., \"Unsupervised Sound Separation Using Mixture Invariant "
                "Training\", NeurIPS 2020, https://arxiv.org/abs/2006.12701")
_BIRD_PAPER = ("T. Denton, S. Wisdom, J. R. Hershey, \"Improving Bird Classification with "
               "Unsupervised Sound Separation\", ICASSP 2022, https://arxiv.org/abs/2110.03209")
_UPSTREAM = "https://github.com/google-research/sound-separation/blob/master/"
# The original's framing, which no checkpoint stores: 2.5 ms windows and
# 1.25 ms hops (its `ws`, `hs`), rounded to samples at the model's rate.
_FRAMING = ("window 2.5 ms and hop 1.25 ms (the original's defaults), rounded to samples at "
            "the model's rate; the hop is not stored in a checkpoint")


@dataclasses.dataclass(frozen=True)
class PublishedModel:
  """One published checkpoint.

  Attributes:
    name: the registry name (`--model=NAME`).
    bucket, prefix: where it lives (`gs://{bucket}/{prefix}/`).
    sample_rate: Hz the model was trained at.
    num_sources: M, its number of outputs (checked after the import).
    checkpoint: the checkpoint prefix's file name (`model.ckpt-N`), or None
      for the newest complete one.
    description: one line for `sound-separation models`.
    licence, paper, readme: where the weights may be used, and their source.
    assumptions: what the import takes from the original's defaults rather
      than from the checkpoint.
  """
  name: str
  bucket: str
  prefix: str
  sample_rate: int
  num_sources: int
  checkpoint: typing.Optional[str]
  description: str
  licence: str
  paper: str
  readme: str
  assumptions: typing.Tuple[str, ...]

  @property
  def gs_url(self):
    return f"gs://{self.bucket}/{self.prefix}"


PUBLISHED = {m.name: m for m in (
    PublishedModel(
        "yfcc100m-mixit", "gresearch", "sound_separation/yfcc100m_mixit_model_checkpoint",
        16000, 8, None, "MixIT on YFCC100M in-the-wild audio (NeurIPS 2020), 16 kHz",
        _APACHE, _MIXIT_PAPER, _UPSTREAM + "models/neurips2020_mixit/README.md",
        (_FRAMING, "8 outputs: the paper's setting; the import reads M from the mask layer and "
         "refuses another", "the newest complete checkpoint in the folder (the README names "
         "none)", "TDCN++ dilations 2^(b mod 8) without skip residuals unless the checkpoint "
         "has them (the original's defaults)")),
    PublishedModel(
        "bird-mixit-4", "gresearch", "sound_separation/bird_mixit_model_checkpoints/"
        "output_sources4", 22050, 4, "model.ckpt-3223090",
        "MixIT on bird recordings, 4 outputs (ICASSP 2022), 22.05 kHz", _APACHE, _BIRD_PAPER,
        _UPSTREAM + "models/bird_mixit/README.md",
        (_FRAMING + " (55 and 28 samples at 22.05 kHz)", "TDCN++ dilations as the original's "
         "defaults", "inputs at other rates are resampled to 22.05 kHz, as the README requires")),
    PublishedModel(
        "bird-mixit-8", "gresearch", "sound_separation/bird_mixit_model_checkpoints/"
        "output_sources8", 22050, 8, "model.ckpt-2178900",
        "MixIT on bird recordings, 8 outputs (ICASSP 2022), 22.05 kHz", _APACHE, _BIRD_PAPER,
        _UPSTREAM + "models/bird_mixit/README.md",
        (_FRAMING + " (55 and 28 samples at 22.05 kHz)", "TDCN++ dilations as the original's "
         "defaults", "inputs at other rates are resampled to 22.05 kHz, as the README requires")),
)}


class RegistryError(RuntimeError):
  """A registry model that cannot be had (offline, bad listing, failed check)."""


def is_name(value):
  """True if `value` names a published model."""
  return isinstance(value, str) and value in PUBLISHED


def cache_root():
  """`$SOUND_SEPARATION_CACHE`, else `$XDG_CACHE_HOME/sound_separation`, else `~/.cache/...`."""
  if os.environ.get(CACHE_ENV):
    return os.path.abspath(os.path.expanduser(os.environ[CACHE_ENV]))
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(os.path.abspath(base), "sound_separation")


def model_dir(name):
  """Where a published model's folder is (or will be) cached."""
  _spec(name)
  return os.path.join(cache_root(), name)


def is_cached(name):
  """True if the model's folder is in the cache, complete."""
  return os.path.isfile(os.path.join(model_dir(name), COMPLETE))


def _spec(name):
  if name not in PUBLISHED:
    raise KeyError(f"no published model is called {name!r}; the names are "
                   f"{', '.join(sorted(PUBLISHED))}")
  return PUBLISHED[name]


def _offline_error(spec, url, error):
  return RegistryError(
      f"cannot fetch the published model {spec.name!r}: {url} is unreachable ({error}). "
      f"Fetch it by hand with `gsutil -m cp -r {spec.gs_url} .` (or `gcloud storage cp "
      f"--recursive {spec.gs_url} .`), convert it with `sound-separation import-tf1 "
      f"--checkpoint=<the folder> --out_dir=MODEL --sample_rate={spec.sample_rate}`, and pass "
      f"--model=MODEL (a model folder).")


def _choose(spec, items):
  """The listed items of the checkpoint to fetch, by file name."""
  by_name = {download.safe_file_name(item["name"], spec.prefix): item for item in items}
  prefix = spec.checkpoint or tf1_checkpoint.newest_complete_checkpoint(by_name)
  if prefix is None or prefix + ".index" not in by_name:
    raise RegistryError(f"{spec.gs_url} lists no complete checkpoint"
                        + (f" {spec.checkpoint}" if spec.checkpoint else "")
                        + f" (files: {', '.join(sorted(by_name)) or 'none'})")
  wanted = {n: i for n, i in by_name.items()
            if n == prefix + ".index" or n.startswith(prefix + ".data-")}
  if tf1_checkpoint.newest_complete_checkpoint(wanted) != prefix:
    raise RegistryError(f"{spec.gs_url}: checkpoint {prefix} misses data shards "
                        f"(listed: {', '.join(sorted(wanted))})")
  return prefix, wanted


def _model_card(spec, prefix, wanted, summary):
  files = "\n".join(f"| `{n}` | {i['size']:,} | `{i['md5Hash']}` |"
                    for n, i in sorted(wanted.items()))
  assumptions = "\n".join(f"- {a}" for a in spec.assumptions + tuple(summary["assumed"]))
  return (f"# {spec.name}\n\n{spec.description}.\n\n"
          f"- Source: `{spec.gs_url}/{prefix}` (fetched "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)\n"
          f"- Licence of the weights: {spec.licence}\n- Paper: {spec.paper}\n"
          f"- Upstream README: {spec.readme}\n"
          f"- Sample rate: {spec.sample_rate} Hz; outputs: {summary['num_sources']}; "
          f"parameters: {summary['parameters']:,}; global step {summary['global_step']}\n\n"
          f"## Assumed, not read from the checkpoint\n\n{assumptions}\n\n"
          f"## Files (verified by size and MD5)\n\n| file | bytes | MD5 (base64) |\n"
          f"|---|---|---|\n{files}\n\nConverted by `sound_separation.models.tf1_checkpoint` "
          f"(`tf1_import.json` beside this card records the conversion).\n")


def _fetch_locked(spec, stream):
  target = model_dir(spec.name)
  url = download.listing_url(spec.bucket, spec.prefix)
  try:
    items = download.list_objects(spec.bucket, spec.prefix)
  except (urllib.error.URLError, OSError) as e:
    raise _offline_error(spec, url, e) from e
  prefix, wanted = _choose(spec, items)
  staging = os.path.join(cache_root(), f".{spec.name}.downloads")
  os.makedirs(staging, exist_ok=True)
  print(f"Fetching {spec.name} ({spec.gs_url}/{prefix}, {len(wanted)} files) into {target}",
        file=stream, flush=True)
  progress = download.Progress(sum(i["size"] for i in wanted.values()), stream)
  try:
    for name, item in sorted(wanted.items()):
      path = os.path.join(staging, name)
      if os.path.exists(path):  # verified by an earlier, interrupted fetch
        progress.add(item["size"])
        continue
      download.download(item, path, progress)
  except download.DownloadError as e:
    raise RegistryError(f"cannot fetch {spec.name!r}: {e}") from e
  except urllib.error.URLError as e:
    raise _offline_error(spec, url, e) from e
  finally:
    progress.close()
  building = os.path.join(cache_root(), f".{spec.name}.building")
  shutil.rmtree(building, ignore_errors=True)
  summary = tf1_checkpoint.import_tf1(os.path.join(staging, prefix), building,
                                      sample_rate=spec.sample_rate)
  if summary["num_sources"] != spec.num_sources:
    shutil.rmtree(building, ignore_errors=True)
    raise RegistryError(f"{spec.name}: the checkpoint has {summary['num_sources']} outputs, "
                        f"the registry says {spec.num_sources}; nothing was cached")
  filesystem.write_text(os.path.join(building, run_folder.MODEL_CARD),
                        _model_card(spec, prefix, wanted, summary))
  filesystem.write_text(os.path.join(building, "registry.json"), json.dumps(
      {"name": spec.name, "source": f"{spec.gs_url}/{prefix}",
       "files": {n: {"size": i["size"], "md5Hash": i["md5Hash"]} for n, i in wanted.items()}},
      indent=1))
  filesystem.write_text(os.path.join(building, COMPLETE), "complete\n")
  if os.path.exists(target):  # a half-written folder of an older version: redone
    shutil.rmtree(target)
  os.replace(building, target)
  shutil.rmtree(staging, ignore_errors=True)
  print(f"Cached {spec.name}: {target}", file=stream, flush=True)
  return target


def fetch(name, stream=None):
  """The cached model folder of a published model, fetched and converted the first time.

  Args:
    name: a key of `PUBLISHED`.
    stream: progress (default stderr).

  Returns:
    the model folder (`models.folders` format).

  Raises:
    KeyError: not a registry name.
    RegistryError: offline with nothing cached (naming the URL, the `gsutil`
      command and `--model=FOLDER`), a size or MD5 mismatch (nothing is
      cached), a hostile object name, a checkpoint that does not convert.
  """
  spec = _spec(name)
  stream = stream if stream is not None else sys.stderr
  if is_cached(name):
    return model_dir(name)
  os.makedirs(cache_root(), exist_ok=True)
  with open(os.path.join(cache_root(), f"{name}.lock"), "w", encoding="utf-8") as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      print(f"Waiting for another process that is fetching {name}...", file=stream, flush=True)
      fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      if is_cached(name):  # the other process finished it
        return model_dir(name)
      return _fetch_locked(spec, stream)
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)


def resolve(path_or_name, stream=None):
  """A model path as given, the cached folder of a registry name (fetched if needed), or the
  adapted model folder of an adaptation's folder (`run_folder.model_folder`)."""
  if path_or_name is not None and is_name(path_or_name) and not os.path.exists(path_or_name):
    return fetch(path_or_name, stream)
  return run_folder.model_folder(path_or_name)


def listing():
  """`[(name, rate, M, size, licence, cached)]` as text: the published models and the shipped one.

  The first row is the header; "cached" is the cached folder or "no".
  """
  from sound_separation import pretrained  # pylint: disable=import-outside-toplevel
  rows = [("name", "rate", "M", "size", "licence", "cached")]
  for spec in PUBLISHED.values():
    cached = is_cached(spec.name)
    size = f"{folder_size(model_dir(spec.name)) / 1e6:.0f} MB" if cached else "?"
    rows.append((spec.name, f"{spec.sample_rate} Hz", str(spec.num_sources), size,
                 spec.licence.split(" ")[0], model_dir(spec.name) if cached else "no"))
  default = pretrained.default_model_dir()
  info = run_folder.read_json(run_folder.separator_file(default))
  rows.append(("(default, shipped)", f"{info.get('sample_rate', '?')} Hz",
               str(info.get("model", {}).get("config", {}).get("num_sources", "?")),
               f"{folder_size(default) / 1e6:.1f} MB", "see its MODEL_CARD.md", default))
  return rows


def folder_size(path):
  """Bytes of the files below `path`."""
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
             for f in files)
