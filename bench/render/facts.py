"""The run's own records, as the report's templates print them: data, protocol, weights, run, optimisers.

Everything a sentence states about the run is prepared here from its records (dataset.json, manifest.json,
each config.json), with the fallbacks that older artifacts need, so that the templates (StrictUndefined)
print values only. Words and numbers are bench.render.text's, in the active language.
"""

from __future__ import annotations

import base64
import io
import re
import shlex
import statistics

from bench.data.samples import grid_without_labels
from bench.engine.env import SHARED_LOAD_SHARE, shared_machine
from bench.protocol import study_kwargs
from bench.render.protocol_notes import protocol_tables
from bench.render.i18n import _, current, ngettext, pgettext
from bench.render.text import (OPTIMIZER_NAMES, capitalised, compile_text, count, iso_date, iso_time, join,
                               method_text, num, percent, pipeline_name, recorded_text, split_name,
                               status_name, time_text, titles, model_title)
from bench.results import stats, timing
from bench.render.transfer import backbone, head_chain
from bench.rundir.rundir import Artifacts

NO_WEIGHTS = "none (random initialisation, --no-pretrained)"  # the weights source of --no-pretrained (bench/models)
ADAM_DEFAULT_LR = 1e-3    # torch.optim.Adam's default learning rate
GIB = 2 ** 30
# The sample grid's printed height at most (mm): beside the setup's small tables, not a page of its own.
SAMPLE_GRID_MM = 78


def data_facts(artifacts: Artifacts) -> dict:
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
        checksums.append({"split": split, "split_name": split_name(split), "state": state, "text": states[state]})
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
        "grid": sample_grid(artifacts.samples_png, len(ds["classes"])),
    }


def sample_grid(png: bytes | None, rows: int) -> dict | None:
    """samples.png without its baked-in English names (bench.data.samples.grid_without_labels), for the setup to
    print beside the class names in the report's language: a data: URI, its printed width and the printed height of
    one row (mm), at its own resolution or smaller, to at most SAMPLE_GRID_MM high."""
    crop = grid_without_labels(png) if png else None
    if crop is None or rows < 1:
        return None
    from PIL import Image

    with Image.open(io.BytesIO(crop)) as image:
        dpi = image.info.get("dpi", (200, 200))
        width_mm, height_mm = image.width / dpi[0] * 25.4, image.height / dpi[1] * 25.4
    scale = min(1.0, SAMPLE_GRID_MM / height_mm)
    # The report's figures are data: URIs (bench.render.report.figure_uri, which this lower module cannot import).
    return {"uri": "data:image/png;base64," + base64.b64encode(crop).decode(), "width_mm": width_mm * scale,
            "row_mm": height_mm * scale / rows}


def augmentation_text(data: dict) -> str:
    lang = current()
    if data["crop"] is None:
        return _("random crop and horizontal flip")
    return _("random %(crop)s crop of the image zero-padded by %(padding)s pixels and a horizontal flip with "
             "probability %(p)s") % {"crop": lang.digits_only(f"{data['crop']}×{data['crop']}"),
                                     "padding": num(data["padding"]), "p": num(data["hflip_p"])}


def weights(artifacts: Artifacts) -> dict:
    """Per model that loads pretrained weights (or is meant to): {"source", "sha256", "pretrained"}."""
    recorded = artifacts.manifest.get("weights") or {}
    out = {}
    for name in artifacts.models():
        compute = artifacts.of(name)[0].config.get("compute", {})
        rec = recorded.get(name) or {}
        source = rec.get("source") or compute.get("weights_source") or ""
        if not source and backbone(artifacts.of(name)[0].config) is None:
            continue
        shown = weights_source(source)
        out[name] = {"title": model_title(artifacts.of(name)[0].config.get("title") or name),
                     "source": shown if source else _("not recorded"),
                     "sha256": rec.get("sha256") or compute.get("weights_sha256"),
                     "pretrained": bool(source) and not source.startswith("none")}
    return out


