"""Imports the published TF1 checkpoints of Google's original MixIT model.

The original (`google-research/sound-separation`, `models/neurips2020_mixit/
model.py` on `models/train/network.py`) is a TF1 graph whose variables are
named by its variable scopes (docs/architecture.md#separation-model). `separator_from_tf1` reads such a
checkpoint, infers the architecture from the variables' shapes, builds a
`SeparationModel` and loads every weight through `MAPPING`, the one table
from original names to ours. `import_tf1` writes the result as a model folder
(`folders.save_separator`), which `folders.load_keras_separator` reads and
which serves as another run's `init_checkpoint` for fine-tuning.

Inference rules (what the variables do not say comes from the original's
configuration defaults, or from the caller):

- `conv_encoder/dense/kernel [W, N]`: window size W, N basis functions.
- hop size: not stored. The original frames with 2.5 ms windows and 1.25 ms
  hops (`ws`, `hs` of its HParams), so if `W == round(0.0025·sample_rate)`
  the hop is `round(0.00125·sample_rate)` (20 at 16 kHz, 28 for the bird
  models at 22.05 kHz); otherwise the caller must pass `hop_size`.
- `initial_dense/dense/kernel [N, bottleneck]`; block 0's
  `dense1/dense/kernel [bottleneck, conv_channels]` and
  `timeconv/separable_conv/depthwise_kernel [K, 1, conv_channels, 1]`.
- blocks: one per `conv_block_<b>` index, `0 … max b` (gaps are reported as
  missing variables).
- dilations (not stored either): block b has dilation `2^(b mod D)`. With
  skip residuals, D is the distance between their blocks (`res_dense_0_to_D`).
  Without, D is the caller's `num_dilations`, by default the original's 8
  (`tdcn_num_dilations`, `network_config.improved_tdcn`); the number of
  blocks must be a multiple of it, and `num_repeats = blocks / D`.
- `dense/kernel [bottleneck, N·M]` (the mask): M = columns / N.
- mixture consistency: 'predicted' if `mix_weights/dense/kernel` is present.
  Without it the checkpoint cannot tell '' (none), 'uniform' or 'magsq' apart
  (they have no weights); 'uniform' is assumed and reported as an
  assumption, and the caller may pass another.

The model may sit below an outer scope (e.g. `model_iter_0/` of the
original's iterative models, or a tower scope): it is found by its encoder
kernel. Optimizer state (slot variables such as `<var>/Adam`,
`<var>/Adam_1`, `beta1_power`, `global_step`) is ignored.
"""

import json
import math
import os
import re

import numpy as np
import tensorflow as tf

from sound_separation import filesystem
from sound_separation.layers.tdcn import skip_connections
from sound_separation.layers.tdcn import TDCNPlusPlus
from sound_separation.models import folders
from sound_separation.models.separation_model import SeparationModel

# How a value converts: 'same' (identical shape), 'scalar' (the original
# stores prelu and scale_layer as [] — `tf.get_variable(shape=[])` — and the
# scalar γ/β of its instance norm as [1]; ours are all [1]), 'depthwise' (the
# original's DepthwiseConv2D kernel [K, 1, C, 1] -> our [K, C]).
SAME, SCALAR, DEPTHWISE = "same", "scalar", "depthwise"

_BLOCK = "improved_tdcn/conv_block_{b}/tdcn_block/"
_SKIP = "improved_tdcn/res_dense_{src}_to_{dst}/"

