"""Load, validate and resolve ``params.yaml``, the pipeline's one source of truth.

Validation happens before any job starts (Snakemake and DVC front ends and
every stage call :func:`load_params`), so a typo'd key or a wrong type stops
the run with a message naming the key and its line instead of failing an
hour later inside a training job.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import PurePosixPath, Path
from typing import Any
from urllib.parse import urlparse

import yaml

from . import checkpoints

SCALES = ("demo", "paper")
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "params.schema.yaml"


class ParamsError(ValueError):
    """params.yaml is malformed; the message names the file, key and line."""


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


# libyaml's parser where PyYAML was built with it: every job reads params.yaml (and the schema), and
# the pure-Python parser spends ~0.1 s on each; the constructor, hence the values, are the same.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UniqueKeyLoader(_SafeLoader):
    """A safe loader that refuses a mapping with the same key twice.

    Plain YAML loaders keep the last value silently, so a second
    ``learning_rate:`` further down a block would quietly override the first.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise _DuplicateKey(None, None, f"duplicate key {key!r} (first at line {first.line + 1}); "
                                        "YAML would keep only the last value: remove or rename one",
                                        key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def _key_lines(text: str) -> dict[tuple, int]:
    """Map each key path (tuple of keys / indices) to its 1-based line number."""
    lines: dict[tuple, int] = {}

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                p = path + (k.value,)
                lines[p] = k.start_mark.line + 1
                walk(v, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                p = path + (i,)
                lines[p] = v.start_mark.line + 1
                walk(v, p)

    root = yaml.compose(text, Loader=_SafeLoader)
    if root is not None:
        walk(root, ())
    return lines


def _dotted(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def is_scaled(value: Any) -> bool:
    """A ``{demo: X, paper: Y}`` pair (either key may be absent)."""
    return isinstance(value, dict) and bool(value) and set(value) <= set(SCALES)


def resolve(raw: dict, scale: str | None = None) -> dict:
    """Return a copy of ``raw`` with every scale pair replaced by its ``scale`` value.

    At paper scale with ``rehearsal.enabled``, the rehearsal caps are applied
    last (:func:`apply_caps`): every stage reads its values through here, so the
    rehearsal needs no code path of its own.  ``pretrain.source: published``
    is applied before them (:func:`compactbio.checkpoints.apply`), for the same reason.
    """
    scale = scale or raw.get("scale", "demo")

    def walk(v):
        if is_scaled(v):
            return walk(v.get(scale))
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    out = checkpoints.apply(walk(raw))
    rehearsal = out.get("rehearsal") or {}
    if scale == "paper" and rehearsal.get("enabled"):
        apply_caps(out, rehearsal.get("caps") or {})
    return out


def cap_targets(params: dict, pattern: str) -> list[tuple[dict, str]]:
    """``(parent, key)`` of every value a dotted cap pattern names; ``*`` matches any one key."""
    found = [params]
    parts = pattern.split(".")
    for part in parts[:-1]:
        found = [v for node in found if isinstance(node, dict)
                 for k, v in node.items() if part in ("*", k) and isinstance(v, dict)]
    last = parts[-1]
    return [(node, k) for node in found for k in node if last in ("*", k)]


def apply_caps(params: dict, caps: dict) -> None:
    """Cap the amount of work in place: a number becomes ``min(value, cap)``, a null ("no limit") the cap.

    Booleans, strings and lists are never capped, so a cap can shorten a run
    but not change what is computed.
    """
    for pattern, cap in caps.items():
        for parent, key in cap_targets(params, pattern):
            value = parent[key]
            if value is None:
                parent[key] = cap
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                parent[key] = type(value)(min(value, cap))


def load_schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return yaml.load(f, Loader=_SafeLoader)  # noqa: S506 (a safe loader)


def _schema_errors(raw: dict, path: Path, lines: dict) -> list[str]:
    import jsonschema

    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    id_pattern = schema["$defs"]["id"]["pattern"]
    messages = []
    for err in sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path))):
        where = tuple(err.absolute_path)
        if "propertyNames" in err.relative_schema_path:   # a bad key: name it and its own line
            where = where + (err.instance,)
        if err.validator == "additionalProperties":
            known = set(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - known) if isinstance(err.instance, dict) else []
            for key in extra:
                kp = where + (key,)
                messages.append(f"{path}:{lines.get(kp, '?')}: unknown key '{_dotted(kp)}'")
            continue
        if err.validator in ("oneOf", "anyOf") and err.context:
            # Report the most specific sub-error rather than "is not valid under any".
            best = min(err.context, key=lambda e: len(e.absolute_path) * -1)
        else:
            best = err
        msg = best.message
        if best.validator == "pattern" and best.validator_value == id_pattern:
            # ids become file names and words of shell commands: say what an id may hold
            msg = (f"{best.instance!r} is not a valid id (letters, digits, '_', '.' and '-', "
                   "starting with a letter or digit)")
        line = lines.get(where, lines.get(where[:-1], "?")) if where else "?"
        messages.append(f"{path}:{line}: '{_dotted(where)}': {msg}")
    return messages


