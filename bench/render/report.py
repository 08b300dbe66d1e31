"""The reporting stage: artifacts in, self-contained HTML and PDF out.

Reads only the artifacts directory (plus, optionally, the CIFAR-10 test images for the
gallery of confident mistakes). The numbers come from `bench.results.analysis`; this module turns
them and the run's own records (manifest, dataset.json, each config.json) into the values
the templates print, so that no protocol fact is written into a template.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import os
import re
import shlex
import time
from pathlib import Path

import numpy as np

from bench import ARTIFACT_FORMAT, __version__
from bench.rundir import layout as art
from bench.render import i18n
from bench.render import plots
from bench.results import stats
from bench.results.analysis import (ALPHA, METHODS, OPTIMIZER_NAMES, PRETRAINED_MODELS, analyse,  # noqa: F401  (analyse re-exported)
                       capitalised, localise, method_text, study_kwargs)
from bench.errors import BenchError
from bench.render.i18n import N_, _, current, ngettext, pgettext
from bench.protocol import REFERENCE
from bench.rundir.rundir import Artifacts, SeedRun, load_artifacts  # noqa: F401  (re-exported)
from bench.render.assets import TEMPLATES_DIR

OUT_EXTENSIONS = (".pdf", ".html")

# Names the report prints that come from the run's records, not from this code: the built-in models'
# titles and descriptions (bench/models.py), the study's notes (bench/protocol.py) and CIFAR-10's
# classes. Marked here for the catalogue; tests/test_i18n.py checks that they match their sources.
BUILTIN_TEXTS = (
    N_("MLP"), N_("CNN"), N_("CNN + BN + Dropout"), N_("VGG16 transfer"),
    N_("3072-256-128-10 fully connected, ReLU"),
    N_("3 blocks of 2 conv3x3+ReLU and max-pool (32-64, 128-128, 256-256), FC 4096-1024-512-10"),
    N_("the CNN with BatchNorm after every conv and Dropout(0.5) after each hidden dense layer"),
    N_("ImageNet VGG16 conv blocks (1-3 frozen, 4-5 tuned), global pool, head 512-256-10"),
    N_("the study kept Adam at one rate for 10 epochs; the last 2 epochs here run at a tenth of it, which settles "
       "the weights at no extra cost"),
    N_("as for the CNN: the last 2 of the 10 epochs at a tenth of the rate"),
    N_("tuned conv blocks at a tenth of the head's rate, so that the new head settles before it can disturb the "
       "pretrained filters"),
)
NO_WEIGHTS = "none (random initialisation, --no-pretrained)"  # the weights source of --no-pretrained (bench/models.py)
CIFAR10_CLASSES = (N_("airplane"), N_("automobile"), N_("bird"), N_("cat"), N_("deer"), N_("dog"), N_("frog"),
                   N_("horse"), N_("ship"), N_("truck"))


def recorded_text(text: str) -> str:
    """A text from the run's records (title, description, note) in the report's language: the catalogue's
    translation where it has one (built-in models), else as recorded; digits in the language's digits."""
    if not text:
        return text
    lang = current()
    translated = lang.gettext(text)
    if translated == text or lang.english:
        return text
    # Numbers in the language's digits; digits of identifiers (conv3x3, VGG16, Dropout(0.5)) stay as written.
    return re.sub(r"(?<![A-Za-z.\d])(?<![A-Za-z]\()\d+(?:\.\d+)?(?![A-Za-z\d])", lambda m: lang.number(m.group()), translated)


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
    # The report writes three files; each must be writable before the first is written.
    for path in (out, out.with_suffix(".html"), out.with_suffix(".pdf"), out.with_suffix(".summary.json")):
        if path.is_dir():
            raise BenchError(f"cannot write {path}: it is a directory")
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
    lang = current()
    conf = stats.softmax(logits).max(1)
    wrong = np.flatnonzero(pred != y)
    top = wrong[np.argsort(-conf[wrong], kind="stable")][:k]
    # "true\n→ predicted\nconfidence"; right-to-left languages point the arrow their way.
    captions = [_("%(true)s\n→ %(predicted)s\n%(confidence)s") % {
        "true": recorded_text(classes[y[i]]), "predicted": recorded_text(classes[pred[i]]),
        "confidence": _percent(lang.format(conf[i] * 100, ".0f"), space=False)} for i in top]
    return _data_uri(plots.mistakes_png(test_images[top], captions)) if len(top) else None