# THE mapping table: (original name below the model scope, our weight path
# below the model, conversion). `{b}` is a block index, `{src}`/`{dst}` the
# blocks of a skip residual. The original's encoder, decoder and mask Dense
# layers are created without a scope of their own, so their names carry the
# name Keras gave the layer: "dense" plus a "_<n>" that depends on how many
# unnamed Dense layers the graph had before (the decoder is "dense_1" in the
# original's graph). For the three rows marked True, any "dense_<n>" matches.
MAPPING = (
    ("conv_encoder/dense/kernel", "conv_encoder/dense/kernel", SAME, True),
    ("initial_dense/dense/kernel", "tdcn/initial_dense/dense/kernel", SAME, False),
    ("initial_dense/dense/bias", "tdcn/initial_dense/dense/bias", SAME, False),
    ("initial_dense/dense_scale/scale_layer",
     "tdcn/initial_dense/dense_scale/scale_layer", SCALAR, False),
    (_BLOCK + "dense1/dense/kernel", "tdcn/conv_block_{b}/dense1/dense/kernel", SAME, False),
    (_BLOCK + "dense1/dense_scale/scale_layer",
     "tdcn/conv_block_{b}/dense1/dense_scale/scale_layer", SCALAR, False),
    (_BLOCK + "normact1/prelu/prelu", "tdcn/conv_block_{b}/normact1/prelu/prelu", SCALAR, False),
    (_BLOCK + "normact1/instance_norm/gamma",
     "tdcn/conv_block_{b}/normact1/instance_norm/gamma", SCALAR, False),
    (_BLOCK + "normact1/instance_norm/beta",
     "tdcn/conv_block_{b}/normact1/instance_norm/beta", SCALAR, False),
    (_BLOCK + "timeconv/separable_conv/depthwise_kernel",
     "tdcn/conv_block_{b}/timeconv/depthwise_kernel", DEPTHWISE, False),
    (_BLOCK + "timeconv/separable_conv/bias", "tdcn/conv_block_{b}/timeconv/bias", SAME, False),
    (_BLOCK + "normact2/prelu/prelu", "tdcn/conv_block_{b}/normact2/prelu/prelu", SCALAR, False),
    (_BLOCK + "normact2/instance_norm/gamma",
     "tdcn/conv_block_{b}/normact2/instance_norm/gamma", SCALAR, False),
    (_BLOCK + "normact2/instance_norm/beta",
     "tdcn/conv_block_{b}/normact2/instance_norm/beta", SCALAR, False),
    (_BLOCK + "dense2/dense/kernel", "tdcn/conv_block_{b}/dense2/dense/kernel", SAME, False),
    (_BLOCK + "dense2/dense_scale/scale_layer",
     "tdcn/conv_block_{b}/dense2/dense_scale/scale_layer", SCALAR, False),
    (_SKIP + "dense/kernel", "tdcn/res_dense_{src}_to_{dst}/dense/kernel", SAME, False),
    (_SKIP + "dense/bias", "tdcn/res_dense_{src}_to_{dst}/dense/bias", SAME, False),
    (_SKIP + "dense_scale/scale_layer",
     "tdcn/res_dense_{src}_to_{dst}/dense_scale/scale_layer", SCALAR, False),
    ("dense/kernel", "mask_dense/kernel", SAME, True),
    ("conv_decoder/dense_1/kernel", "conv_decoder/dense/kernel", SAME, True),
    ("mix_weights/dense/kernel", "mixture_consistency/mix_weights/kernel", SAME, False),
)

# Bookkeeping variables of the original's training, by their last name
# component; slot variables (`<var>/Adam`, `<var>/ExponentialMovingAverage`, …)
# are recognised as names below another variable's.
_BOOKKEEPING = re.compile(r"(^|/)(global_step|beta[12]_power(_\d+)?)$")


class TF1CheckpointError(ValueError):
  """The checkpoint is not (or not entirely) the original's separation model."""


def _pattern(template, any_dense_suffix=False):
  """Compiles a MAPPING template: `{name}` matches an integer."""
  parts = template.split("/")
  regex = []
  for i, part in enumerate(parts):
    if any_dense_suffix and i == len(parts) - 2:
      regex.append(r"dense(?:_\d+)?")
      continue
    pieces = re.split(r"\{(\w+)\}", part)  # literal, name, literal, …
    regex.append("".join(re.escape(p) if k % 2 == 0 else rf"(?P<{p}>\d+)"
                         for k, p in enumerate(pieces)))
  return re.compile("/".join(regex) + "$")


