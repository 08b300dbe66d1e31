"""The reporting stage: artifacts in, self-contained HTML and PDF out.

Reads only the artifacts directory (plus, optionally, the CIFAR-10 test images for the
gallery of confident mistakes). The numbers come from `bench.analysis`; this module turns
them and the run's own records (manifest, dataset.json, each config.json) into the values
the templates print, so that no protocol fact is written into a template.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import os
import shlex
import time
from pathlib import Path

import numpy as np

from . import ARTIFACT_FORMAT, __version__
from . import artifacts as art
from . import plots, stats
from .analysis import (ALPHA, METHODS, OPTIMIZER_NAMES, PRETRAINED_MODELS, analyse,  # noqa: F401  (analyse re-exported)
                       study_kwargs)
from .errors import BenchError
from .protocol import REFERENCE
from .rundir import Artifacts, SeedRun, load_artifacts  # noqa: F401  (re-exported)
from report_templates import TEMPLATES_DIR

OUT_EXTENSIONS = (".pdf", ".html")


def check_out_path(out: Path, *, pending_dir: Path | None = None) -> Path:
    """Fail early on an --out that cannot be written: bad extension, missing or read-only folder.

    `pending_dir` is a folder that the command itself creates before it writes the report
    (`bench all`'s run directory); a report inside it passes.
    """
    out = Path(out)
    if out.suffix.lower() not in OUT_EXTENSIONS:
        raise BenchError(f"--out must end in {' or '.join(OUT_EXTENSIONS)}, got {out.name!r}")
    parent = out.parent if str(out.parent) else Path(".")
    if pending_dir is not None and parent.resolve() == Path(pending_dir).resolve() and not parent.exists():
        return out
    if not parent.is_dir():
        blocker = next((p for p in [parent, *parent.parents] if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise BenchError(f"cannot write {out}: {blocker} is a file, not a folder")
        raise BenchError(f"cannot write {out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise BenchError(f"cannot write {out}: folder {parent} is not writable")
    if out.exists() and out.is_dir():
        raise BenchError(f"cannot write {out}: it is a directory")
    return out


# ----------------------------------------------------------------------------- rendering


def _data_uri(data: bytes) -> str:
    """A figure as a data: URI: SVG (the charts) or PNG (the photographs), told apart by their bytes.

    Charts are SVG drawn at their printed size (bench/plots.py) and the stylesheet never scales
    them; PNGs print at plots.DPI (style.css, image-resolution).
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        mime = "image/png"
    elif b"<svg" in data[:4096]:
        mime = "image/svg+xml"
    else:
        raise ValueError("a figure must be PNG or SVG bytes")
    return f"data:{mime};base64," + base64.b64encode(data).decode()


figure_uri = _data_uri


def _mistake_gallery(run: SeedRun, classes: list[str], test_images: np.ndarray | None, k: int = 16):
    if test_images is None:
        return None
    y, pred, logits = run.predictions["labels"], run.predictions["predicted"], run.predictions["logits"]
    if len(y) > len(test_images):
        return None
    conf = stats.softmax(logits).max(1)
    wrong = np.flatnonzero(pred != y)
    top = wrong[np.argsort(-conf[wrong], kind="stable")][:k]
    captions = [f"{classes[y[i]]}\n→ {classes[pred[i]]}\n{conf[i]:.0%}" for i in top]
    return _data_uri(plots.mistakes_png(test_images[top], captions)) if len(top) else None


def _load_test_images(data_dir: Path | None) -> tuple[np.ndarray | None, str]:
    from .data import BASE_FOLDER, TEST_FILES, _read_batches

    if data_dir is None:
        return None, "no --data-dir given, so the gallery of confident mistakes is left out"
    folder = Path(data_dir) / BASE_FOLDER
    if not (folder / TEST_FILES[0]).exists():
        return None, f"CIFAR-10 test images not found under {data_dir}, so the gallery is left out"
    try:
        images, _ = _read_batches(folder, TEST_FILES)
    except BenchError as exc:
        return None, f"the test images could not be read ({exc}), so the gallery is left out"
    return images, ""


def build_context(artifacts: Artifacts, summary: dict, *, title: str | None, author: str, affiliation: str,
                  data_dir: Path | None) -> dict:
    classes = summary["classes"]
    test_images, gallery_note = _load_test_images(data_dir)
    data = _data_facts(artifacts)
    weights = _weights(artifacts)
    models = []
    f1_table = {}
    reliability = {}
    for name in artifacts.models():
        runs = artifacts.of(name)
        entry = summary["models"][name]
        cfg = runs[0].config
        spec = cfg["compute"]["spec"]
        phase_starts = list(itertools.accumulate(p["epochs"] for p in spec["phases"]))[:-1]
        phase_starts = [s + 1 for s in phase_starts]
        histories = [r.history for r in runs if r.history]
        own = [d for d in summary["departures"] if name in d["models"]]
        m = {"name": name, "number": len(models) + 2, "title": entry["title"], "entry": entry, "config": cfg,
             "spec": spec, "runs": runs, "diverged": [r.seed for r in runs if r.status == "diverged"],
             "incomplete": [r.seed for r in runs if r.status == "incomplete"],
             "n_complete": len(entry["complete_seeds"]), "departures": own,
             "protocol_rows": _protocol_rows(name, cfg, data, weights.get(name), own),
             "description": _description(name, cfg, weights.get(name)),
             "weights": weights.get(name)}
        if histories:
            m["curves"] = _data_uri(plots.learning_curves_svg(histories, phase_starts=phase_starts))
        if "confusion" in entry:
            cm = np.array(entry["confusion"]["counts"])
            seed = entry["confusion"]["seed"]
            m["confusion_png"] = _data_uri(plots.confusion_svg(cm, classes, note=f"seed {seed}"))
            f1_table[entry["title"]] = {c: entry["per_class"][c]["f1-score"]["mean"] for c in classes}
            reliability[entry["title"]] = entry["calibration"]
            first = next(r for r in runs if r.status == "complete")
            m["gallery"] = _mistake_gallery(first, classes, test_images)
            m["gallery_seed"] = first.seed
        models.append(m)
    manifest = artifacts.manifest
    files = []
    for path in sorted(p for p in artifacts.root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = path.relative_to(artifacts.root)
        # Reports written into the run directory are outputs of this stage, not artifacts.
        if len(rel.parts) == 1 and rel.name.endswith((".pdf", ".html", ".summary.json", ".lock")):
            continue
        files.append({"path": str(rel), "bytes": path.stat().st_size, "sha256": art.sha256_file(path)})
    run = _run_record(artifacts, models)
    augmented = [m["title"] for m in models if m["spec"].get("augment", True)]
    plain = [m["title"] for m in models if not m["spec"].get("augment", True)]
    return {
        "title": title or "CIFAR-10 classifiers: a reproducible benchmark",
        "author": author, "affiliation": affiliation,
        # When the training finished, not today: the same artifacts give the same report.
        "date": run["date"] or "",
        "summary": summary, "models": models, "classes": classes, "dataset": artifacts.dataset, "data": data,
        "run": run, "weights": weights, "comparison": _comparison_facts(summary),
        "augmentation": _augmentation_text(data),
        "augmented": {"all": bool(augmented) and not plain, "some": _join(augmented), "none": _join(plain)},
        "pair_index": {f"{p['a']}|{p['b']}": p for p in summary["pairs"]},
        "transfer": _transfer_facts(summary, models, data), "optimisers": _optimiser_facts(models),
        "samples": _data_uri(artifacts.samples_png) if artifacts.samples_png else None,
        "manifest": manifest,
        "f1_chart": _data_uri(plots.per_class_f1_svg(f1_table, classes)) if len(f1_table) else None,
        "reliability": _data_uri(plots.reliability_svg(reliability)) if reliability else None,
        "conf": f"{100 * stats.CONFIDENCE:g} %",
        "gallery_note": gallery_note, "ece_bins": stats.ECE_BINS, "files": files, "reference": REFERENCE,
        "bench_version": __version__, "artifact_format": ARTIFACT_FORMAT,
    }


# ----------------------------------------------------------------------------- facts for the templates
# Everything a sentence states about the run is prepared here from the run's own records, with
# the fallbacks that older artifacts need, so that the templates (StrictUndefined) print values only.


def _num(value) -> str:
    """A protocol number as written by hand: 0.1, 0.0005, 1e-05."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def _join(items: list[str], last: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def _data_facts(artifacts: Artifacts) -> dict:
    """The data as this run used it: dataset.json first, each config's recorded sizes second."""
    ds = artifacts.dataset
    shapes = ds.get("shapes", {})
    configs = [artifacts.of(m)[0].config for m in artifacts.models()]
    compute = configs[0].get("compute", {}) if configs else {}
    sizes = {k: int(shapes[k][0]) for k in ("train", "val", "test") if shapes.get(k)}
    for k, v in (compute.get("sizes") or {}).items():
        sizes.setdefault(k, int(v))
    shape = next((shapes[k] for k in ("train_file", "train", "test") if len(shapes.get(k) or []) == 4), None)
    profile = compute.get("profile") or artifacts.manifest.get("profile") or {}
    # A profile's limits matter only where they bind: the split holds exactly that many images.
    limits = [profile.get(f"{k}_limit") if profile.get(f"{k}_limit") == sizes.get(k) else None
              for k in ("train", "val", "test")]
    aug = ds.get("augmentation") or {}
    checksums = [{"split": split, "state": "not checked" if c.get("ok") is None else "verified" if c["ok"] else "MISMATCH"}
                 for split, c in (ds.get("checksums") or {}).items()]
    return {
        "classes": ds["classes"], "n_classes": len(ds["classes"]),
        "image": f"{shape[1]}×{shape[2]}" if shape else None, "image_size": int(shape[1]) if shape else None,
        "array_shape": f"N×{shape[1]}×{shape[2]}×{shape[3]}" if shape else None,
        "train": sizes.get("train"), "val": sizes.get("val"), "test": sizes.get("test"),
        "train_file": int(shapes["train_file"][0]) if shapes.get("train_file") else None,
        "test_file": int(shapes["test_file"][0]) if shapes.get("test_file") else None,
        "split_seed": ds.get("split_seed", compute.get("split_seed")),
        "profile": profile.get("name"), "limited": any(v is not None for v in limits[:2]),
        "crop": aug.get("random_crop"), "padding": aug.get("padding"), "hflip_p": aug.get("hflip_p"),
        "checksums": checksums,
        "normalisation": ds.get("normalisation"),
        "counts": ds.get("counts") or {},
    }


def _augmentation_text(data: dict) -> str:
    if data["crop"] is None:
        return "random crop and horizontal flip"
    return (f"random {data['crop']}×{data['crop']} crop of the image zero-padded by {data['padding']} pixels "
            f"and a horizontal flip with probability {_num(data['hflip_p'])}")


def _weights(artifacts: Artifacts) -> dict:
    """Per model that loads pretrained weights (or is meant to): {"source", "sha256", "pretrained"}."""
    recorded = artifacts.manifest.get("weights") or {}
    out = {}
    for name in artifacts.models():
        compute = artifacts.of(name)[0].config.get("compute", {})
        rec = recorded.get(name) or {}
        source = rec.get("source") or compute.get("weights_source") or ""
        if not source and name not in PRETRAINED_MODELS:
            continue
        out[name] = {"source": source or "not recorded", "sha256": rec.get("sha256") or compute.get("weights_sha256"),
                     "pretrained": bool(source) and not source.startswith("none")}
    return out


def _layers(cfg: dict) -> list[dict]:
    return [l for l in cfg.get("layers") or [] if isinstance(l, dict)]


def _head_chain(cfg: dict) -> str | None:
    """'512→256→10' from the head's Linear layers, as config.json lists them."""
    dims = []
    for layer in _layers(cfg):
        if not layer.get("name", "").startswith("head") or not layer.get("layer", "").startswith("Linear "):
            continue
        a, b = layer["layer"].removeprefix("Linear ").split("→")
        dims = dims or [a]
        dims.append(b)
    return "→".join(dims) if dims else None


def _conv_blocks(cfg: dict) -> int | None:
    """Number of convolutional blocks of the backbone: its max-pool layers."""
    n = sum(1 for layer in _layers(cfg) if layer.get("name", "").startswith("features")
            and layer.get("layer", "").startswith("MaxPool"))
    return n or None


def _description(name: str, cfg: dict, weights: dict | None) -> str:
    """The model's one-line description; the transfer model's is built from what this run froze and loaded."""
    kwargs = (cfg.get("compute") or {}).get("model_kwargs") or {}
    if "frozen_blocks" not in kwargs:
        text = cfg.get("description") or cfg.get("title", name)
        return text[:1].upper() + text[1:]
    blocks = _conv_blocks(cfg) or 5
    fb = int(kwargs["frozen_blocks"])
    frozen = ("none frozen" if fb == 0 else f"1-{fb} frozen" if fb > 1 else "1 frozen")
    tuned = ("none tuned" if fb >= blocks else f"{fb + 1}-{blocks} tuned" if fb + 1 < blocks else f"{blocks} tuned")
    origin = "ImageNet-pretrained" if weights is None or weights.get("pretrained") else "Randomly initialised"
    head = _head_chain(cfg)
    return (f"{origin} VGG16 conv blocks ({frozen}, {tuned}), global pool"
            + (f", head {head.replace('→', '-')}" if head else ""))


def _protocol_rows(name: str, cfg: dict, data: dict, weights: dict | None, departures: list[dict]) -> list[dict]:
    """The model's protocol table, every value from its config.json."""
    compute = cfg.get("compute", {})
    spec = compute["spec"]
    kwargs = {**study_kwargs(name), **(compute.get("model_kwargs") or {})}
    opt = OPTIMIZER_NAMES.get(spec["optimizer"], spec["optimizer"])
    if spec["optimizer"] == "sgd":
        opt += f" with momentum {_num(spec.get('momentum', 0.0))}" if spec.get("momentum") else " without momentum"
    rows = [{"label": "optimizer", "lines": [opt]},
            {"label": "learning-rate phases",
             "lines": [f"{_num(p['lr'])} for {_plural(p['epochs'], 'epoch')}" for p in spec["phases"]]}]
    if spec.get("backbone_lr_scale", 1) != 1:
        rows.append({"label": "tuned conv layers", "lines": [f"learning rate × {_num(spec['backbone_lr_scale'])}"]})
    rows += [{"label": "epochs", "lines": [str(sum(p["epochs"] for p in spec["phases"]))]},
             {"label": "weight decay", "lines": [_num(spec.get("weight_decay", 0.0))]},
             {"label": "batch size", "lines": [str(spec["batch_size"])] if "batch_size" in spec else ["not recorded"]},
             {"label": "augmentation", "lines": [_augmentation_text(data) if spec.get("augment", True) else "none"]}]
    if data["train"] is not None:
        rows.append({"label": "data", "lines": [f"{data['train']:,} training, {data['val']:,} validation, "
                                                f"{data['test']:,} test images"]})
    size = kwargs.get("image_size")
    if size and data["image_size"] and size != data["image_size"]:
        rows.append({"label": "input size", "lines": [f"{data['image']} upsampled to {size}×{size}"]})
    elif data["image"]:
        rows.append({"label": "input size", "lines": [data["image"]]})
    if "frozen_blocks" in kwargs:
        blocks = _conv_blocks(cfg)
        rows.append({"label": "frozen blocks", "lines": [f"{kwargs['frozen_blocks']}" + (f" of {blocks}" if blocks else "")]})
    if weights:
        rows.append({"label": "pretrained weights", "lines": [weights["source"]] + (
            [f"SHA-256 {weights['sha256']}"] if weights.get("sha256") else [])})
    rows.append({"label": "input pipeline", "lines": [compute.get("pipeline", "not recorded")]})
    rows.append({"label": "loss", "lines": ["cross-entropy"]})
    if departures:
        rows.append({"label": "departures from the study's protocol", "lines": [d["sentence"] for d in departures]})
    elif spec.get("note"):
        # The spec's note describes the full protocol against the original study: true only when nothing departs.
        rows.append({"label": "departure from the original study", "lines": [spec["note"]]})
    return rows


def _iso_date(stamp) -> str | None:
    if not stamp:
        return None
    try:
        when = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%d")


def _iso_time(stamp) -> str | None:
    if not stamp:
        return None
    try:
        when = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _run_record(artifacts: Artifacts, models: list[dict]) -> dict:
    """What ran, when, where and how, from manifest.json (whatever fields it has)."""
    manifest = artifacts.manifest
    entries = manifest.get("models") or {}
    finished = manifest.get("finished_at") or max((e["finished_at"] for e in entries.values()
                                                   if e.get("finished_at")), default=None)
    started = manifest.get("started_at") or min((e["started_at"] for e in entries.values()
                                                 if e.get("started_at")), default=None)
    commands: dict[str, list[str]] = {}
    for key, e in entries.items():
        if e.get("command"):
            commands.setdefault(shlex.join(e["command"]), []).append(key)
    if not commands and manifest.get("command"):
        commands[shlex.join(manifest["command"])] = []
    titles = {m["name"]: m["title"] for m in models}
    rows = []
    for key in sorted(entries):
        e = entries[key]
        model, _, seed = key.partition("/seed-")
        rows.append({"key": key, "title": titles.get(model, model), "seed": seed, "status": e.get("status", "?"),
                     "wall_seconds": e.get("wall_seconds"), "train_seconds": e.get("train_seconds"),
                     "started": _iso_time(e.get("started_at")), "finished": _iso_time(e.get("finished_at"))})
    walls = [r["wall_seconds"] for r in rows if r["wall_seconds"] is not None]
    versions = {k: str(v) for k, v in (manifest.get("versions") or {}).items() if v is not None and v != ""}
    configs = [m["config"].get("compute", {}) for m in models]
    options = manifest.get("options") or {}
    first = configs[0] if configs else {}
    precision = first.get("precision", options.get("precision"))
    pipeline = first.get("pipeline", options.get("pipeline"))
    compile_mode = first.get("compile", options.get("compile")) or "none"
    channels_last = [m["title"] for m, c in zip(models, configs) if c.get("channels_last")]
    compute = [f"{precision} precision" if precision else None,
               f"{pipeline} input pipeline" if pipeline else None,
               f"channels_last for {_join(channels_last)}" if channels_last else None,
               f"torch.compile {compile_mode}"]
    return {
        "date": _iso_date(finished), "started": _iso_time(started), "finished": _iso_time(finished),
        "span_seconds": manifest.get("train_wall_seconds"),
        "sum_wall_seconds": sum(walls) if walls else None, "rows": rows,
        "commands": [{"command": c, "runs": keys} for c, keys in commands.items()],
        "seeds": sorted({r.seed for r in artifacts.runs}),
        "device": manifest.get("device_name") or manifest.get("device") or "not recorded",
        "versions": versions, "git_commit": manifest.get("git_commit"),
        "compute": ", ".join(c for c in compute if c),
        "profile": (first.get("profile") or manifest.get("profile") or {}).get("name") or "not recorded",
        "checksums": [{"split": k, "sha256": (c or {}).get("sha256")}
                      for k, c in (manifest.get("data_checksums") or {}).items()],
    }


def _ci_text(ci: dict | None, scale: float = 100.0, digits: int = 1, signed: bool = False) -> str:
    if not ci:
        return ""
    fmt = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    return f"[{fmt.format(scale * ci['low'])}, {fmt.format(scale * ci['high'])}]"


def _comparison_facts(summary: dict) -> dict:
    """Which interval methods the comparison table uses, and for which models."""
    multi = [e["title"] for e in summary["models"].values() if len(e["complete_seeds"]) > 1]
    single = [e["title"] for e in summary["models"].values() if len(e["complete_seeds"]) == 1]
    parts = []
    if multi:
        parts.append(METHODS["t_seeds"] + ("" if not single else f" for {_join(multi)}"))
    if single:
        parts.append(f"{METHODS['wilson']} for accuracy and {METHODS['bootstrap']} for the macro averages"
                     + ("" if not multi else f" for {_join(single)}, trained with one seed"))
    return {"methods": "; ".join(parts), "multi": bool(multi), "any_reference": any(
        e.get("reference") for e in summary["models"].values())}


def _pair_sentence(p: dict, first: str, other: str) -> str:
    """A sentence on the difference of `first` minus `other` (model names), never stronger than the evidence."""
    flip = p["a"] != first
    s_first, s_other = (p["b_title"], p["a_title"]) if flip else (p["a_title"], p["b_title"])
    sign = -1.0 if flip else 1.0
    seeds = p["seeds"]
    if not seeds:
        return f"The {s_first} and the {s_other} were not evaluated on the same test images."

    def one(s):
        ci = s["acc_diff_ci"]
        lo, hi = sorted((sign * ci["low"], sign * ci["high"]))
        return f"{100 * sign * s['acc_diff']:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}]"

    wins = {"a": p["n_a_better"], "b": p["n_b_better"]}
    n_first, n_other = (wins["b"], wins["a"]) if flip else (wins["a"], wins["b"])
    if len(seeds) == 1:
        s = seeds[0]
        detail = f"{one(s)}, exact McNemar p {_pvalue(s['p_value'])}"
        if n_first:
            return f"The {s_first} is better than the {s_other}: {detail}."
        if n_other:
            return f"The {s_other} is better than the {s_first}: {detail}."
        return f"The difference between the {s_first} and the {s_other} is not established: {detail}."
    per_seed = "; ".join(f"seed {s['seed']}: {one(s)}, p {_pvalue(s['p_value'])}" for s in seeds)
    mean = 100 * sign * p["mean_acc_diff"]
    n = len(seeds)
    sides = [f"in favour of the {t} in {k} of the {n} seeds" for t, k in ((s_first, n_first), (s_other, n_other)) if k]
    established = ("established " + " and ".join(sides)) if sides else f"established in none of the {n} seeds"
    if n_first * 2 > n:
        verdict = f"the {s_first} is the better model here"
    elif n_other * 2 > n:
        verdict = f"the {s_other} is the better model here"
    else:
        verdict = "the two are not distinguishable here"
    return (f"Over {n} paired seeds the {s_first} is {mean:+.1f} points from the {s_other} on average ({per_seed}); "
            f"the difference is {established}, so {verdict}.")


def _pvalue(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _transfer_facts(summary: dict, models: list[dict], data: dict) -> dict | None:
    """Everything section (a) and (c) say about the transfer model, from its config and results."""
    vgg = next((m for m in models if m["name"] == "vgg16"), None)
    if vgg is None:
        return None
    cfg, spec = vgg["config"], vgg["spec"]
    kwargs = {**study_kwargs("vgg16"), **(cfg["compute"].get("model_kwargs") or {})}
    weights = vgg["weights"] or {"source": "not recorded", "sha256": None, "pretrained": True}
    blocks = _conv_blocks(cfg) or 5
    fb = int(kwargs["frozen_blocks"])
    size = int(kwargs["image_size"])
    native = data["image_size"] or size
    lr0 = spec["phases"][0]["lr"]
    scale = spec.get("backbone_lr_scale", 1.0)
    drops, start = [], 1
    for p in spec["phases"][:-1]:
        start += p["epochs"]
        drops.append({"epoch": start, "factor": _num(spec["phases"][len(drops) + 1]["lr"] / lr0)})
    if fb == 0:
        frozen, tuned = f"freezes none of VGG16's {blocks} convolutional blocks", f"tunes all {blocks}"
    elif fb >= blocks:
        frozen, tuned = f"keeps all {blocks} of VGG16's convolutional blocks frozen", None
    else:
        frozen = f"keeps the first {fb} of VGG16's {blocks} convolutional blocks frozen"
        tuned = f"tunes block {blocks}" if fb + 1 == blocks else f"tunes blocks {fb + 1}–{blocks}"
    n = data["train"] or 0
    case = ("a small dataset: the \"small and similar\" case" if n < SMALL_DATASET else
            "a medium-sized dataset: between the \"small and similar\" and \"large and similar\" cases"
            if n < LARGE_DATASET else "a large dataset: the \"large and similar\" case")
    entry = summary["models"]["vgg16"]
    comparisons = []
    for other in ("cnn_bn", "cnn", "mlp"):
        if other not in summary["models"] or "aggregate" not in summary["models"][other]:
            continue
        p = next((q for q in summary["pairs"] if {q["a"], q["b"]} == {"vgg16", other}), None)
        if p is None:
            continue
        won = p["n_b_better"] if p["a"] == "vgg16" else p["n_a_better"]
        comparisons.append({"model": other, "title": summary["models"][other]["title"],
                            "accuracy": summary["models"][other]["aggregate"]["accuracy"]["mean"],
                            "sentence": _pair_sentence(p, "vgg16", other), "other_better": won * 2 > p["n_seeds"]})
    return {
        "title": vgg["title"], "pretrained": weights["pretrained"], "source": weights["source"],
        "sha256": weights.get("sha256"), "frozen_blocks": fb, "blocks": blocks, "frozen": frozen, "tuned": tuned,
        "frozen_params": (entry.get("parameters") or {}).get("frozen"),
        "trainable_params": (entry.get("parameters") or {}).get("trainable"),
        "head": _head_chain(cfg), "lr_head": _num(lr0), "lr_backbone": _num(lr0 * scale), "scale": _num(scale),
        "scaled": scale != 1, "drops": drops, "image_size": size, "native": native, "upsampled": size != native,
        "imagenet_ratio": _num(round(IMAGENET_SIZE / size, 2)) if size < IMAGENET_SIZE else None,
        "last_map": max(size // 2 ** blocks, 1), "imagenet_size": IMAGENET_SIZE,
        "train_images": n, "size_case": case, "comparisons": comparisons,
        "any_other_better": any(c["other_better"] for c in comparisons),
        "aggregate": entry.get("aggregate"),
    }


SMALL_DATASET = 10_000    # labelled training images below which the transfer discussion calls a dataset small
LARGE_DATASET = 100_000   # ... and from which it calls it large
IMAGENET_SIZE = 224       # ImageNet's usual input side, the VGG16 weights' native resolution


def _optimiser_facts(models: list[dict]) -> dict:
    """Section (e): which model used which optimiser, rates, decay and epoch budget."""
    rows, adam, sgd = [], [], []
    for m in models:
        spec = m["spec"]
        opt = spec["optimizer"]
        epochs = sum(p["epochs"] for p in spec["phases"])
        rates = [p["lr"] for p in spec["phases"]]
        factors = {round(a / b, 6) for a, b in zip(rates, rates[1:])}
        row = {"title": m["title"], "optimizer": OPTIMIZER_NAMES.get(opt, opt), "epochs": epochs,
               "momentum": _num(spec.get("momentum", 0.0)) if spec.get("momentum") else None,
               "rates": ", ".join(_num(r) for r in rates), "weight_decay": _num(spec.get("weight_decay", 0.0)),
               "has_decay": bool(spec.get("weight_decay")), "n_phases": len(rates),
               "factor": _num(factors.pop()) if len(factors) == 1 else None, "first_rate": rates[0]}
        rows.append(row)
        (adam if opt == "adam" else sgd if opt == "sgd" else []).append(row)
    budgets: dict[int, list[str]] = {}
    for r in adam:
        budgets.setdefault(r["epochs"], []).append(r["title"])
    budget_text = _join([f"the {_plural(e, 'epoch')} of the {_join(t)}" for e, t in sorted(budgets.items())])
    adam_rates = sorted({r["first_rate"] for r in adam})
    return {"rows": rows, "adam": adam, "sgd": sgd, "adam_budget": budget_text,
            "adam_default_rate": bool(adam_rates) and adam_rates == [ADAM_DEFAULT_LR],
            "adam_rates": ", ".join(_num(r) for r in adam_rates), "adam_default": _num(ADAM_DEFAULT_LR),
            "adam_decay": any(r["has_decay"] for r in adam)}


ADAM_DEFAULT_LR = 1e-3    # torch.optim.Adam's default learning rate


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v, d=1: "–" if v is None else f"{100 * v:.{d}f}"
    env.filters["num"] = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"
    env.filters["signed"] = lambda v, d=1: f"{v:+.{d}f}"
    env.filters["thousands"] = lambda v: f"{int(v):,}"
    env.filters["pvalue"] = lambda p: "< 0.001" if p < 0.001 else f"{p:.3f}"
    env.filters["p_eq"] = _pvalue
    env.filters["duration"] = _duration
    return env


def _duration(seconds) -> str:
    seconds = float(seconds or 0)
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def render_html(context: dict) -> str:
    import markupsafe

    env = _environment()
    css = markupsafe.Markup((TEMPLATES_DIR / "style.css").read_text())
    return env.get_template("report.html.j2").render(css=css, **context)


def layout_pdf(html: str):
    """The report laid out in pages (a weasyprint.Document): what render_pdf writes, and what
    tests/test_layout.py inspects (figure sizes)."""
    import logging

    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: WeasyPrint is there but Pango is not
        raise BenchError(f"PDF rendering needs WeasyPrint and Pango ({exc}); install them "
                         "(see README, Install) or ask for --out report.html") from None

    # WeasyPrint logs every unsupported CSS property at WARNING; the report's CSS is known.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    return weasyprint.HTML(string=html, base_url=str(TEMPLATES_DIR)).render()


def render_pdf(html: str) -> bytes:
    return layout_pdf(html).write_pdf()


def render_report(artifacts_dir: Path, out: Path, *, title: str | None = None, author: str = "",
                  affiliation: str = "", data_dir: Path | None = None, log=None) -> list[Path]:
    """Write <out>.html, <out>.pdf and <out>.summary.json beside them; return their paths."""
    out = check_out_path(out)
    t0 = time.perf_counter()
    artifacts = load_artifacts(artifacts_dir)
    summary = analyse(artifacts)
    context = build_context(artifacts, summary, title=title, author=author, affiliation=affiliation,
                            data_dir=data_dir)
    html = render_html(context)
    html_path, pdf_path = out.with_suffix(".html"), out.with_suffix(".pdf")
    try:
        pdf = render_pdf(html)
    except BenchError as exc:
        if out.suffix != ".html":
            raise
        # Asked for HTML: a machine without Pango (a bare GPU box) still gets its report.
        pdf = None
        if log:
            log(f"warning: no PDF written: {exc}")
    # Named after the report, so that two reports in one folder keep their own summaries.
    summary_path = out.with_suffix(".summary.json")
    # Everything is rendered in memory first, so a failure leaves no partial file.
    art.write_bytes(html_path, html.encode())
    written = [html_path, summary_path]
    if pdf is not None:
        art.write_bytes(pdf_path, pdf)
        written.insert(0, pdf_path)
    art.write_json(summary_path, summary)
    if log:
        log(f"report rendered in {time.perf_counter() - t0:.1f}s")
    return written