def weights_source(source: str) -> str:
    """A recorded weights source (bench.models.vgg.resolve_vgg_weights: "file NAME", "torchvision NAME", NO_WEIGHTS)
    in words of the active language, its file or weights name as code."""
    lang = current()
    kind, _sep, name = source.partition(" ")
    if source == NO_WEIGHTS:
        return _("none (random initialisation, %(option)s)") % {"option": lang.ltr("--no-pretrained")}
    if kind == "file" and name:
        return _("file %(name)s") % {"name": lang.ltr(name)}
    if kind == "torchvision" and name:
        return _("%(name)s from %(library)s") % {"name": lang.ltr(name), "library": lang.ltr(kind)}
    return lang.ltr(source)


def description(name: str, cfg: dict, weights: dict | None) -> str:
    """The model's one-line description; the transfer model's is built from what this run froze and loaded."""
    lang = current()
    net = backbone(cfg)
    if net is None or net["frozen_blocks"] is None:
        text = cfg.get("description") or cfg.get("title", name)
        return capitalised(recorded_text(text))
    blocks = net["blocks"] or 5
    fb = net["frozen_blocks"]
    n = lang.integer
    frozen = (_("none frozen") if fb == 0 else
              _("%(first)s-%(last)s frozen") % {"first": n(1), "last": n(fb)} if fb > 1 else
              _("%(block)s frozen") % {"block": n(1)})
    tuned = (_("none tuned") if fb >= blocks else
             _("%(first)s-%(last)s tuned") % {"first": n(fb + 1), "last": n(blocks)} if fb + 1 < blocks else
             _("%(block)s tuned") % {"block": n(blocks)})
    pretrained = weights is None or weights.get("pretrained")
    text = (_("ImageNet-pretrained conv blocks (%(frozen)s, %(tuned)s), global pool") if pretrained else
            _("Randomly initialised conv blocks (%(frozen)s, %(tuned)s), global pool")) % {
        "frozen": lang.isolate(frozen), "tuned": lang.isolate(tuned)}
    head = head_chain(cfg)
    if head:
        text = _("%(description)s, head %(head)s") % {"description": text,
                                                      "head": lang.ltr(head.replace("→", "-"))}
    return text