_RULES = [(_pattern(orig, tolerant), _pattern(ours), orig, ours, kind)
          for orig, ours, kind, tolerant in MAPPING]


def to_ours(name):
  """(our path, conversion) of an original name below the model scope, or None."""
  for orig_re, _, _, ours, kind in _RULES:
    match = orig_re.match(name)
    if match:
      return ours.format(**match.groupdict()), kind
  return None


def to_original(path):
  """The original's (canonical) name of our weight path, for messages."""
  for _, ours_re, orig, _, _ in _RULES:
    match = ours_re.match(path)
    if match:
      return orig.format(**match.groupdict())
  return f"(no original name for {path})"


_DATA_SHARD = re.compile(r"^(?P<prefix>.+)\.data-(?P<shard>\d+)-of-(?P<count>\d+)$")
_STEP = re.compile(r"-(\d+)$")


def newest_complete_checkpoint(file_names):
  """The prefix of the newest checkpoint whose index and every data shard are listed.

  Args:
    file_names: the file names in one folder (e.g. `model.ckpt-5.index`,
      `model.ckpt-5.data-00000-of-00002`, `graph.pbtxt`, `events...`).

  Returns:
    The prefix (e.g. `model.ckpt-5`) with the highest step among the complete
    ones (a prefix without a step counts as step -1), or None.
  """
  names = set(file_names)
  complete = []
  for name in names:
    if not name.endswith(".index"):
      continue
    prefix = name[:-len(".index")]
    shards = [_DATA_SHARD.match(n) for n in names if n.startswith(prefix + ".data-")]
    shards = [m for m in shards if m and m.group("prefix") == prefix]
    if not shards:
      continue
    count = int(shards[0].group("count"))
    if {int(m.group("shard")) for m in shards} == set(range(count)) and all(
        int(m.group("count")) == count for m in shards):
      step = _STEP.search(prefix)
      complete.append((int(step.group(1)) if step else -1, prefix))
  return max(complete)[1] if complete else None


def resolve_checkpoint(checkpoint):
  """A checkpoint prefix from a prefix or a folder (its latest checkpoint)."""
  if filesystem.isdir(checkpoint):
    latest = tf.train.latest_checkpoint(checkpoint)
    if latest:
      return latest
    # A copied folder may have lost its `checkpoint` state file (the bird
    # models' folders ship none): take the newest complete checkpoint.
    newest = newest_complete_checkpoint(filesystem.listdir(checkpoint))
    if newest:
      return os.path.join(checkpoint, newest)
  elif filesystem.exists(checkpoint + ".index"):
    return checkpoint
  raise FileNotFoundError(f"{checkpoint!r} is neither a TF1 checkpoint prefix "
                          f"(<prefix>.index) nor a folder holding one.")


def _is_ignored(name, names):
  if _BOOKKEEPING.search(name):
    return True
  # Slot variables are named `<variable>/<slot>`.
  parts = name.split("/")
  return any("/".join(parts[:i]) in names for i in range(1, len(parts)))


