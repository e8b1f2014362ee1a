"""Imports flow one way through the package (docs/architecture.md, "Package map").

Every module of `sound_separation` is parsed (not imported) and each of its
imports of the package, at module level or inside a function, is checked
against the order below: a module may import its own subpackage and anything
earlier in the list, never anything later.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "sound_separation"

# Lowest first. `_tf_check`, `lazy`, `quiet` (native notices off stderr), `checks`, `gin_utils`,
# `filesystem`, `run_folder` (every path of a model or run folder) and `protocol` (what every
# separator offers) are the package's plumbing;
# `pretrained` is the shipped model folder beside the model-folder format;
# `corpus` builds on disk what `data` reads.
ORDER = ("_tf_check", "lazy", "quiet", "checks", "gin_utils", "filesystem", "run_folder",
         "protocol", "layers", "losses", "models", "pretrained", "data", "corpus", "evaluation",
         "training", "inference",
         "study", "adaptation", "prepare", "demo", "cli", "__main__")


def _module_name(path, root):
  parts = list(path.relative_to(root.parent).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return parts


def package_imports(path, root):
  """`[(line, 'sound_separation.x.y')]`: the package imports of one file."""
  me = _module_name(path, root)
  is_package = path.name == "__init__.py"
  found = []
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      found += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      if node.level:
        base = me if is_package else me[:-1]
        base = base[:len(base) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
      else:
        module = node.module
      if module == root.name:
        # `from sound_separation import training` names a subpackage.
        found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
      else:
        found.append((node.lineno, module))
  return [(line, name) for line, name in found
          if name == root.name or name.startswith(root.name + ".")]


def upward_imports(root=PACKAGE):
  """Every import against `ORDER` in the package at `root`, as messages."""
  rank = {name: i for i, name in enumerate(ORDER)}
  problems = []
  for path in sorted(root.rglob("*.py")):
    me = _module_name(path, root)
    if len(me) < 2:
      continue  # the package's __init__ imports only _tf_check (checked below)
    if me[1] not in rank:
      problems.append(f"{path}: {me[1]!r} has no place in ORDER")
      continue
    for line, name in package_imports(path, root):
      target = name.split(".")
      if len(target) < 2:
        problems.append(f"{path}:{line}: imports the package root")
      elif target[1] not in rank:
        problems.append(f"{path}:{line}: imports {name}, which has no place in ORDER")
      elif rank[target[1]] > rank[me[1]]:
        problems.append(f"{path}:{line}: {me[1]} imports {name} (later in ORDER)")
  return problems


def _file_of(name, root):
  """The file of module `sound_separation.x.y` under `root`, or None."""
  base = root.parent.joinpath(*name.split("."))
  for candidate in (base.with_suffix(".py"), base / "__init__.py"):
    if candidate.is_file():
      return candidate
  return None


def import_graph(root=PACKAGE):
  """`{file: {files it imports}}` within the package; `from a import b` leads to module b if b is one."""
  graph = {}
  for path in sorted(root.rglob("*.py")):
    me = _module_name(path, root)
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      if isinstance(node, ast.Import):
        targets.update(_file_of(alias.name, root) for alias in node.names)
      elif isinstance(node, ast.ImportFrom):
        module = node.module
        if node.level:
          base = me if path.name == "__init__.py" else me[:-1]
          module = ".".join(base[:len(base) - node.level + 1] + ([module] if module else []))
        for alias in node.names:
          targets.add(_file_of(f"{module}.{alias.name}", root) or _file_of(module, root))
    targets.discard(None)
    targets.discard(path)
    graph[path] = targets
  return graph


def import_circles(root=PACKAGE):
  """Circles of files importing each other (at any depth, inside functions too), as names."""
  graph = import_graph(root)
  index, low, stack, on_stack, circles = {}, {}, [], set(), []

  def visit(node):  # Tarjan's strongly connected components
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for target in graph.get(node, ()):
      if target not in index:
        visit(target)
        low[node] = min(low[node], low[target])
      elif target in on_stack:
        low[node] = min(low[node], index[target])
    if low[node] == index[node]:
      component = []
      while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == node:
          break
      if len(component) > 1:
        circles.append(sorted(p.relative_to(root).as_posix() for p in component))

  for node in graph:
    if node not in index:
      visit(node)
  return sorted(circles)


def test_no_module_imports_itself_through_others():
  assert import_circles() == []


def test_a_planted_import_circle_is_found(tmp_path):
  root = tmp_path / "sound_separation"
  (root / "inference").mkdir(parents=True)
  (root / "__init__.py").write_text("")
  (root / "inference" / "__init__.py").write_text("")
  (root / "inference" / "a.py").write_text("from sound_separation.inference import b\n")
  (root / "inference" / "b.py").write_text(
      "def f():\n  from sound_separation.inference import c\n")
  (root / "inference" / "c.py").write_text("import sound_separation.inference.a\n")
  (root / "inference" / "d.py").write_text("from sound_separation.inference import a\n")
  assert import_circles(root) == [["inference/a.py", "inference/b.py", "inference/c.py"]]


def test_every_subpackage_has_a_place():
  names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
           if (p.is_file() and p.suffix == ".py" and p.name != "__init__.py")
           or (p.is_dir() and (p / "__init__.py").exists())}
  assert names == set(ORDER)


def test_no_import_goes_up():
  assert upward_imports() == []


def test_package_root_imports_only_the_tf_check_and_its_lazy_exports():
  names = [name for _, name in package_imports(PACKAGE / "__init__.py", PACKAGE)]
  assert names == ["sound_separation._tf_check", "sound_separation.lazy"]


@pytest.mark.parametrize("where, statement", [
    ("layers/planted.py", "from sound_separation import losses\n"),
    ("models/planted.py", "def f():\n  from sound_separation.training import loop\n"),
    ("data/planted.py", "import sound_separation.evaluation.metrics\n"),
    ("evaluation/planted.py", "from ..inference import separate\n"),
    ("losses/sub/planted.py", "from ...models import classifier\n"),
])
def test_a_planted_upward_import_is_found(tmp_path, where, statement):
  root = tmp_path / "sound_separation"
  for folder in ("layers", "models", "data", "evaluation", "losses", "losses/sub"):
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / "__init__.py").write_text("")
  (root / "__init__.py").write_text("")
  (root / "layers" / "ok.py").write_text("from sound_separation import gin_utils\n")
  (root / where).write_text(statement)
  problems = upward_imports(root)
  assert len(problems) == 1 and where in problems[0] and "later in ORDER" in problems[0]


def test_downward_and_sibling_imports_are_allowed(tmp_path):
  root = tmp_path / "sound_separation"
  (root / "training").mkdir(parents=True)
  (root / "__init__.py").write_text("")
  (root / "training" / "__init__.py").write_text("from . import loop\n")
  (root / "training" / "loop.py").write_text(
      "from sound_separation.layers import tdcn\nfrom . import trainer\n"
      "def f():\n  from sound_separation import evaluation\n")
  assert upward_imports(root) == []


# Files the package opens itself, and why `filesystem` cannot do it for them.
BARE_FILE_ACCESS = {
    "filesystem.py": "the one place that opens files",
    "pretrained/registry.py": "its per-model lock file needs a real descriptor for fcntl.flock",
    "pretrained/download.py": "streams HTTP downloads into the local cache: append by range, "
                              "MD5 by blocks",
    "training/child_runs.py": "reads a running child's CPU seconds from /proc/PID/stat, a kernel "
                              "file that reports size 0, which tf.io.gfile reads as empty",
}


def bare_file_access(root=PACKAGE):
  """`[(file, line)]` of builtin `open(...)` calls and `tf.io.gfile` uses outside the allow-list."""
  found = []
  for path in sorted(root.rglob("*.py")):
    relative = path.relative_to(root).as_posix()
    if relative in BARE_FILE_ACCESS:
      continue
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
        found.append((relative, node.lineno))
      elif (isinstance(node, ast.Attribute) and node.attr == "gfile"
            and isinstance(node.value, ast.Attribute) and node.value.attr == "io"):
        found.append((relative, node.lineno))
  return found


def test_every_file_access_goes_through_filesystem():
  assert bare_file_access() == []


def test_a_planted_bare_open_is_found(tmp_path):
  (tmp_path / "data").mkdir()
  (tmp_path / "data" / "planted.py").write_text(
      "import tensorflow as tf\n\ndef f(p):\n  with open(p) as g:\n    return g.read()\n\n"
      "def h(p):\n  return tf.io.gfile.exists(p)\n")
  assert bare_file_access(tmp_path) == [("data/planted.py", 4), ("data/planted.py", 8)]


def paths_built_outside_run_folder(root=PACKAGE):
  """`[(file, line, name)]`: a run folder's file or folder name joined into a path elsewhere."""
  from sound_separation import run_folder  # pylint: disable=import-outside-toplevel
  names = {value for key, value in vars(run_folder).items()
           if key.isupper() and isinstance(value, str)}
  found = []
  for path in sorted(root.rglob("*.py")):
    relative = path.relative_to(root).as_posix()
    if relative == "run_folder.py":
      continue
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      if (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
          and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
          in ("join", "_join")):
        found += [(relative, node.lineno, arg.value) for arg in node.args
                  if isinstance(arg, ast.Constant) and arg.value in names]
  return found


def test_only_run_folder_names_the_paths_of_a_run_folder(tmp_path):
  assert paths_built_outside_run_folder() == []
  (tmp_path / "training").mkdir()
  (tmp_path / "training" / "planted.py").write_text(
      "import os\n\ndef f(d):\n  return os.path.join(d, 'checkpoints', 'best')\n")
  assert paths_built_outside_run_folder(tmp_path) == [
      ("training/planted.py", 4, "checkpoints"), ("training/planted.py", 4, "best")]