def _load_test_images(data_dir: Path | None) -> tuple[np.ndarray | None, str]:
    from bench.data.cifar10 import BASE_FOLDER, TEST_FILES, _read_batches

    lang = current()
    if data_dir is None:
        return None, _("no %(option)s given, so the gallery of confident mistakes is left out") % {
            "option": lang.ltr("--data-dir")}
    folder = Path(data_dir) / BASE_FOLDER
    if not (folder / TEST_FILES[0]).exists():
        return None, _("CIFAR-10 test images not found under %(folder)s, so the gallery is left out") % {
            "folder": lang.ltr(data_dir)}
    try:
        images, _labels = _read_batches(folder, TEST_FILES)
    except BenchError as exc:
        return None, _("the test images could not be read (%(error)s), so the gallery is left out") % {
            "error": lang.ltr(exc)}
    return images, ""


def build_context(artifacts: Artifacts, summary: dict, *, title: str | None, author: str, affiliation: str,
                  data_dir: Path | None) -> dict:
    """What the templates print, in the active language (bench.render.i18n; English unless activated).

    `summary` is analyse()'s (English, as summary.json keeps it); its sentences are rewritten in the
    report's language here, its numbers never change.
    """
    lang = current()
    if not lang.english:
        summary = localise(summary, {m: artifacts.of(m)[0].config for m in artifacts.models()}, artifacts.dataset)
    classes = summary["classes"]
    class_names = {c: recorded_text(c) for c in classes}
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
            m["confusion_png"] = _data_uri(plots.confusion_svg(cm, [class_names[c] for c in classes],
                                                              note=_("seed %(seed)s") % {"seed": lang.integer(seed)}))
            f1_table[entry["title"]] = {class_names[c]: entry["per_class"][c]["f1-score"]["mean"] for c in classes}
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
        "language": lang, "lang": lang.code, "dir": lang.direction, "class_names": class_names,
        "title": title or _("CIFAR-10 classifiers: a reproducible benchmark"),
        "author": author, "affiliation": affiliation,
        # When the training finished, not today: the same artifacts give the same report.
        "date": run["date"] or "", "date_text": _long_date(run["date"]),
        "summary": summary, "models": models, "classes": classes, "dataset": artifacts.dataset, "data": data,
        "run": run, "weights": weights, "comparison": _comparison_facts(summary),
        "augmentation": _augmentation_text(data),
        "augmented": {"all": bool(augmented) and not plain, "some": _join(augmented), "none": _join(plain)},
        "pair_index": {f"{p['a']}|{p['b']}": p for p in summary["pairs"]},
        "transfer": _transfer_facts(summary, models, data), "optimisers": _optimiser_facts(models),
        "samples": _data_uri(artifacts.samples_png) if artifacts.samples_png else None,
        "manifest": manifest,
        "f1_chart": _data_uri(plots.per_class_f1_svg(f1_table, [class_names[c] for c in classes]))
        if len(f1_table) else None,
        "reliability": _data_uri(plots.reliability_svg(reliability)) if reliability else None,
        "conf": _percent(lang.plain(100 * stats.CONFIDENCE)),
        "gallery_note": gallery_note, "ece_bins": stats.ECE_BINS, "files": files, "reference": REFERENCE,
        "bench_version": __version__, "artifact_format": ARTIFACT_FORMAT,
    }


# ----------------------------------------------------------------------------- facts for the templates
# Everything a sentence states about the run is prepared here from the run's own records, with
# the fallbacks that older artifacts need, so that the templates (StrictUndefined) print values only.


def _num(value) -> str:
    """A protocol number as written by hand: 0.1, 0.0005, 1e-05 (in the report's digits)."""
    return current().plain(value)


def _count(n: int) -> str:
    """A count with thousands separators: 45,000 (٤٥٬٠٠٠ in Persian digits)."""
    return current().format(int(n), ",")


def _join(items) -> str:
    return current().join(items)


def _titles(titles) -> str:
    """Model names listed in a sentence, each kept whole in right-to-left text."""
    lang = current()
    return lang.join(lang.isolate(t) for t in titles)


def _percent(number: str, *, space: bool = True) -> str:
    """A formatted number with the language's percent sign: '52.0 %' (English), '۵۲٫۰٪' (Persian)."""
    return (pgettext("percent", "%(number)s %%") if space else pgettext("percent, compact", "%(number)s%%")) % {
        "number": number}