def read_model_variables(checkpoint, scope=None):
  """Reads the model's variables from a TF1 checkpoint.

  Args:
    checkpoint: a checkpoint prefix, or a folder (its latest checkpoint).
    scope: the model's outer variable scope (e.g. 'model_iter_0'); None
      finds it by the encoder kernel and fails if several scopes hold one.

  Returns:
    (prefix read, scope ('' or ending in '/'), {name below the scope:
    ndarray}, number of checkpoint variables not read, global step or None).
  """
  path = resolve_checkpoint(checkpoint)
  try:
    reader = tf.train.load_checkpoint(path)
  except (tf.errors.OpError, ValueError) as e:
    raise FileNotFoundError(f"{path!r} is not a readable checkpoint: {e}") from None
  names = set(reader.get_variable_to_shape_map())
  if "_CHECKPOINTABLE_OBJECT_GRAPH" in names:
    raise TF1CheckpointError(
        f"{path} is a TF2 (object-based) checkpoint, not a TF1 one: load this "
        f"library's own checkpoints with folders.load_keras_separator or use them "
        f"as init_checkpoint.")
  model_names = sorted(n for n in names if not _is_ignored(n, names))
  anchor = re.compile(r"^((?:.+/)?)conv_encoder/dense(?:_\d+)?/kernel$")
  scopes = sorted({m.group(1) for m in map(anchor.match, model_names) if m})
  if scope is None:
    if len(scopes) != 1:
      found = ", ".join(repr(s) for s in scopes) or "none"
      raise TF1CheckpointError(
          f"{path}: expected the encoder kernel '<scope>conv_encoder/dense/"
          f"kernel' of exactly one model, found scopes: {found}. "
          + ("Pass scope= to choose one." if scopes else
             "This is not the original's learned-basis MixIT model (the "
             "STFT-based FUSS baseline is not supported)."))
    scope = scopes[0]
  else:
    scope = scope.strip("/") + "/" if scope.strip("/") else ""
  # Other models nested below the chosen scope (the iterative model has
  # 'model_iter_0/…' next to its last iteration at '') are not ours to read.
  others = [s for s in scopes if s != scope and s.startswith(scope)]
  chosen = [n for n in model_names if n.startswith(scope)
            and not any(n.startswith(s) for s in others)]
  if not chosen:
    raise TF1CheckpointError(f"{path}: no variables below scope {scope!r}.")
  values = {n[len(scope):]: reader.get_tensor(n) for n in chosen}
  step = int(reader.get_tensor("global_step")) if "global_step" in names else None
  return path, scope, values, len(names) - len(chosen), step


def infer_architecture(shapes, sample_rate=16000, num_dilations=None,
                       hop_size=None, mixture_consistency="auto"):
  """`SeparationModel` arguments from the original variables' shapes.

  Args:
    shapes: {our weight path: original shape}, i.e. the checkpoint's
      variables passed through `to_ours`.
    sample_rate: Hz, to derive the hop size when `hop_size` is None.
    num_dilations: blocks per repeat; None: from the skip residuals, else 8.
    hop_size: None to derive it (module docstring).
    mixture_consistency: 'auto' ('predicted' if the checkpoint has its
      weights, else 'uniform'), or a weighting of `MixtureConsistency`
      ('predicted', 'uniform', 'magsq'), or None / '' for none.

  Returns:
    (kwargs of `SeparationModel` with `tdcn` the kwargs of `TDCNPlusPlus`,
    list of the assumptions made, as sentences).
  """
  def shape_of(path):
    if path not in shapes:
      raise TF1CheckpointError(f"cannot infer the architecture: "
                               f"{to_original(path)} is missing.")
    return tuple(shapes[path])

  assumed = []
  window_size, num_basis = shape_of("conv_encoder/dense/kernel")
  bottleneck = shape_of("tdcn/initial_dense/dense/kernel")[1]
  conv_channels = shape_of("tdcn/conv_block_0/dense1/dense/kernel")[1]
  kernel_size = shape_of("tdcn/conv_block_0/timeconv/depthwise_kernel")[0]
  blocks = {int(m.group(1)) for m in
            (re.match(r"tdcn/conv_block_(\d+)/", p) for p in shapes) if m}
  num_blocks = max(blocks) + 1
  skips = sorted({(int(m.group(1)), int(m.group(2))) for m in
                  (re.match(r"tdcn/res_dense_(\d+)_to_(\d+)/", p) for p in shapes)
                  if m})
  if skips:
    from_skips = min(dst for _, dst in skips)
    if num_dilations not in (None, from_skips):
      raise TF1CheckpointError(
          f"num_dilations={num_dilations} contradicts the skip residuals "
          f"{skips}, which repeat every {from_skips} blocks.")
    num_dilations = from_skips
  elif num_dilations is None:
    num_dilations = 8
    assumed.append("num_dilations=8 (the original's default; dilations are "
                   "not stored in the checkpoint)")
  if num_blocks % num_dilations:
    raise TF1CheckpointError(
        f"{num_blocks} TDCN++ blocks are not a whole number of repeats of "
        f"{num_dilations} dilations: pass num_dilations.")
  num_repeats = num_blocks // num_dilations
  if skips and skips != sorted(skip_connections(num_dilations, num_repeats)):
    raise TF1CheckpointError(
        f"unsupported skip residuals {skips}: expected the original's "
        f"{skip_connections(num_dilations, num_repeats)}.")
  # Its rows (the bottleneck) are checked with every other shape when loading.
  mask_columns = shape_of("mask_dense/kernel")[1]
  if mask_columns % num_basis:
    raise TF1CheckpointError(
        f"mask kernel {to_original('mask_dense/kernel')} has {mask_columns} "
        f"columns, not a multiple of the {num_basis} basis functions.")
  if not mixture_consistency:
    mixture_consistency = None  # The original's '' (no projection).
  elif mixture_consistency == "auto":
    if "mixture_consistency/mix_weights/kernel" in shapes:
      mixture_consistency = "predicted"
    else:
      mixture_consistency = "uniform"
      assumed.append("mixture_consistency='uniform' (the checkpoint has no "
                     "mix_weights; '' and 'magsq' are equally possible)")
  if hop_size is None:
    if window_size != round(0.0025 * sample_rate):
      raise TF1CheckpointError(
          f"the encoder window of {window_size} samples is not the original's "
          f"2.5 ms at {sample_rate} Hz: check sample_rate, or pass hop_size.")
    hop_size = round(0.00125 * sample_rate)
    assumed.append(f"hop_size={hop_size} (1.25 ms at {sample_rate} Hz, the "
                   f"original's default; not stored in the checkpoint)")
  tdcn = dict(bottleneck=bottleneck, conv_channels=conv_channels,
              kernel_size=kernel_size, num_dilations=num_dilations,
              num_repeats=num_repeats, skip_residuals=bool(skips))
  return dict(num_sources=mask_columns // num_basis, num_basis=num_basis,
              window_size=window_size, hop_size=hop_size, tdcn=tdcn,
              mixture_consistency=mixture_consistency), assumed