def protocol_rows(name: str, cfg: dict, data: dict, weights: dict | None, departures: list[dict]) -> list[dict]:
    """The model's protocol, every value from its config.json: rows {key, label, lines} that protocol_tables
    splits into what every model shares and what differs. (`departures`: kept for the caller; page 1 lists them.)"""
    lang = current()
    compute = cfg.get("compute", {})
    spec = compute["spec"]
    kwargs = {**study_kwargs(name), **(compute.get("model_kwargs") or {})}
    opt = lang.isolate(OPTIMIZER_NAMES.get(spec["optimizer"], spec["optimizer"]))
    if spec["optimizer"] == "sgd":
        opt = (_("%(optimizer)s with momentum %(momentum)s") % {"optimizer": opt,
                                                               "momentum": num(spec.get("momentum", 0.0))}
               if spec.get("momentum") else _("%(optimizer)s without momentum") % {"optimizer": opt})
    # Each row has a key, so that protocol_tables can tell what all models share from what differs.
    rows = [{"key": "optimizer", "label": _("optimizer"), "lines": [opt]},
            {"key": "phases", "label": _("learning-rate phases"),
             "lines": [ngettext("%(lr)s for %(n)s epoch", "%(lr)s for %(n)s epochs", p["epochs"]) % {
                 "lr": num(p["lr"]), "n": count(p["epochs"])} for p in spec["phases"]]}]
    if spec.get("backbone_lr_scale", 1) != 1:
        rows.append({"key": "backbone_lr_scale", "label": _("tuned conv layers"),
                     "lines": [_("learning rate × %(factor)s") % {"factor": num(spec["backbone_lr_scale"])}]})
    rows += [{"key": "epochs", "label": _("epochs"), "lines": [lang.integer(sum(p["epochs"] for p in spec["phases"]))]},
             {"key": "weight_decay", "label": _("weight decay"), "lines": [num(spec.get("weight_decay", 0.0))]},
             {"key": "batch_size", "label": _("batch size"),
              "lines": [lang.integer(spec["batch_size"])] if "batch_size" in spec else [_("not recorded")]},
             {"key": "augment", "label": _("augmentation"),
              "lines": [_("%(augmentation)s; validation and test images are not augmented") % {
                  "augmentation": augmentation_text(data)} if spec.get("augment", True) else _("none")]}]
    if data["train"] is not None:
        rows.append({"key": "data", "label": _("data"), "lines": [
            _("%(train)s training, %(val)s validation, %(test)s test images") % {
                "train": count(data["train"]), "val": count(data["val"]), "test": count(data["test"])}]})
    size = kwargs.get("image_size")
    if size and data["image_size"] and size != data["image_size"]:
        rows.append({"key": "input_size", "label": _("input size"), "lines": [_("%(image)s upsampled to %(size)s") % {
            "image": data["image"], "size": lang.digits_only(f"{size}×{size}")}]})
    elif data["image"]:
        rows.append({"key": "input_size", "label": _("input size"), "lines": [data["image"]]})
    net = backbone(cfg)
    if net is not None and net["frozen_blocks"] is not None:
        blocks = net["blocks"]
        fb = lang.integer(net["frozen_blocks"])
        rows.append({"key": "frozen_blocks", "label": _("frozen blocks"), "lines": [
            _("%(n)s of %(blocks)s") % {"n": fb, "blocks": lang.integer(blocks)} if blocks else fb]})
    if weights:
        # The source only: the setup's weights row carries the SHA-256, once.
        rows.append({"key": "weights", "label": _("pretrained weights"), "lines": [weights["source"]]})
    pipeline = compute.get("pipeline")
    rows.append({"key": "pipeline", "label": _("input pipeline"),
                 "lines": [pipeline_name(pipeline) if pipeline else _("not recorded")]})
    rows.append({"key": "loss", "label": _("loss"), "lines": [_("cross-entropy")]})
    # Departures are listed once, on page 1 (the banner); the spec's note goes to protocol_tables' notes.
    return rows