def _interval(low: str, high: str) -> str:
    """An interval of two formatted numbers: '[51.0, 53.0]'."""
    return pgettext("interval", "[%(low)s, %(high)s]") % {"low": low, "high": high}


def _split_name(split: str) -> str:
    names = {"train": pgettext("split", "train"), "val": pgettext("split", "val"), "test": pgettext("split", "test")}
    return names.get(split) or current().isolate(split)


def _status(status: str) -> str:
    names = {"complete": pgettext("status", "complete"), "diverged": pgettext("status", "diverged"),
             "incomplete": pgettext("status", "incomplete")}
    return names.get(status) or current().ltr(status)


def _data_facts(artifacts: Artifacts) -> dict:
    """The data as this run used it: dataset.json first, each config's recorded sizes second."""
    lang = current()
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
    states = {"not checked": pgettext("checksum", "not checked"), "verified": pgettext("checksum", "verified"),
              "MISMATCH": pgettext("checksum", "MISMATCH")}
    checksums = []
    for split, c in (ds.get("checksums") or {}).items():
        state = "not checked" if c.get("ok") is None else "verified" if c["ok"] else "MISMATCH"
        checksums.append({"split": split, "split_name": _split_name(split), "state": state, "text": states[state]})
    return {
        "classes": ds["classes"], "n_classes": len(ds["classes"]),
        "image": lang.digits_only(f"{shape[1]}×{shape[2]}") if shape else None,
        "image_size": int(shape[1]) if shape else None,
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
    lang = current()
    if data["crop"] is None:
        return _("random crop and horizontal flip")
    return _("random %(crop)s crop of the image zero-padded by %(padding)s pixels and a horizontal flip with "
             "probability %(p)s") % {"crop": lang.digits_only(f"{data['crop']}×{data['crop']}"),
                                     "padding": _num(data["padding"]), "p": _num(data["hflip_p"])}


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
        if source == NO_WEIGHTS:
            shown = _("none (random initialisation, %(option)s)") % {"option": current().ltr("--no-pretrained")}
        else:
            shown = current().ltr(source)
        out[name] = {"source": shown if source else _("not recorded"),
                     "sha256": rec.get("sha256") or compute.get("weights_sha256"),
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
    lang = current()
    kwargs = (cfg.get("compute") or {}).get("model_kwargs") or {}
    if "frozen_blocks" not in kwargs:
        text = cfg.get("description") or cfg.get("title", name)
        return capitalised(recorded_text(text))
    blocks = _conv_blocks(cfg) or 5
    fb = int(kwargs["frozen_blocks"])
    n = lang.integer
    frozen = (_("none frozen") if fb == 0 else
              _("%(first)s-%(last)s frozen") % {"first": n(1), "last": n(fb)} if fb > 1 else
              _("%(block)s frozen") % {"block": n(1)})
    tuned = (_("none tuned") if fb >= blocks else
             _("%(first)s-%(last)s tuned") % {"first": n(fb + 1), "last": n(blocks)} if fb + 1 < blocks else
             _("%(block)s tuned") % {"block": n(blocks)})
    pretrained = weights is None or weights.get("pretrained")
    text = (_("ImageNet-pretrained VGG16 conv blocks (%(frozen)s, %(tuned)s), global pool") if pretrained else
            _("Randomly initialised VGG16 conv blocks (%(frozen)s, %(tuned)s), global pool")) % {
        "frozen": lang.isolate(frozen), "tuned": lang.isolate(tuned)}
    head = _head_chain(cfg)
    if head:
        text = _("%(description)s, head %(head)s") % {"description": text,
                                                      "head": lang.ltr(lang.digits_only(head.replace("→", "-")))}
    return text


def _protocol_rows(name: str, cfg: dict, data: dict, weights: dict | None, departures: list[dict]) -> list[dict]:
    """The model's protocol table, every value from its config.json."""
    lang = current()
    compute = cfg.get("compute", {})
    spec = compute["spec"]
    kwargs = {**study_kwargs(name), **(compute.get("model_kwargs") or {})}
    opt = lang.isolate(OPTIMIZER_NAMES.get(spec["optimizer"], spec["optimizer"]))
    if spec["optimizer"] == "sgd":
        opt = (_("%(optimizer)s with momentum %(momentum)s") % {"optimizer": opt,
                                                               "momentum": _num(spec.get("momentum", 0.0))}
               if spec.get("momentum") else _("%(optimizer)s without momentum") % {"optimizer": opt})
    rows = [{"label": _("optimizer"), "lines": [opt]},
            {"label": _("learning-rate phases"),
             "lines": [ngettext("%(lr)s for %(n)s epoch", "%(lr)s for %(n)s epochs", p["epochs"]) % {
                 "lr": _num(p["lr"]), "n": _count(p["epochs"])} for p in spec["phases"]]}]
    if spec.get("backbone_lr_scale", 1) != 1:
        rows.append({"label": _("tuned conv layers"),
                     "lines": [_("learning rate × %(factor)s") % {"factor": _num(spec["backbone_lr_scale"])}]})
    rows += [{"label": _("epochs"), "lines": [lang.integer(sum(p["epochs"] for p in spec["phases"]))]},
             {"label": _("weight decay"), "lines": [_num(spec.get("weight_decay", 0.0))]},
             {"label": _("batch size"),
              "lines": [lang.integer(spec["batch_size"])] if "batch_size" in spec else [_("not recorded")]},
             {"label": _("augmentation"),
              "lines": [_augmentation_text(data) if spec.get("augment", True) else _("none")]}]
    if data["train"] is not None:
        rows.append({"label": _("data"), "lines": [
            _("%(train)s training, %(val)s validation, %(test)s test images") % {
                "train": _count(data["train"]), "val": _count(data["val"]), "test": _count(data["test"])}]})
    size = kwargs.get("image_size")
    if size and data["image_size"] and size != data["image_size"]:
        rows.append({"label": _("input size"), "lines": [_("%(image)s upsampled to %(size)s") % {
            "image": data["image"], "size": lang.digits_only(f"{size}×{size}")}]})
    elif data["image"]:
        rows.append({"label": _("input size"), "lines": [data["image"]]})
    if "frozen_blocks" in kwargs:
        blocks = _conv_blocks(cfg)
        fb = lang.integer(kwargs["frozen_blocks"])
        rows.append({"label": _("frozen blocks"), "lines": [
            _("%(n)s of %(blocks)s") % {"n": fb, "blocks": lang.integer(blocks)} if blocks else fb]})
    if weights:
        rows.append({"label": _("pretrained weights"), "lines": [weights["source"]] + (
            [lang.ltr(f"SHA-256 {weights['sha256']}")] if weights.get("sha256") else [])})
    pipeline = compute.get("pipeline")
    rows.append({"label": _("input pipeline"), "lines": [lang.isolate(pipeline) if pipeline else _("not recorded")]})
    rows.append({"label": _("loss"), "lines": [_("cross-entropy")]})
    if departures:
        rows.append({"label": _("departures from the study's protocol"), "lines": [d["sentence"] for d in departures]})
    elif spec.get("note"):
        # The spec's note describes the full protocol against the original study: true only when nothing departs.
        rows.append({"label": _("departure from the original study"), "lines": [recorded_text(spec["note"])]})
    return rows


def _parse_time(stamp) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when


def _iso_date(stamp) -> str | None:
    if not stamp:
        return None
    when = _parse_time(stamp)
    return when.strftime("%Y-%m-%d") if when else None


def _iso_time(stamp) -> str | None:
    if not stamp:
        return None
    when = _parse_time(stamp)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else str(stamp)


def _long_date(iso: str | None) -> str:
    """The title's date: ISO in English, the language's long form (Gregorian) elsewhere: ۴ مارس ۲۰۲۵."""
    lang = current()
    if not iso or lang.english:
        return iso or ""
    from babel.dates import format_date

    return lang.digits_only(format_date(dt.date.fromisoformat(iso), "long", locale=lang.code))


def _time_text(text: str | None) -> str | None:
    """A timestamp as printed: its digits in the language's, kept left to right."""
    lang = current()
    return lang.ltr(lang.digits_only(text)) if text else text


def _run_record(artifacts: Artifacts, models: list[dict]) -> dict:
    """What ran, when, where and how, from manifest.json (whatever fields it has)."""
    lang = current()
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
        model, _sep, seed = key.partition("/seed-")
        status = e.get("status", "?")
        rows.append({"key": key, "title": titles.get(model, model), "seed": seed, "status": status,
                     "status_text": _status(status),
                     "wall_seconds": e.get("wall_seconds"), "train_seconds": e.get("train_seconds"),
                     "started": _time_text(_iso_time(e.get("started_at"))),
                     "finished": _time_text(_iso_time(e.get("finished_at")))})
    walls = [r["wall_seconds"] for r in rows if r["wall_seconds"] is not None]
    versions = {k: str(v) for k, v in (manifest.get("versions") or {}).items() if v is not None and v != ""}
    configs = [m["config"].get("compute", {}) for m in models]
    options = manifest.get("options") or {}
    first = configs[0] if configs else {}
    precision = first.get("precision", options.get("precision"))
    pipeline = first.get("pipeline", options.get("pipeline"))
    compile_mode = first.get("compile", options.get("compile")) or "none"
    channels_last = [m["title"] for m, c in zip(models, configs) if c.get("channels_last")]
    compute = [_("%(precision)s precision") % {"precision": lang.isolate(precision)} if precision else None,
               _("%(pipeline)s input pipeline") % {"pipeline": lang.isolate(pipeline)} if pipeline else None,
               _("%(option)s for %(models)s") % {"option": lang.ltr("channels_last"), "models": _titles(channels_last)}
               if channels_last else None,
               lang.ltr(f"torch.compile {compile_mode}")]
    profile = (first.get("profile") or manifest.get("profile") or {}).get("name")
    return {
        "date": _iso_date(finished), "started": _time_text(_iso_time(started)),
        "finished": _time_text(_iso_time(finished)),
        "span_seconds": manifest.get("train_wall_seconds"),
        "sum_wall_seconds": sum(walls) if walls else None, "rows": rows,
        "commands": [{"command": c, "runs": keys} for c, keys in commands.items()],
        "seeds": sorted({r.seed for r in artifacts.runs}),
        "device": lang.isolate(manifest.get("device_name") or manifest.get("device")) or _("not recorded"),
        "versions": versions, "git_commit": manifest.get("git_commit"),
        "compute": pgettext("list separator", ", ").join(c for c in compute if c),
        "profile": lang.isolate(profile) if profile else _("not recorded"),
        "checksums": [{"split": k, "split_name": _split_name(k), "sha256": (c or {}).get("sha256")}
                      for k, c in (manifest.get("data_checksums") or {}).items()],
    }


def _comparison_facts(summary: dict) -> dict:
    """Which interval methods the comparison table uses, and for which models."""
    multi = [e["title"] for e in summary["models"].values() if len(e["complete_seeds"]) > 1]
    single = [e["title"] for e in summary["models"].values() if len(e["complete_seeds"]) == 1]
    parts = []
    if multi:
        t = method_text("t_seeds")
        parts.append(t if not single else _("%(method)s for %(models)s") % {"method": t, "models": _titles(multi)})
    if single:
        text = _("%(wilson)s for accuracy and %(bootstrap)s for the macro averages") % {
            "wilson": method_text("wilson"), "bootstrap": method_text("bootstrap")}
        parts.append(text if not multi else _("%(methods)s for %(models)s, trained with one seed") % {
            "methods": text, "models": _titles(single)})
    return {"methods": pgettext("clause separator", "; ").join(parts), "multi": bool(multi), "any_reference": any(
        e.get("reference") for e in summary["models"].values())}


def _signed(value: float, digits: int = 1) -> str:
    return current().format(value, f"+.{digits}f")


def _pair_sentence(p: dict, first: str, other: str) -> str:
    """A sentence on the difference of `first` minus `other` (model names), never stronger than the evidence."""
    lang = current()
    flip = p["a"] != first
    s_first, s_other = (p["b_title"], p["a_title"]) if flip else (p["a_title"], p["b_title"])
    s_first, s_other = lang.isolate(s_first), lang.isolate(s_other)
    sign = -1.0 if flip else 1.0
    seeds = p["seeds"]
    if not seeds:
        return _("The %(a)s and the %(b)s were not evaluated on the same test images.") % {"a": s_first, "b": s_other}

    def one(s):
        ci = s["acc_diff_ci"]
        lo, hi = sorted((sign * ci["low"], sign * ci["high"]))
        return _("%(difference)s points %(interval)s") % {
            "difference": _signed(100 * sign * s["acc_diff"]),
            "interval": _interval(_signed(100 * lo), _signed(100 * hi))}

    wins = {"a": p["n_a_better"], "b": p["n_b_better"]}
    n_first, n_other = (wins["b"], wins["a"]) if flip else (wins["a"], wins["b"])
    if len(seeds) == 1:
        s = seeds[0]
        detail = _("%(difference)s, exact McNemar %(p)s") % {"difference": one(s), "p": _p_text(s["p_value"], "=")}
        names = {"a": s_first, "b": s_other, "detail": detail}
        if n_first:
            return _("The %(a)s is better than the %(b)s: %(detail)s.") % names
        if n_other:
            return _("The %(a)s is better than the %(b)s: %(detail)s.") % {**names, "a": s_other, "b": s_first}
        return _("The difference between the %(a)s and the %(b)s is not established: %(detail)s.") % names
    per_seed = pgettext("clause separator", "; ").join(
        _("seed %(seed)s: %(difference)s, %(p)s") % {"seed": lang.integer(s["seed"]), "difference": one(s),
                                                      "p": _p_text(s["p_value"], "=")} for s in seeds)
    mean = _signed(100 * sign * p["mean_acc_diff"])
    n = len(seeds)
    sides = [ngettext("in favour of the %(model)s in %(k)s of the %(n)s seed",
                      "in favour of the %(model)s in %(k)s of the %(n)s seeds", n) % {
        "model": t, "k": lang.integer(k), "n": lang.integer(n)}
        for t, k in ((s_first, n_first), (s_other, n_other)) if k]
    established = (_("established %(sides)s") % {"sides": f" {pgettext('list', 'and')} ".join(sides)} if sides else
                   ngettext("established in none of the %(n)s seed", "established in none of the %(n)s seeds", n)
                   % {"n": lang.integer(n)})
    if n_first * 2 > n:
        verdict = _("the %(model)s is the better model here") % {"model": s_first}
    elif n_other * 2 > n:
        verdict = _("the %(model)s is the better model here") % {"model": s_other}
    else:
        verdict = _("the two are not distinguishable here")
    return ngettext("Over %(n)s paired seed the %(a)s is %(mean)s points from the %(b)s on average (%(per_seed)s); "
                    "the difference is %(established)s, so %(verdict)s.",
                    "Over %(n)s paired seeds the %(a)s is %(mean)s points from the %(b)s on average (%(per_seed)s); "
                    "the difference is %(established)s, so %(verdict)s.", n) % {
        "n": lang.integer(n), "a": s_first, "mean": mean, "b": s_other, "per_seed": per_seed,
        "established": established, "verdict": verdict}


def _p_value(p: float) -> str:
    """A p-value as a table prints it: '< 0.001' or '0.123'."""
    lang = current()
    return lang.ltr("< " + lang.format(0.001, ".3f")) if p < 0.001 else lang.format(p, ".3f")


def _pvalue(p: float) -> str:
    """'< 0.001' or '= 0.123', for 'p < 0.001' in a sentence."""
    lang = current()
    return "< " + lang.format(0.001, ".3f") if p < 0.001 else "= " + lang.format(p, ".3f")


def _p_text(p: float, eq: str = "") -> str:
    """'p < 0.001', 'p = 0.123' (eq '=') or 'p 0.123': one left-to-right unit in any language."""
    lang = current()
    if p < 0.001:
        text = "p " + _pvalue(p)
    else:
        text = "p " + (f"{eq} " if eq else "") + lang.format(p, ".3f")
    return lang.ltr(text)


def _transfer_facts(summary: dict, models: list[dict], data: dict) -> dict | None:
    """Everything section (a) and (c) say about the transfer model, from its config and results."""
    lang = current()
    vgg = next((m for m in models if m["name"] == "vgg16"), None)
    if vgg is None:
        return None
    cfg, spec = vgg["config"], vgg["spec"]
    kwargs = {**study_kwargs("vgg16"), **(cfg["compute"].get("model_kwargs") or {})}
    weights = vgg["weights"] or {"source": _("not recorded"), "sha256": None, "pretrained": True}
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
    n = lang.integer
    if fb == 0:
        frozen = _("freezes none of VGG16's %(blocks)s convolutional blocks") % {"blocks": n(blocks)}
        tuned = _("tunes all %(blocks)s") % {"blocks": n(blocks)}
    elif fb >= blocks:
        frozen, tuned = _("keeps all %(blocks)s of VGG16's convolutional blocks frozen") % {"blocks": n(blocks)}, None
    else:
        frozen = _("keeps the first %(n)s of VGG16's %(blocks)s convolutional blocks frozen") % {
            "n": n(fb), "blocks": n(blocks)}
        tuned = (_("tunes block %(block)s") % {"block": n(blocks)} if fb + 1 == blocks else
                 _("tunes blocks %(first)s–%(last)s") % {"first": n(fb + 1), "last": n(blocks)})
    n_train = data["train"] or 0
    case = (_("a small dataset: the \"small and similar\" case") if n_train < SMALL_DATASET else
            _("a medium-sized dataset: between the \"small and similar\" and \"large and similar\" cases")
            if n_train < LARGE_DATASET else _("a large dataset: the \"large and similar\" case"))
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
        "head": lang.ltr(lang.digits_only(_head_chain(cfg))) if _head_chain(cfg) else None,
        "lr_head": _num(lr0), "lr_backbone": _num(lr0 * scale), "scale": _num(scale),
        "scaled": scale != 1, "drops": drops, "image_size": size, "native": native, "upsampled": size != native,
        "imagenet_ratio": _num(round(IMAGENET_SIZE / size, 2)) if size < IMAGENET_SIZE else None,
        "last_map": max(size // 2 ** blocks, 1), "imagenet_size": IMAGENET_SIZE,
        "train_images": n_train, "size_case": case, "comparisons": comparisons,
        "any_other_better": any(c["other_better"] for c in comparisons),
        "aggregate": entry.get("aggregate"),
    }


SMALL_DATASET = 10_000    # labelled training images below which the transfer discussion calls a dataset small
LARGE_DATASET = 100_000   # ... and from which it calls it large
IMAGENET_SIZE = 224       # ImageNet's usual input side, the VGG16 weights' native resolution


def _optimiser_facts(models: list[dict]) -> dict:
    """Section (e): which model used which optimiser, rates, decay and epoch budget."""
    sep = pgettext("list separator", ", ")
    rows, adam, sgd = [], [], []
    for m in models:
        spec = m["spec"]
        opt = spec["optimizer"]
        epochs = sum(p["epochs"] for p in spec["phases"])
        rates = [p["lr"] for p in spec["phases"]]
        factors = {round(a / b, 6) for a, b in zip(rates, rates[1:])}
        row = {"title": m["title"], "optimizer": OPTIMIZER_NAMES.get(opt, opt), "epochs": epochs,
               "momentum": _num(spec.get("momentum", 0.0)) if spec.get("momentum") else None,
               "rates": sep.join(_num(r) for r in rates), "weight_decay": _num(spec.get("weight_decay", 0.0)),
               "has_decay": bool(spec.get("weight_decay")), "n_phases": len(rates),
               "factor": _num(factors.pop()) if len(factors) == 1 else None, "first_rate": rates[0]}
        rows.append(row)
        (adam if opt == "adam" else sgd if opt == "sgd" else []).append(row)
    budgets: dict[int, list[str]] = {}
    for r in adam:
        budgets.setdefault(r["epochs"], []).append(r["title"])
    budget_text = _join([ngettext("the %(n)s epoch of the %(models)s", "the %(n)s epochs of the %(models)s", e) % {
        "n": _count(e), "models": _titles(t)} for e, t in sorted(budgets.items())])
    adam_rates = sorted({r["first_rate"] for r in adam})
    return {"rows": rows, "adam": adam, "sgd": sgd, "adam_budget": budget_text,
            "adam_default_rate": bool(adam_rates) and adam_rates == [ADAM_DEFAULT_LR],
            "adam_rates": sep.join(_num(r) for r in adam_rates), "adam_default": _num(ADAM_DEFAULT_LR),
            "adam_decay": any(r["has_decay"] for r in adam)}


ADAM_DEFAULT_LR = 1e-3    # torch.optim.Adam's default learning rate


def _environment(language: i18n.Language | None = None):
    """The report's Jinja2 environment: autoescape, StrictUndefined, the i18n extension with the
    language's catalogue ({% trans %}, _(), ngettext(), pgettext()) and number filters in its digits."""
    import jinja2
    import markupsafe

    lang = language or current()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             extensions=["jinja2.ext.i18n"])
    # One message per sentence whatever the template's line breaks (also how tests/test_i18n.py extracts).
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(lang, newstyle=True)

    def with_lang(fn):
        def call(*args, **kwargs):
            with i18n.activated(lang):
                return fn(*args, **kwargs)
        return call

    env.filters["pct"] = lambda v, d=1: "–" if v is None else lang.format(100 * v, f".{d}f")
    env.filters["percent"] = with_lang(lambda v, d=1: "–" if v is None else _percent(lang.format(100 * v, f".{d}f")))
    env.filters["num"] = lambda v, d=3: "–" if v is None else lang.format(v, f".{d}f")
    env.filters["signed"] = lambda v, d=1: lang.format(v, f"+.{d}f")
    env.filters["thousands"] = lambda v: lang.format(int(v), ",")
    env.filters["n"] = lambda v: lang.integer(v)
    env.filters["pvalue"] = with_lang(_p_value)
    env.filters["p_eq"] = with_lang(_pvalue)
    env.filters["p_text"] = with_lang(_p_text)
    env.filters["duration"] = with_lang(_duration)
    env.filters["iso"] = lambda v: lang.isolate(v)
    env.filters["ltr"] = lambda v: lang.ltr(v)
    # Joins keeping markup (a translated message) and escaping plain text, like {{ }} does.
    env.filters["jlist"] = lambda items: markupsafe.Markup(lang.pgettext("list separator", ", ")).join(items)
    env.filters["jlist_and"] = lambda items: markupsafe.Markup(lang.join(markupsafe.escape(i) for i in items))
    env.filters["capital"] = capitalised
    env.filters["lookup"] = lambda items, mapping: [mapping[i] for i in items]
    env.filters["split_name"] = with_lang(_split_name)
    env.filters["status_name"] = with_lang(_status)
    env.globals["interval"] = with_lang(_interval)
    return env


def _duration(seconds) -> str:
    lang = current()
    seconds = float(seconds or 0)
    if seconds < 120:
        return _("%(n)s s") % {"n": lang.format(seconds, ".1f")}
    if seconds < 7200:
        return _("%(n)s min") % {"n": lang.format(seconds / 60, ".1f")}
    return _("%(n)s h") % {"n": lang.format(seconds / 3600, ".2f")}


def _font_faces() -> str:
    """@font-face rules for the shipped fonts (report_templates/fonts), embedded as data: URIs so that
    the HTML stays self-contained; WeasyPrint embeds the glyphs it uses in the PDF."""
    rules = []
    for path in i18n.font_files():
        weight = "bold" if "Bold" in path.stem else "normal"
        family = path.stem.split("-")[0]
        data = base64.b64encode(path.read_bytes()).decode()
        rules.append(f'@font-face {{ font-family: "{family}"; font-weight: {weight}; font-style: normal; '
                     f'src: url(data:font/ttf;base64,{data}) format("truetype"); }}')
    return "\n".join(rules)


def render_html(context: dict) -> str:
    import markupsafe

    lang = context.get("language") or current()
    env = _environment(lang)
    css = (TEMPLATES_DIR / "style.css").read_text()
    if lang.rtl:
        css += "\n" + _font_faces() + "\n" + (TEMPLATES_DIR / "style-rtl.css").read_text().replace(
            "COUNTER_STYLE", lang.counter_style)
    with i18n.activated(lang):
        return env.get_template("report.html.j2").render(css=markupsafe.Markup(css), **context)


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
                  affiliation: str = "", data_dir: Path | None = None, log=None, lang: str = "en",
                  digits: str = "native") -> list[Path]:
    """Write <out>.html, <out>.pdf and <out>.summary.json beside them; return their paths.

    `lang`: the report's language (bench.render.i18n.languages()); `digits`: "native" (the language's own,
    Persian digits for fa) or "latin". summary.json is the same in every language (English sentences).
    """
    out = check_out_path(out)
    language = i18n.Language(lang, digits)
    t0 = time.perf_counter()
    artifacts = load_artifacts(artifacts_dir)
    import jinja2

    try:
        summary = analyse(artifacts)
        with i18n.activated(language):
            context = build_context(artifacts, summary, title=title, author=author, affiliation=affiliation,
                                    data_dir=data_dir)
            html = render_html(context)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, jinja2.UndefinedError) as exc:
        # load_artifacts checks every field the report is known to use; this catches the rest.
        raise BenchError(f"an artifact in {artifacts_dir} holds a value the report cannot use "
                         f"({type(exc).__name__}: {exc}); check the files or train into a new directory") from None
    html_path, pdf_path = out.with_suffix(".html"), out.with_suffix(".pdf")
    try:
        pdf = render_pdf(html)
    except BenchError as exc:
        if out.suffix.lower() != ".html":
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