def build_separator(architecture):
  """A built `SeparationModel` from `infer_architecture`'s arguments."""
  kwargs = dict(architecture)
  tdcn = TDCNPlusPlus(**kwargs.pop("tdcn"), name="tdcn")
  model = SeparationModel(tdcn=tdcn, **kwargs)
  model.build((None, None))
  return model


def _convert(kind, value, shape):
  """The original value in our shape, or None if its shape does not fit."""
  shape = tuple(shape)
  if kind == SCALAR:
    ok = value.ndim <= 1 and value.size == 1
  elif kind == DEPTHWISE:
    ok = value.shape == (shape[0], 1, shape[1], 1)
  else:
    ok = value.shape == shape
  return value.reshape(shape) if ok else None


def _expected(kind, shape):
  if kind == SCALAR:
    return "[] or [1]"
  if kind == DEPTHWISE:
    return str([shape[0], 1, shape[1], 1])
  return str(list(shape))


def load_weights(model, values, scope=""):
  """Assigns the original's variables to `model`'s weights through `MAPPING`.

  Args:
    model: a built `SeparationModel` of the checkpoint's architecture.
    values: {original name below the model scope: ndarray}.
    scope: the model scope in the checkpoint, to name its variables in errors.

  Returns:
    The number of weights assigned (all of the model's).

  Raises:
    TF1CheckpointError naming every missing, extra and mis-shaped variable.
  """
  # Our paths without the model's own name (its first component).
  weights = {v.path.split("/", 1)[1]: v for v in model.weights}
  mapped, extra = {}, []
  for name in sorted(values):
    target = to_ours(name)
    if target is None or target[0] not in weights:
      extra.append(name)
    elif target[0] in mapped:
      extra.append(f"{name} (a second candidate for {mapped[target[0]][0]})")
    else:
      mapped[target[0]] = (name, target[1])
  missing = [to_original(p) for p in weights if p not in mapped]
  misshaped, converted = [], {}
  for path, (name, kind) in mapped.items():
    shape = weights[path].shape
    value = _convert(kind, np.asarray(values[name]), shape)
    if value is None:
      misshaped.append(f"{name}: {list(np.shape(values[name]))}, expected "
                       f"{_expected(kind, shape)}")
    converted[path] = value
  problems = [f"{label}:\n  " + "\n  ".join(items) for label, items in
              (("missing", missing), ("extra", extra), ("wrong shape", misshaped))
              if items]
  if problems:
    where = f" (names below scope {scope!r})" if scope else ""
    raise TF1CheckpointError(
        f"the checkpoint does not match the original model's variables as "
        f"inferred from it{where};\n" + "\n".join(problems))
  for path, value in converted.items():
    weights[path].assign(value.astype(weights[path].dtype))
  return len(converted)