def run_record(artifacts: Artifacts, models: list[dict]) -> dict:
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
    names = {m["name"]: m["title"] for m in models}
    rows = []
    for key in sorted(entries):
        e = entries[key]
        model, _sep, seed = key.partition("/seed-")
        status = e.get("status", "?")
        rows.append({"key": key, "title": names.get(model, model), "seed": seed, "status": status,
                     "status_text": status_name(status),
                     "wall_seconds": e.get("wall_seconds"), "train_seconds": e.get("train_seconds"),
                     "started": time_text(iso_time(e.get("started_at"))),
                     "finished": time_text(iso_time(e.get("finished_at")))})
    walls = [r["wall_seconds"] for r in rows if r["wall_seconds"] is not None]
    versions = {k: str(v) for k, v in (manifest.get("versions") or {}).items() if v is not None and v != ""}
    configs = [m["config"].get("compute", {}) for m in models]
    options = manifest.get("options") or {}
    first = configs[0] if configs else {}
    precision = first.get("precision", options.get("precision"))
    pipeline = first.get("pipeline", options.get("pipeline"))
    compile_mode = first.get("compile", options.get("compile"))
    channels_last = [m["title"] for m, c in zip(models, configs) if c.get("channels_last")]
    compute = [_("%(precision)s precision") % {"precision": lang.isolate(precision)} if precision else None,
               _("%(pipeline)s input pipeline") % {"pipeline": pipeline_name(pipeline)} if pipeline else None,
               _("%(option)s for %(models)s") % {"option": lang.ltr("channels_last"), "models": titles(channels_last)}
               if channels_last else None,
               compile_text(compile_mode) if compile_mode else None]
    profile = (first.get("profile") or manifest.get("profile") or {}).get("name")
    wall_scale, wall_unit, wall_digits = time_unit(walls)
    train_scale, train_unit, train_digits = time_unit([r["train_seconds"] for r in rows
                                                       if r["train_seconds"] is not None])
    for r in rows:
        r["wall_text"] = lang.format(r["wall_seconds"] / wall_scale, f".{wall_digits}f") \
            if r["wall_seconds"] is not None else "–"
        r["train_text"] = lang.format(r["train_seconds"] / train_scale, f".{train_digits}f") \
            if r["train_seconds"] is not None else "–"
    return {
        "machine": machine_facts(manifest), "times": times_table(entries, models),
        "row_units": {"wall": wall_unit, "train": train_unit},
        "protocol": protocol_tables(models, (manifest.get("protocol") or {}).get("specs") or {}),
        "date": iso_date(finished), "started": time_text(iso_time(started)),
        "finished": time_text(iso_time(finished)),
        "span_seconds": manifest.get("train_wall_seconds"),
        "sum_wall_seconds": sum(walls) if walls else None, "rows": rows,
        "commands": [{"command": c, "runs": keys} for c, keys in commands.items()],
        "seeds": sorted({r.seed for r in artifacts.runs}),
        "device": lang.isolate(manifest.get("device_name") or manifest.get("device")) or _("not recorded"),
        "versions": versions, "git_commit": manifest.get("git_commit"),
        "compute": pgettext("list separator", ", ").join(c for c in compute if c),
        "profile": lang.isolate(profile) if profile else _("not recorded"),
        "checksums": [{"split": k, "split_name": split_name(k), "sha256": (c or {}).get("sha256")}
                      for k, c in (manifest.get("data_checksums") or {}).items()],
    }


def comparison_facts(summary: dict) -> dict:
    """Which interval methods the comparison table uses, and for which models (by their healthy seeds): the
    caption's first sentences, true for every mix of seed counts. Three or more seeds: an interval over seeds;
    two: none (bench.results.inference.MIN_SEEDS_INTERVAL; the table shows mean ± SD only); one: intervals over
    the test images. ("methods": the bracketed methods alone, empty where no model has brackets.)"""
    lang = current()
    n = {e["title"]: e["aggregate"]["accuracy"]["n"] for e in summary["models"].values() if "aggregate" in e}
    multi = [t for t, k in n.items() if k >= 3]
    two = [t for t, k in n.items() if k == 2]
    single = [t for t, k in n.items() if k == 1]
    parts = []
    if multi:
        t = method_text("t_seeds_plus_test_set")
        parts.append(t if not (single or two) else _("%(method)s for %(models)s") % {"method": t,
                                                                                      "models": titles(multi)})
    if single:
        text = _("%(wilson)s for accuracy and %(bootstrap)s for the macro averages") % {
            "wilson": method_text("wilson"), "bootstrap": method_text("bootstrap", summary["bootstrap"]["resamples"])}
        parts.append(text if not (multi or two) else _("%(methods)s for %(models)s, trained with one seed") % {
            "methods": text, "models": titles(single)})
    methods = pgettext("clause separator", "; ").join(parts)
    sentences = [_("Test-set results: mean ± standard deviation over seeds.") if multi or two
                 else _("Test-set results.")]
    if parts:
        sentences.append(_("Brackets: %(conf)s intervals, by %(methods)s; the loss has none.") % {
            "conf": percent(lang.plain(100 * stats.CONFIDENCE)), "methods": methods})
    if two:
        sentences.append(_("No brackets for %(models)s: two seeds are too few for an interval over seeds.") % {
            "models": titles(two)} if parts else _("No brackets: two seeds are too few for an interval over seeds."))
    return {"methods": methods, "multi": bool(multi or two), "caption": " ".join(sentences),
            "any_reference": any({"accuracy", "loss"} & set(e.get("reference") or {}) for e in summary["models"].values())}


