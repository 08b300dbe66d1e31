"""Models from users' files, modules and installed packages; protocols from TOML files.

Loading a model file runs its code, as importing any Python module does: only load files
you trust. Every model registered while a file or module loads records where it came from
and the SHA-256 of that file, and both enter the model's fingerprint in config.json.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import math
import os
import sys
import traceback
from pathlib import Path

from bench.models import registry as models
from bench.errors import BenchError
from bench.protocol import (BUILTIN, OPTIMIZERS, REFERENCE_RESULT_KEYS, REFERENCE_SETUP_KEYS, Phase, Protocol,
                            TrainSpec, get_profile, spec_for)

ENTRY_POINT_GROUP = "bench.models.registry"
MODELS_ENV = "BENCH_MODELS_FROM"


def load_models_from(where: str, *, debug: bool = False) -> list[str]:
    """Import a `.py` file or an importable module; returns the names of the models it registered."""
    path = Path(where)
    if where.endswith(".py") or path.exists():
        if not path.is_file():
            kind = "a folder; name the .py file in it" if path.is_dir() else \
                ("not a regular file" if path.exists() else "no such file")
            raise BenchError(f"--models-from {where}: {kind}")
        resolved = path.resolve()
        source = {"kind": "file", "path": path.name, "sha256": models.sha256_file(resolved)}
        # One module name per file content: loading the same file twice is a no-op, never a clash.
        name = f"bench_user_models_{source['sha256'][:12]}"
        if name in sys.modules:
            return [e.name for e in models.entries() if e.source == source]
        spec = importlib.util.spec_from_file_location(name, resolved)
        if spec is None or spec.loader is None:
            raise BenchError(f"--models-from {where}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        return _run_registration(lambda: (sys.modules.__setitem__(name, module), spec.loader.exec_module(module)),
                                 source, label=str(path), user_file=resolved, debug=debug, module_name=name)
    try:
        found = importlib.util.find_spec(where)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise BenchError(f"--models-from {where}: neither a .py file nor an importable module")
    origin = Path(found.origin) if found.origin and found.origin not in ("built-in", "frozen") else None
    source = {"kind": "module", "module": where,
              "sha256": models.sha256_file(origin) if origin and origin.is_file() else None}
    return _run_registration(lambda: importlib.import_module(where), source, label=where, user_file=origin,
                             debug=debug)


def load_entry_points(*, debug: bool = False) -> list[str]:
    """Models of installed packages that declare the `bench.models.registry` entry-point group."""
    from importlib.metadata import entry_points

    names = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        module = ep.value.split(":", 1)[0]
        found = importlib.util.find_spec(module) if module else None
        origin = Path(found.origin) if found is not None and found.origin else None
        source = {"kind": "entry point", "module": ep.value, "entry_point": ep.name,
                  "sha256": models.sha256_file(origin) if origin and origin.is_file() else None}
        names += _run_registration(ep.load, source, label=f"entry point {ep.name} ({ep.value})", user_file=origin,
                                   debug=debug)
    return names


def _run_registration(load, source: dict, *, label: str, user_file: Path | None, debug: bool,
                      module_name: str | None = None) -> list[str]:
    before = models.snapshot()
    models.loading_from(source)
    try:
        load()
    except BenchError as exc:
        _restore(before, module_name)
        message = exc.message
        raise BenchError(message if Path(label).name in message else f"{label}: {message}") from None
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # the user's code can raise anything
        _restore(before, module_name)
        if debug:
            raise
        line = _user_line(exc, user_file)
        raise BenchError(f"{label}{line} failed to import: {type(exc).__name__}: {exc} "
                         "(--debug shows the full traceback)") from None
    finally:
        models.loading_from(None)
    added = [e.name for e in models.entries() if before.get(e.name) is not e]
    if not added:
        raise BenchError(f"{label} registered no model; decorate a builder with "
                         "@bench.register_model(name, title=..., description=..., convolutional=...)")
    return added


def _restore(registry: dict, module_name: str | None) -> None:
    models.restore(registry)
    if module_name:
        sys.modules.pop(module_name, None)


def _user_line(exc: BaseException, user_file: Path | None) -> str:
    """' (line N)' of the deepest frame in the user's file, or of a SyntaxError."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f", line {exc.lineno},"
    frames = traceback.extract_tb(exc.__traceback__)
    if user_file is not None:
        mine = [f for f in frames if Path(f.filename).resolve() == Path(user_file).resolve()]
        if mine:
            return f", line {mine[-1].lineno},"
    return ""


# ----------------------------------------------------------------------------- protocol files

SPEC_FIELDS = {f.name: f for f in dataclasses.fields(TrainSpec) if f.name != "model"}
TOP_LEVEL = ("study", "models", "reference")
REFERENCE_KEYS = (*REFERENCE_RESULT_KEYS, *REFERENCE_SETUP_KEYS)