def _reference_errors(raw: dict, path: Path, lines: dict) -> list[str]:
    """Cross-references the schema cannot express: every id used must be defined."""
    errors = []
    models = raw.get("models", {})
    datasets = raw.get("datasets", {})
    pre = raw.get("pretrain", {})

    def check(kp, value, known, what):
        if value not in known:
            errors.append(f"{path}:{lines.get(kp, '?')}: '{_dotted(kp)}': unknown {what} '{value}'")

    grid = raw.get("grid", {})
    for i, m in enumerate(grid.get("models", [])):
        check(("grid", "models", i), m, models, "model")
    for task in ("ner", "re", "qa"):
        for i, d in enumerate(grid.get(task, [])):
            check(("grid", task, i), d, datasets, "dataset")
    for name, cfg in datasets.items():
        check(("datasets", name, "source"), cfg.get("source"), raw.get("sources", {}), "source")
    obtained = {**pre.get("base", {}), **pre.get("distill", {}), **pre.get("continual", {})}
    for m in models:
        if m not in obtained:
            errors.append(f"{path}:{lines.get(('models', m), '?')}: 'models.{m}': "
                          "no entry under pretrain.base, pretrain.distill or pretrain.continual says how to obtain it")
    base = pre.get("base", {})
    starts = {m for m, cfg in base.items() if isinstance(cfg, dict) and cfg.get("init") is None}
    for b, cfg in base.items():   # one step only: the model continued must not continue another
        if isinstance(cfg, dict) and cfg.get("init") is not None:
            check(("pretrain", "base", b, "init"), cfg["init"], starts - {b}, "base model without an init")
    for s, cfg in pre.get("distill", {}).items():
        check(("pretrain", "distill", s, "teacher"), cfg.get("teacher"), pre.get("base", {}), "base model")
    for c, cfg in pre.get("continual", {}).items():
        check(("pretrain", "continual", c, "init"), cfg.get("init"), pre.get("base", {}), "base model")
    errors += checkpoints.errors(raw, path, lines)
    # Checked when the rehearsal is on: a user who replaced a source by a local `path:` need not
    # delete the download caps of a rehearsal they do not run.
    caps = ((raw.get("rehearsal") or {}).get("caps") or {}) if (raw.get("rehearsal") or {}).get("enabled") else {}
    paper = resolve({k: v for k, v in raw.items() if k != "rehearsal"}, "paper")
    for pattern, cap in caps.items():
        targets = cap_targets(paper, pattern)
        kp = ("rehearsal", "caps", pattern)
        if not targets:
            errors.append(f"{path}:{lines.get(kp, '?')}: 'rehearsal.caps.{pattern}': matches no key of params.yaml")
        elif any(isinstance(p[k], (bool, str, list, dict)) for p, k in targets):
            errors.append(f"{path}:{lines.get(kp, '?')}: 'rehearsal.caps.{pattern}': names a value that is "
                          "not a number or null (only amounts of work can be capped)")
    ft = raw.get("finetune") or {}
    for task, cfg in ft.items():
        if isinstance(cfg, dict) and isinstance(cfg.get("learning_rate_by_model"), dict):
            for m in cfg["learning_rate_by_model"]:
                check(("finetune", task, "learning_rate_by_model", m), m, models, "model")
    style = (raw.get("tables") or {}).get("style") or {}
    if isinstance(style, dict) and isinstance(style.get("dataset_names"), dict):
        for d in style["dataset_names"]:
            check(("tables", "style", "dataset_names", d), d, datasets, "dataset")
    errors += _path_errors(raw, path, lines)
    for t, cfg in raw.get("tables", {}).items():
        if not isinstance(cfg, dict) or t == "style":
            continue
        for i, m in enumerate(cfg.get("models", [])):
            check(("tables", t, "models", i), m, models, "model")
        if "reference" in cfg:
            check(("tables", t, "reference"), cfg["reference"], models, "model")
        for i, d in enumerate(cfg.get("datasets", [])):
            check(("tables", t, "datasets", i), d, datasets, "dataset")
        for i, ref in enumerate(cfg.get("tables", [])):
            check(("tables", t, "tables", i), ref, raw.get("tables", {}), "table")
    return errors