def separator_from_tf1(checkpoint, sample_rate=16000, scope=None,
                       num_dilations=None, hop_size=None,
                       mixture_consistency="auto"):
  """Builds a `SeparationModel` holding a TF1 checkpoint's weights.

  Args: as `import_tf1`, without `out_dir`.

  Returns:
    (model, summary dict as `import_tf1` returns it, without 'output').
  """
  path, scope, values, not_read, step = read_model_variables(checkpoint, scope)
  shapes = {}
  for name, value in values.items():
    target = to_ours(name)
    if target is not None:
      shapes.setdefault(target[0], value.shape)
  architecture, assumed = infer_architecture(
      shapes, sample_rate, num_dilations, hop_size, mixture_consistency)
  model = build_separator(architecture)
  loaded = load_weights(model, values, scope)
  summary = dict(checkpoint=path, scope=scope, global_step=step,
                 sample_rate=int(sample_rate),
                 **{k: v for k, v in architecture.items() if k != "tdcn"},
                 **architecture["tdcn"], variables_loaded=loaded,
                 variables_not_read=not_read,
                 parameters=int(sum(math.prod(v.shape) for v in model.weights)),
                 assumed=assumed)
  return model, summary


def import_tf1(checkpoint, out_dir, sample_rate=16000, scope=None,
               num_dilations=None, hop_size=None, mixture_consistency="auto"):
  """Converts an original TF1 checkpoint into a model folder of this library.

  Writes `<out_dir>/separator.json` and `<out_dir>/checkpoints/ckpt-0` with
  `folders.save_separator` (load them with `folders.load_keras_separator`
  or use `out_dir` as a run's `init_checkpoint`), plus `tf1_import.json`,
  the returned summary, as a record of where the weights came from.

  Args:
    checkpoint: a TF1 checkpoint prefix (e.g. '.../model.ckpt-3223090') or a
      folder holding checkpoints (the latest is taken).
    out_dir: the model folder to write.
    sample_rate: Hz the model was trained at (16000; the bird models 22050).
    scope: the model's outer variable scope, if several models are present.
    num_dilations: blocks per repeat, if not the original's 8 and there are
      no skip residuals to tell.
    hop_size: in samples, if the window is not the original's 2.5 ms.
    mixture_consistency: 'auto', or the weighting the model was trained with
      ('predicted', 'uniform', 'magsq', None) when the checkpoint cannot tell.

  Returns:
    Summary dict: the checkpoint read, scope, global_step, the architecture
    (SeparationModel and TDCNPlusPlus arguments), variables_loaded,
    variables_not_read (optimizer state and any other scopes), parameters,
    assumed (sentences), output (the checkpoint prefix written).
  """
  model, summary = separator_from_tf1(checkpoint, sample_rate, scope,
                                      num_dilations, hop_size,
                                      mixture_consistency)
  summary["output"] = folders.save_separator(model, out_dir, sample_rate)
  filesystem.write_text(filesystem.join(out_dir, "tf1_import.json"),
                        json.dumps(summary, indent=1) + "\n")
  return summary