def load_protocol(path: Path | None, *, base: Protocol = BUILTIN) -> Protocol:
    """The built-in protocol with a TOML file's tables applied (see README, "Your own models and protocols")."""
    if path is None:
        return base
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    path = Path(path)
    raw = read_user_file(path, option="--protocol", limit=PROTOCOL_MAX_BYTES)
    if raw.startswith(b"\xef\xbb\xbf"):
        raise BenchError(f"--protocol {path}: starts with a UTF-8 byte-order mark, which TOML does not allow; "
                         "save it as UTF-8 without BOM")
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BenchError(f"--protocol {path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                         "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise BenchError(f"{path}: nested too deeply to read; a protocol file needs at most three levels "
                         "([models.NAME] and its phases)") from None
    unknown = sorted(set(doc) - set(TOP_LEVEL))
    if unknown:
        raise BenchError(f"{path}: unknown key {unknown[0]!r}; the top level takes: {', '.join(TOP_LEVEL)}")
    known = models.model_names()
    specs = dict(base.specs)
    tables = _table(doc.get("models", {}), f"{path}: [models]")
    for name, table in tables.items():
        if name not in known:
            raise BenchError(f"{path}: [models.{name}] names an unknown model; choose one of: {', '.join(known)} "
                             "(plug in your own with --models-from)")
        table = _table(table, f"{path}: [models.{name}]")
        start = specs.get(name) or dataclasses.replace(spec_for(name, get_profile("full"), protocol=base), note="")
        specs[name] = dataclasses.replace(start, **_spec_values(table, where=f"{path}: [models.{name}]"))
        check_used(specs[name], table, where=f"{path}: [models.{name}]")
    study = doc.get("study", list(base.study))
    if not isinstance(study, list) or not study or not all(isinstance(m, str) for m in study):
        raise BenchError(f"{path}: 'study' must be a non-empty list of model names")
    for name in study:
        if name not in known:
            raise BenchError(f"{path}: study names an unknown model {name!r}; choose from: {', '.join(known)}")
    if len(set(study)) != len(study):
        raise BenchError(f"{path}: study lists a model twice")
    reference = dict(base.reference)
    for name, table in _table(doc.get("reference", {}), f"{path}: [reference]").items():
        if name not in known:
            raise BenchError(f"{path}: [reference.{name}] names an unknown model; choose one of: {', '.join(known)}")
        reference[name] = _reference_values(_table(table, f"{path}: [reference.{name}]"),
                                            where=f"{path}: [reference.{name}]")
    return Protocol(specs=specs, study=tuple(study), reference=reference,
                    source={"kind": "file", "path": path.name, "sha256": hashlib.sha256(raw).hexdigest()})


# A protocol file is a few tables; anything larger is not one (and is not read whole into memory).
PROTOCOL_MAX_BYTES = 1 << 20


def read_user_file(path: Path, *, option: str, limit: int) -> bytes:
    """The bytes of a file the user named: a regular file (not a folder, FIFO or device) of at most `limit`
    bytes, or one BenchError naming the option and saying what to give instead."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise BenchError(f"{option} {path}: no such file") from None
    except OSError as exc:
        raise BenchError(f"{option} {path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISDIR(mode):
        raise BenchError(f"{option} {path}: a folder; name a file in it")
    if not stat.S_ISREG(mode):
        raise BenchError(f"{option} {path}: not a regular file (a FIFO, socket or device); name a file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise BenchError(f"{option} {path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > limit:
        raise BenchError(f"{option} {path}: larger than {limit // 1024} KiB, too large for what it should hold; "
                         "check that it is the right file")
    return raw


def check_used(spec: TrainSpec, table: dict, *, where: str) -> None:
    """Refuse a value the chosen optimizer ignores: it would be recorded, and described, without being used."""
    if spec.optimizer != "sgd" and spec.momentum != 0:
        given = "momentum" in table
        raise BenchError(f"{where}: momentum = {spec.momentum:g} has no effect with optimizer {spec.optimizer!r} "
                         f"(only SGD uses it); {'remove momentum' if given else 'set momentum = 0'} "
                         "or choose optimizer = \"sgd\"")


def _table(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise BenchError(f"{where} must be a table")
    return value


def _is_number(value) -> bool:
    """A finite number (TOML also has nan and inf, which no setting here accepts)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _spec_values(table: dict, *, where: str) -> dict:
    """Check each key and value of a [models.NAME] table; returns TrainSpec fields."""
    out = {}
    for key, value in table.items():
        if key not in SPEC_FIELDS:
            raise BenchError(f"{where}: unknown field {key!r}; legal fields: {', '.join(SPEC_FIELDS)}")
        out[key] = _check_field(key, value, where)
    return out


def _reference_values(table: dict, *, where: str) -> dict:
    """Check a [reference.NAME] table: the study's published accuracy and loss (either may be left out), and how it
    trained (bench.protocol.REFERENCE_SETUP_KEYS), where a phase may leave out an unpublished lr and
    backbone_lr_scale may be "lower" (lower than the head's, by a factor not published)."""
    bad = sorted(set(table) - set(REFERENCE_KEYS))
    if bad:
        raise BenchError(f"{where} has unknown key {bad[0]!r}; legal: {', '.join(REFERENCE_KEYS)}")
    out = {}
    for key in (k for k in REFERENCE_RESULT_KEYS if k in table):
        value = table[key]
        if not _is_number(value) or value < 0 or (key == "accuracy" and value > 1):
            raise BenchError(f"{where} {key} must be a number" + (" between 0 and 1" if key == "accuracy" else " >= 0"))
        out[key] = float(value)
    if "optimizer" in table:
        out["optimizer"] = _check_field("optimizer", table["optimizer"], where)
    if "phases" in table:
        # The spec's check, with an unpublished rate standing in for a missing one.
        phases = table["phases"]
        if (not isinstance(phases, list) or not phases
                or not all(isinstance(p, dict) and "epochs" in p and set(p) <= {"lr", "epochs"} for p in phases)):
            raise BenchError(f"{where}: phases = {phases!r} is not allowed; expected a non-empty list of "
                             "{lr = ..., epochs = ...} tables, lr left out where the study did not publish it")
        # The spec's check of each phase, a valid stand-in rate where the study published none.
        for p in phases:
            try:
                _check_field("phases", [{"lr": 1.0, **p}], where)
            except BenchError as exc:
                raise BenchError(f"{where}: phase {p!r} is not allowed; {str(exc).partition('; ')[2]}") from None
        out["phases"] = [{"lr": float(p["lr"]), "epochs": p["epochs"]} if "lr" in p else {"epochs": p["epochs"]}
                         for p in phases]
    if "backbone_lr_scale" in table:
        value = table["backbone_lr_scale"]
        if value != "lower" and (not _is_number(value) or not 0 <= value <= 10):
            raise BenchError(f"{where}: backbone_lr_scale = {value!r} is not allowed; expected a number from 0 "
                             "to 10, or \"lower\" (lower than the head's rate, by a factor not published)")
        out["backbone_lr_scale"] = value if value == "lower" else float(value)
    return out


def _check_field(key: str, value, where: str):
    def bad(expect: str):
        return BenchError(f"{where}: {key} = {value!r} is not allowed; expected {expect}")

    if key == "optimizer":
        if value not in OPTIMIZERS:
            raise bad(f"one of: {', '.join(OPTIMIZERS)}")
        return value
    if key == "phases":
        if not isinstance(value, list) or not value:
            raise bad("a non-empty list of {lr = ..., epochs = ...} tables")
        phases = []
        for p in value:
            if not isinstance(p, dict) or set(p) != {"lr", "epochs"}:
                raise bad("tables with exactly the keys lr and epochs")
            if not _is_number(p["lr"]) or not 0 < p["lr"] <= 10:
                raise bad("learning rates in (0, 10]")
            if not isinstance(p["epochs"], int) or isinstance(p["epochs"], bool) or not 1 <= p["epochs"] <= 1000:
                raise bad("epochs as whole numbers from 1 to 1000")
            phases.append(Phase(float(p["lr"]), int(p["epochs"])))
        return tuple(phases)
    if key in ("weight_decay", "momentum", "backbone_lr_scale"):
        limits = {"weight_decay": (0, 1, "a number from 0 to 1"), "momentum": (0, 0.999, "a number from 0 to 0.999"),
                  "backbone_lr_scale": (0, 10, "a number from 0 to 10")}[key]
        if not _is_number(value) or not limits[0] <= value <= limits[1]:
            raise bad(limits[2])
        return float(value)
    if key == "batch_size":
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65536:
            raise bad("a whole number from 1 to 65536")
        return value
    if key == "augment":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if key == "note":
        # The report prints it as a sentence: one line, no control characters, of a readable length.
        if not isinstance(value, str) or not value.isprintable() or len(value) > 500:
            raise bad("one line of text (at most 500 characters, no control characters or newlines)")
        return value
    raise AssertionError(f"TrainSpec field {key} has no check")  # a new field needs one here


def protocol_toml(protocol: Protocol, names: list[str]) -> str:
    """The active protocol as a TOML file that `--protocol` reads back unchanged."""
    import tomli_w

    doc = {"study": list(protocol.study), "models": {}, "reference": {}}
    for name in names:
        spec = spec_for(name, get_profile("full"), protocol=protocol).to_dict()
        spec.pop("model")
        spec.pop("epochs")
        doc["models"][name] = spec
    doc["reference"] = {m: protocol.reference[m] for m in names if m in protocol.reference}
    source = protocol.source.get("path", "the built-in study")
    header = (f"# bench protocol: {source}\n# Edit and pass back with --protocol FILE.toml; keys of [models.NAME] are "
              f"TrainSpec fields: {', '.join(SPEC_FIELDS)}.\n\n")
    return header + tomli_w.dumps(doc)


def activate(models_from: tuple[str, ...] | list[str], protocol_file: Path | None, *, debug: bool = False) -> Protocol:
    """Load entry points and --models-from sources, then the protocol file (which may name their models)."""
    load_entry_points(debug=debug)
    for where in models_from:
        load_models_from(where, debug=debug)
    return load_protocol(protocol_file)


def env_models_from() -> list[str]:
    return [p for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