def _scale_values(value) -> list[tuple[tuple, Any]]:
    """``[((), v)]``, or ``[(("demo",), d), (("paper",), p)]`` for a scale pair."""
    if is_scaled(value):
        return [((k,), v) for k, v in value.items()]
    return [((), value)]


def _value_errors(raw: dict, path: Path, lines: dict) -> list[str]:
    """Values JSON schema cannot refuse: NaN anywhere, infinite or non-positive learning rates."""
    errors = []

    def walk(node, kp):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, kp + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, kp + (i,))
        elif isinstance(node, float) and not math.isfinite(node):
            lr = any(isinstance(k, str) and k.startswith("learning_rate") for k in kp)
            if math.isnan(node) or lr:
                line = lines.get(kp, lines.get(kp[:-1], "?"))
                what = "a learning rate must be a finite number > 0" if lr else "NaN is not a value"
                errors.append(f"{path}:{line}: '{_dotted(kp)}': {node!r}: {what}")

    walk(raw, ())
    return errors


def _path_errors(raw: dict, path: Path, lines: dict) -> list[str]:
    """Dataset paths stay inside the source's raw folder; sources download only http(s) URLs."""
    errors = []

    def inside(kp, value):
        p = PurePosixPath(str(value))
        if p.is_absolute() or ".." in p.parts or str(value).startswith("~") or "\\" in str(value):
            errors.append(f"{path}:{lines.get(kp, '?')}: '{_dotted(kp)}': {value!r} leaves the source's raw "
                          "folder; give a path relative to it (files elsewhere on disk: a `path:` source under "
                          "`sources`)")

    for name, cfg in (raw.get("datasets") or {}).items():
        if not isinstance(cfg, dict):
            continue
        for sk, v in _scale_values(cfg.get("path", ".")):
            if isinstance(v, str):
                inside(("datasets", name, "path") + sk, v)
        files = cfg.get("files")
        if isinstance(files, dict):
            for fk, fv in files.items():
                for sk, v in _scale_values(fv):
                    if isinstance(v, str):
                        inside(("datasets", name, "files", fk) + sk, v)

    def url(kp, value):
        if isinstance(value, str) and urlparse(value).scheme.lower() not in ("http", "https"):
            errors.append(f"{path}:{lines.get(kp, '?')}: '{_dotted(kp)}': {value!r}: only http:// and https:// "
                          "URLs are downloaded; for files already on disk use a `path:` source")

    for name, entry in (raw.get("sources") or {}).items():
        for sk, spec in _scale_values(entry):
            if not isinstance(spec, dict):
                continue
            base = ("sources", name) + sk
            if "url" in spec:
                url(base + ("url",), spec["url"])
            for i, item in enumerate(spec.get("files") or []):
                if isinstance(item, dict) and "url" in item:
                    url(base + ("files", i, "url"), item["url"])
            pb = spec.get("pubmed_baseline")
            if isinstance(pb, dict) and "url" in pb:
                url(base + ("pubmed_baseline", "url"), pb["url"])
    return errors


def _errors(raw: dict, path: Path, lines: dict) -> list[str]:
    errors = _schema_errors(raw, path, lines) + _value_errors(raw, path, lines)
    return errors or _reference_errors(raw, path, lines)


def load_params(path: str | Path = "params.yaml", validate: bool = True) -> dict:
    """Read and validate params.yaml; return the raw (unresolved) dict, ``pretrain.source`` applied."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    try:
        raw = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as exc:
        raise ParamsError(f"invalid parameters:\n  {path}:{exc.problem_mark.line + 1}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    if validate:
        errors = _errors(raw, path, {})
        if errors:   # again with each key's line (a second parse, paid only by a bad file)
            raise ParamsError("invalid parameters:\n  " + "\n  ".join(_errors(raw, path, _key_lines(text))))
    # pretrain.source: published moves the compact models to pretrain.base here, so the job graph
    # (which reads these raw params) sees them as hub models.
    return checkpoints.apply(raw)


def load_resolved(path: str | Path = "params.yaml") -> dict:
    return resolve(load_params(path))


def lookup(params: dict, dotted: str) -> Any:
    """``lookup(p, "finetune.ner")`` -> ``p["finetune"]["ner"]``."""
    node: Any = params
    for part in dotted.split("."):
        node = node[part]
    return node


def params_hash(obj: Any) -> str:
    """Stable short hash of a params subtree, recorded in model cards and checkpoints."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