def optimiser_facts(models: list[dict]) -> dict:
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
               "momentum": num(spec.get("momentum", 0.0)) if spec.get("momentum") else None,
               "rates": sep.join(num(r) for r in rates), "weight_decay": num(spec.get("weight_decay", 0.0)),
               "has_decay": bool(spec.get("weight_decay")), "n_phases": len(rates),
               "factor": num(factors.pop()) if len(factors) == 1 else None, "first_rate": rates[0]}
        rows.append(row)
        (adam if opt == "adam" else sgd if opt == "sgd" else []).append(row)
    budgets: dict[int, list[str]] = {}
    for r in adam:
        budgets.setdefault(r["epochs"], []).append(r["title"])
    budget_text = join([ngettext("the %(n)s epoch of the %(models)s", "the %(n)s epochs of the %(models)s", e) % {
        "n": count(e), "models": titles(t)} for e, t in sorted(budgets.items())])
    adam_rates = sorted({r["first_rate"] for r in adam})
    return {"rows": rows, "adam": adam, "sgd": sgd, "adam_budget": budget_text,
            "adam_default_rate": bool(adam_rates) and adam_rates == [ADAM_DEFAULT_LR],
            "adam_rates": sep.join(num(r) for r in adam_rates), "adam_default": num(ADAM_DEFAULT_LR),
            "adam_decay": any(r["has_decay"] for r in adam)}




# ----------------------------------------------------------------------------- the machine, the times, the protocol


def machine_facts(manifest: dict) -> dict:
    """The machine the run trained on (manifest "machine", bench.engine.env.machine), worded from its fields in the
    active language; a run directory older than the record shows its one-line device string, as recorded."""
    lang = current()
    rec = manifest.get("machine") if isinstance(manifest.get("machine"), dict) else None
    not_recorded = _("not recorded")
    if rec is None:
        old = manifest.get("device_name") or manifest.get("device")
        return {"recorded": False, "device": old_device(old) if old else not_recorded, "cpu": None,
                "os": not_recorded, "memory": not_recorded, "shared": None, "shared_text": not_recorded}

    def gib(n):
        return _("%(n)s GiB") % {"n": lang.format(n / GIB, ".1f")} if isinstance(n, (int, float)) else not_recorded

    cores, usable, threads = rec.get("logical_cores"), rec.get("usable_cores"), rec.get("torch_threads")
    parts = []
    if isinstance(cores, int):
        parts.append(ngettext("%(usable)s of %(n)s logical core", "%(usable)s of %(n)s logical cores", cores) % {
            "usable": lang.integer(usable), "n": lang.integer(cores)} if isinstance(usable, int) and usable != cores
            else ngettext("%(n)s logical core", "%(n)s logical cores", cores) % {"n": lang.integer(cores)})
    if isinstance(threads, int):
        parts.append(ngettext("%(n)s torch thread", "%(n)s torch threads", threads) % {"n": lang.integer(threads)})
    cpu = lang.ltr(rec.get("cpu") or rec.get("architecture") or "?")
    cpu_text = _("%(cpu)s (%(details)s)") % {"cpu": cpu, "details": pgettext("list separator", ", ").join(parts)} \
        if parts else cpu
    gpu = rec.get("gpu") if isinstance(rec.get("gpu"), dict) else None
    device = (_("%(gpu)s, %(memory)s") % {"gpu": lang.ltr(gpu.get("name") or "?"),
                                          "memory": gib(gpu.get("memory_bytes"))}) if gpu else cpu_text
    system = " ".join(str(rec[k]) for k in ("os", "os_release") if rec.get(k))
    shared = shared_machine(rec)
    loads = [lang.format(rec[k], ".2f") for k in ("load_start", "load_end") if isinstance(rec.get(k), (int, float))]
    answer = pgettext("shared machine", "not recorded") if shared is None else \
        pgettext("shared machine", "yes") if shared else pgettext("shared machine", "no")
    if shared is not None and len(loads) == 2:
        answer = _("%(answer)s (load average %(start)s at the start, %(end)s at the end)") % {
            "answer": answer, "start": loads[0], "end": loads[1]}
    elif shared is not None and loads:
        answer = _("%(answer)s (load average %(start)s at the start)") % {"answer": answer, "start": loads[0]}
    return {"recorded": True, "device": device, "cpu": cpu_text if gpu else None,
            "os": lang.ltr(system) if system else not_recorded, "memory": gib(rec.get("memory_bytes")),
            "shared": shared, "shared_text": answer,
            "shared_rule": _("Shared machine: other processes kept more than %(share)s of the cores busy at the start "
                             "or the end of training (the 1-minute load average; at the end less this run's own "
                             "threads).") % {"share": percent(lang.format(100 * SHARED_LOAD_SHARE, ".0f"))}}


def old_device(text: str) -> str:
    """The one-line device string of a run directory older than the machine record, in words of the active
    language where it has bench.engine.env.device_name's CPU form ("x86_64 CPU, 2 threads"); else as recorded."""
    lang = current()
    cpu = re.fullmatch(r"(.+) CPU, (\d+) threads", text)
    if cpu is None:
        return lang.ltr(text)
    n = int(cpu.group(2))
    return ngettext("%(cpu)s CPU, %(n)s torch thread", "%(cpu)s CPU, %(n)s torch threads", n) % {
        "cpu": lang.ltr(cpu.group(1)), "n": lang.integer(n)}


def time_unit(values: list[float]) -> tuple[float, str, int]:
    """bench.results.timing.time_scale with the unit's name in the active language."""
    scale, unit, digits = timing.time_scale(values)
    names = {"s": pgettext("time unit", "s"), "min": pgettext("time unit", "min"), "h": pgettext("time unit", "h")}
    return scale, names[unit], digits


def times_table(entries: dict, models: list[dict]) -> dict:
    """Training time per model over its finished seeds, in one unit for the whole column: mean ± SD (over two or
    more seeds) and min–max, warm-up outliers (warmup_outliers) shown apart and left out of both."""
    lang = current()
    first = min((e["started_at"] for e in entries.values() if e.get("started_at")), default=None)
    per_model = {}
    for key, e in entries.items():
        model, _sep, seed = key.partition("/seed-")
        if e.get("status") == "complete" and isinstance(e.get("train_seconds"), (int, float)) and seed.isdigit():
            per_model.setdefault(model, {})[int(seed)] = float(e["train_seconds"])
    scale, unit, digits = time_unit([t for times in per_model.values() for t in times.values()])

    def f(v):
        return lang.format(v / scale, f".{digits}f")

    rows = []
    for m in models:
        times = per_model.get(m["name"])
        if not times:
            continue
        slow = timing.warmup_outliers(times)
        kept = [t for s, t in sorted(times.items()) if s not in slow]
        mean = f(statistics.fmean(kept))
        rows.append({"title": m["title"], "n": len(times),
                     "mean": _("%(mean)s ± %(sd)s") % {"mean": mean, "sd": f(statistics.stdev(kept))}
                     if len(kept) > 1 else mean,
                     "range": _("%(low)s–%(high)s") % {"low": f(min(kept)), "high": f(max(kept))}
                     if len(kept) > 1 else "–",
                     "outliers": [{"seed": s, "value": f(times[s]),
                                   "first": entries[f"{m['name']}/seed-{s}"].get("started_at") == first}
                                  for s in sorted(slow)]})
    return {"rows": rows, "unit": unit, "factor": lang.plain(timing.WARMUP_FACTOR)}
