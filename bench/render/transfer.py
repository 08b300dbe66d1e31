"""The transfer-learning narrative: what the report says about a model that starts from a pretrained backbone.

The model is found by what its records say (config.json's "structure", or for run directories written
before that key existed, its layers, builder settings and weights record), never by its name: any
model with a backbone of frozen and tuned convolutional blocks gets this discussion. Every claim the
section makes about this run is measured here from the run's own records: which cell of the four-case
table it is in (case_of), whether it follows that cell's advice, what it cost per epoch, and the
command of the from-scratch control that would attribute its gain to pretraining.
"""

from __future__ import annotations

import shlex
import statistics
from pathlib import Path

from bench.errors import BenchError
from bench.protocol import DATA, get_profile, spec_for, study_kwargs
from bench.render.i18n import _, current
from bench.render.text import duration, interval_text, model_title, num, p_value, percent, signed
from bench.results.inference import MIN_SEEDS_TEST

IMAGENET_SIZE = 224       # ImageNet's usual input side, the pretrained weights' native resolution

# ---- The small/large rule of the four-case table, stated once (the report prints it with the numbers).
# A training set is "large" for the tuning a run does when BOTH hold, and "small" otherwise:
# - at least LARGE_PER_CLASS labelled images a class: about what ImageNet itself holds (1,281 a class on
#   average), i.e. enough for the new data alone to shape features, not only a classifier on top of them;
# - at most MAX_TUNED_PER_IMAGE trained parameters per training image: a 138-million-parameter ImageNet
#   classifier trained on ImageNet's 1.28 M images has about 100 per image; ten times that is where tuning
#   millions of weights on few images is expected to overfit.
# The full protocol (45,000 images, 4,500 a class, 13.1 M tuned parameters: 291 per image) is large;
# a smoke run (2,000 images, 200 a class) is small.
LARGE_PER_CLASS = 1_000
MAX_TUNED_PER_IMAGE = 1_000
# CIFAR-10 and ImageNet are both photographs of everyday objects (CIFAR-10's ten classes, vehicles and animals,
# are kinds ImageNet covers); the images' size differs (32 against 224 pixels), which the section says apart.
# The datasets are fixed by the benchmark, so this half of the table is not measured.
SIMILAR_DOMAIN = True


def _layers(cfg: dict) -> list[dict]:
    return [layer for layer in cfg.get("layers") or [] if isinstance(layer, dict)]


def _recorded_head(cfg: dict) -> list[int] | None:
    """The head's widths from config.json's layer list ('Linear 512→256', 'Linear 256→10' -> [512, 256, 10])."""
    dims: list[int] = []
    for layer in _layers(cfg):
        if not layer.get("name", "").startswith("head") or not layer.get("layer", "").startswith("Linear "):
            continue
        a, b = layer["layer"].removeprefix("Linear ").split("→")
        dims = dims or [int(a)]
        dims.append(int(b))
    return dims or None


def backbone(cfg: dict) -> dict | None:
    """The model's pretrained backbone as its records describe it, or None for a model without one.

    {"pretrained_backbone": bool, "blocks": int | None, "frozen_blocks": int | None, "head": [int] | None}:
    config.json's "structure" where it is recorded; else (older run directories) the max-pool layers of its
    features, its head's Linear layers, its builder settings and whether it records a weights source.
    """
    structure = cfg.get("structure")
    if isinstance(structure, dict):
        if "pretrained_backbone" not in structure:
            return None
        return {"pretrained_backbone": bool(structure["pretrained_backbone"]), "blocks": structure.get("blocks"),
                "frozen_blocks": structure.get("frozen_blocks"), "head": structure.get("head")}
    compute = cfg.get("compute") or {}
    kwargs = {**study_kwargs(cfg.get("model", "")), **(compute.get("model_kwargs") or {})}
    source = compute.get("weights_source") or ""
    if not source and "frozen_blocks" not in kwargs:
        return None
    blocks = sum(1 for layer in _layers(cfg) if layer.get("name", "").startswith("features")
                 and layer.get("layer", "").startswith("MaxPool"))
    return {"pretrained_backbone": bool(source) and not source.startswith("none"), "blocks": blocks or None,
            "frozen_blocks": int(kwargs["frozen_blocks"]) if "frozen_blocks" in kwargs else None,
            "head": _recorded_head(cfg)}


def head_chain(cfg: dict) -> str | None:
    """'512→256→10': the head's widths."""
    net = backbone(cfg)
    return "→".join(str(d) for d in net["head"]) if net and net.get("head") else None


def pair_sentence(p: dict, first: str, other: str) -> str:
    """A sentence on the difference of `first` minus `other` (model names), never stronger than the evidence: the
    configuration-level test over seeds (Holm-adjusted) decides; one seed's networks are only described."""
    lang = current()
    flip = p["a"] != first
    s_first, s_other = (p["b_title"], p["a_title"]) if flip else (p["a_title"], p["b_title"])
    s_first, s_other = lang.isolate(s_first), lang.isolate(s_other)
    sign = -1.0 if flip else 1.0
    c = p["configuration"]
    if c["reason"] == "too_few_seeds":
        if not p["seeds"]:
            return _("The %(a)s and the %(b)s cannot be compared as models: each needs at least %(n)s healthy "
                     "seeds.") % {"a": s_first, "b": s_other, "n": lang.integer(MIN_SEEDS_TEST)}
        s = p["seeds"][0]
        lo, hi = sorted((sign * s["acc_diff_ci"]["low"], sign * s["acc_diff_ci"]["high"]))
        return _("The %(a)s and the %(b)s cannot be compared as models: each needs at least %(n)s healthy seeds. "
                 "Their networks of seed %(seed)s differ by %(difference)s points %(interval)s on these test images "
                 "(mid-p McNemar %(p)s), which says nothing about another seed.") % {
            "a": s_first, "b": s_other, "n": lang.integer(MIN_SEEDS_TEST), "seed": lang.integer(s["seed"]),
            "difference": signed(100 * sign * s["acc_diff"]),
            "interval": interval_text(signed(100 * lo), signed(100 * hi)), "p": p_value(s["p_value"], "p=")}
    lo, hi = sorted((sign * c["low"], sign * c["high"]))
    detail = _("%(difference)s points %(interval)s over seeds and test images, Holm-adjusted %(p)s") % {
        "difference": signed(100 * sign * c["difference"]), "interval": interval_text(signed(100 * lo), signed(100 * hi)),
        "p": p_value(c["adjusted_p_value"], "p=")}
    names = {"a": s_first, "b": s_other, "detail": detail}
    if p["significant"]:
        better, worse = (s_first, s_other) if not flip else (s_other, s_first)
        return _("The %(a)s is better than the %(b)s: %(detail)s.") % {**names, "a": better, "b": worse}
    return _("The difference between the %(a)s and the %(b)s is not established: %(detail)s.") % names


# ----------------------------------------------------------------------------- the four-case table


def case_of(train_images: int, n_classes: int, tuned: int | None) -> dict:
    """Which cell of the four-case table a run is in, by the rule above (tuned None: judged by images a class)."""
    per_class = train_images / max(n_classes, 1)
    per_image = tuned / train_images if tuned is not None and train_images else None
    large = per_class >= LARGE_PER_CLASS and (per_image is None or per_image <= MAX_TUNED_PER_IMAGE)
    key = ("large" if large else "small") + ("-similar" if SIMILAR_DOMAIN else "-different")
    return {"key": key, "per_class": per_class, "per_image": per_image, "large": large}


def follows_advice(key: str, blocks: int, frozen_blocks: int) -> bool:
    """Whether freezing the first `frozen_blocks` of `blocks` pretrained blocks is what the cell `key` advises."""
    return {"small-similar": frozen_blocks >= blocks,           # freeze the whole pretrained network
            "large-similar": frozen_blocks < blocks,            # fine-tune the top blocks, or all of them
            "small-different": 0 < frozen_blocks < blocks,     # keep the early blocks, retrain the top
            "large-different": frozen_blocks <= 1}[key]         # fine-tune deeply, down to the first layers


# ----------------------------------------------------------------------------- the run's own costs and commands


def _complete(model: dict) -> list:
    return [r for r in model.get("runs") or [] if r.status == "complete" and r.history]


def epoch_seconds(model: dict) -> float | None:
    """Seconds per training epoch: the median over every recorded epoch of every complete seed (the median,
    because the first epoch of a process carries its warm-up)."""
    seconds = [float(h["seconds"]) for r in _complete(model) for h in r.history if h.get("seconds") is not None]
    return statistics.median(seconds) if seconds else None


def validation_path(model: dict) -> list[dict]:
    """Per epoch: validation accuracy and cumulative training seconds, each the mean over complete seeds."""
    runs = _complete(model)
    n = min((len(r.history) for r in runs), default=0)
    path = []
    for e in range(n):
        rows = [r.history[e] for r in runs]
        if any(h.get("val_acc") is None for h in rows):
            return path
        path.append({"epoch": e + 1, "val_acc": statistics.fmean(float(h["val_acc"]) for h in rows),
                     "seconds": statistics.fmean(sum(float(h.get("seconds") or 0) for h in r.history[:e + 1])
                                                 for r in runs)})
    return path


def run_root(model: dict) -> Path | None:
    """The run directory the model's seeds were read from (<root>/<model>/seed-<n>)."""
    runs = model.get("runs") or []
    return Path(runs[0].path).parents[1] if runs and getattr(runs[0], "path", None) else None


def train_command(name: str, cfg: dict, seeds: list[int], target: str, *, pretrained: bool) -> list[str]:
    """`bench train` of `name` with the profile, seeds, epochs and settings that `cfg` (a config.json of this run)
    recorded, into `target`.

    Only what the run recorded as differing from the defaults is repeated (its builder settings only when `cfg`
    is `name`'s own); `bench compare` lists anything else in which two run directories differ.
    """
    compute = cfg.get("compute") or {}
    args = ["bench", "train", name] + ([] if pretrained else ["--no-pretrained"])
    profile = (compute.get("profile") or {}).get("name")
    if profile:
        args += ["--profile", profile]
    if seeds:
        args += ["--seeds", str(len(seeds)) if seeds == list(range(len(seeds))) else ",".join(map(str, seeds))]
    epochs = (compute.get("spec") or {}).get("epochs")
    try:  # --epochs was given when the recorded budget is not the profile's
        default_epochs = spec_for(cfg.get("model", name), get_profile(profile or "full")).epochs
    except BenchError:  # a profile this version does not know: repeat the recorded epochs
        default_epochs = None
    if epochs and epochs != default_epochs:
        args += ["--epochs", str(epochs)]
    defaults = study_kwargs(name) if cfg.get("model") == name else {}
    for key, value in (compute.get("model_kwargs") or {}).items():
        if key in defaults and value != defaults[key]:
            args += ["--" + key.replace("_", "-"), str(value)]
    if compute.get("pipeline") and compute["pipeline"] != "fast":
        args += ["--input-pipeline", compute["pipeline"]]
    return [shlex.quote(a) for a in args + ["--artifacts", target]]


def _seeds(model: dict) -> list[int]:
    return sorted({r.seed for r in model.get("runs") or []})


def learned(summary: dict, name: str) -> bool:
    """False only where the analysis found that the model did not learn (older summaries: True)."""
    return not ((summary["models"].get(name) or {}).get("learning") or {}).get("did_not_learn", False)


def _parameters(model: dict) -> dict:
    """{"frozen", "trainable", "total", "head"}: the counts config.json recorded, and the trainable parameters of
    the layers its layer list names head (None where it names none)."""
    cfg = model["config"]
    counts = dict(cfg.get("parameters") or {})
    layers = _layers(cfg)
    if not counts and layers:
        counts = {"trainable": sum(int(x.get("params") or 0) for x in layers if x.get("trainable")),
                  "frozen": sum(int(x.get("params") or 0) for x in layers if not x.get("trainable"))}
        counts["total"] = counts["trainable"] + counts["frozen"]
    head = [int(x.get("params") or 0) for x in layers if x.get("name", "").startswith("head") and x.get("trainable")]
    return {"frozen": counts.get("frozen"), "trainable": counts.get("trainable"), "total": counts.get("total"),
            "head": sum(head) if head else None}


def _same_network(a: dict, b: dict) -> bool:
    """Two backbones of one architecture (whatever their starting weights and frozen blocks)."""
    sa, sb = a["config"].get("structure") or {}, b["config"].get("structure") or {}
    keys = ("backbone", "conv_channels")
    na, nb = backbone(a["config"]), backbone(b["config"])
    return (na["blocks"], na["head"]) == (nb["blocks"], nb["head"]) and all(sa.get(k) == sb.get(k) for k in keys)


def cost_facts(model: dict, others: list[dict]) -> dict:
    """What an epoch cost and how fast validation accuracy rose, for `model` against the models in `others`."""
    lang = current()
    own = epoch_seconds(model)
    rows = [(m, epoch_seconds(m)) for m in others]
    rows = [(m, s) for m, s in rows if s is not None]
    listed = lang.join(_("%(seconds)s for the %(model)s") % {"seconds": duration(s), "model": lang.isolate(m["title"])}
                       for m, s in rows)
    out = {"epoch_seconds": duration(own) if own is not None else None, "others_seconds": listed or None,
           "slowest": own is not None and bool(rows) and all(own > s for _m, s in rows), "race": None}
    paths = [(m, validation_path(m)) for m in others]
    paths = [(m, p) for m, p in paths if p]
    mine = validation_path(model)
    if paths and mine:
        best, path = max(paths, key=lambda mp: mp[1][-1]["val_acc"])
        target = path[-1]
        reached = next((e for e in mine if e["val_acc"] >= target["val_acc"]), None)
        at = reached or mine[-1]
        out["race"] = {"model": best["title"], "accuracy": percent(lang.format(100 * target["val_acc"], ".1f")),
                       "epochs": target["epoch"], "time": duration(target["seconds"]),
                       "reached": reached is not None, "own_epochs": at["epoch"], "own_time": duration(at["seconds"]),
                       "fewer_epochs": reached is not None and at["epoch"] < target["epoch"],
                       "less_time": reached is not None and at["seconds"] < target["seconds"]}
    return out


def without_model(models: list[dict]) -> dict:
    """Sections (a) and (c) of a run with no model that starts from a pretrained backbone: which registered model
    would, and the command that adds it to this run directory."""
    from bench.models import registry  # here, not at the top: bench.models imports torch (~2 s per report)

    entry = next((e for e in registry.entries() if e.weights is not None), None)
    first = models[0] if models else None
    root = run_root(first) if first else None
    command = (train_command(entry.name, first["config"], _seeds(first), str(root), pretrained=True)
               if entry and first and root else None)
    return {"candidate": model_title(entry.title) if entry else None, "add_command": command}


def transfer_facts(summary: dict, models: list[dict], data: dict) -> dict:
    """Everything sections (a)-(c) say about transfer learning in this run: its case of the four-case table, and,
    where a model has a pretrained backbone, what it froze and tuned, what it cost, and how it compares."""
    lang = current()
    n_train = int(data.get("train") or 0)
    n_classes = int(data.get("n_classes") or len(data.get("classes") or []) or DATA.num_classes)
    found = [m for m in models if backbone(m["config"]) is not None]
    model = next((m for m in found if backbone(m["config"])["pretrained_backbone"]), found[0] if found else None)
    base = {"has_model": model is not None, "train_images": n_train, "n_classes": n_classes,
            "per_class": lang.format(n_train / max(n_classes, 1), ",.0f"),
            "large_per_class": lang.format(LARGE_PER_CLASS, ","), "max_per_image": lang.format(MAX_TUNED_PER_IMAGE, ",")}
    if model is None:
        case = case_of(n_train, n_classes, None)
        return {**base, "case": case["key"], **without_model(models)}
    name, cfg, spec = model["name"], model["config"], model["spec"]
    net = backbone(cfg)
    kwargs = {**study_kwargs(name), **(cfg["compute"].get("model_kwargs") or {})}
    weights = model["weights"] or {"source": _("not recorded"), "sha256": None, "pretrained": True}
    blocks = net["blocks"] or 5
    fb = int(net["frozen_blocks"] or 0)
    native = data["image_size"]
    size = int(kwargs.get("image_size") or native or 32)
    native = native or size
    lr0 = spec["phases"][0]["lr"]
    scale = spec.get("backbone_lr_scale", 1.0)
    drops, start = [], 1
    for p in spec["phases"][:-1]:
        start += p["epochs"]
        drops.append({"epoch": start, "factor": num(spec["phases"][len(drops) + 1]["lr"] / lr0)})
    n = lang.integer
    if fb == 0:
        frozen = _("freezes none of its %(blocks)s convolutional blocks") % {"blocks": n(blocks)}
        tuned = _("tunes all %(blocks)s") % {"blocks": n(blocks)}
    elif fb >= blocks:
        frozen, tuned = _("keeps all %(blocks)s of its convolutional blocks frozen") % {"blocks": n(blocks)}, None
    else:
        frozen = _("keeps the first %(n)s of its %(blocks)s convolutional blocks frozen") % {
            "n": n(fb), "blocks": n(blocks)}
        tuned = (_("tunes block %(block)s") % {"block": n(blocks)} if fb + 1 == blocks else
                 _("tunes blocks %(first)s–%(last)s") % {"first": n(fb + 1), "last": n(blocks)})
    params = _parameters(model)
    case = case_of(n_train, n_classes, params["trainable"])
    full = case_of(DATA.train_size, n_classes, params["trainable"])
    entry = summary["models"][name]
    control = next((m for m in found if m is not model and _same_network(m, model)
                    and backbone(m["config"])["pretrained_backbone"] != net["pretrained_backbone"]), None)
    scratch = [m for m in models if m is not model and m is not control]
    comparisons = []
    # The models trained from scratch, the last registered first (the strongest of the study's comes last).
    for other in [m["name"] for m in reversed(scratch)]:
        if other not in summary["models"] or "aggregate" not in summary["models"][other]:
            continue
        p = next((q for q in summary["pairs"] if {q["a"], q["b"]} == {name, other}), None)
        if p is None:
            continue
        comparisons.append({"model": other, "title": summary["models"][other]["title"],
                            "accuracy": summary["models"][other]["aggregate"]["accuracy"]["mean"],
                            "sentence": pair_sentence(p, name, other), "learned": learned(summary, other),
                            "other_better": p["significant"] and p["a"] == other,
                            # Tested at the configuration level (enough seeds), not only network by network.
                            "tested": p["configuration"]["reason"] != "too_few_seeds"})
    control_facts = None
    if control is not None:
        p = next((q for q in summary["pairs"] if {q["a"], q["b"]} == {name, control["name"]}), None)
        aggregate = summary["models"].get(control["name"], {}).get("aggregate")
        control_facts = {"title": control["title"], "accuracy": aggregate["accuracy"]["mean"] if aggregate else None,
                         "sentence": pair_sentence(p, name, control["name"]) if p else None,
                         "same_frozen": backbone(control["config"])["frozen_blocks"] == net["frozen_blocks"]}
    root = run_root(model)
    pretrained = bool(weights["pretrained"])
    suffix = "-no-pretrained" if pretrained else "-pretrained"
    counterpart = train_command(name, cfg, _seeds(model), f"{root}{suffix}", pretrained=not pretrained) if root else None
    head = head_chain(cfg)
    return {
        **base, "title": model["title"], "pretrained": pretrained, "source": weights["source"],
        "sha256": weights.get("sha256"), "frozen_blocks": fb, "blocks": blocks, "frozen": frozen, "tuned": tuned,
        "frozen_params": params["frozen"], "trainable_params": params["trainable"], "total_params": params["total"],
        "head_params": params["head"],
        "head": lang.ltr(head) if head else None,
        "lr_head": num(lr0), "lr_backbone": num(lr0 * scale), "scale": num(scale),
        "scaled": scale != 1, "drops": drops, "image_size": size, "native": native, "upsampled": size != native,
        "imagenet_ratio": num(round(IMAGENET_SIZE / size, 2)) if size < IMAGENET_SIZE else None,
        "last_map": max(size // 2 ** blocks, 1), "imagenet_size": IMAGENET_SIZE,
        "case": case["key"], "per_image": lang.format(case["per_image"], ",.0f") if case["per_image"] else None,
        "follows": follows_advice(case["key"], blocks, fb), "full_train": DATA.train_size,
        "full_follows": follows_advice(full["key"], blocks, fb),
        "tuned_backbone": params["trainable"] - params["head"]
        if params["trainable"] is not None and params["head"] is not None else None,
        "full_case": full["key"] if full["key"] != case["key"] and n_train != DATA.train_size else None,
        "full_per_image": lang.format(full["per_image"], ",.0f") if full["per_image"] else None,
        "comparisons": comparisons, "any_other_better": any(c["other_better"] for c in comparisons),
        # Models that did not learn (bench.results.learning) are named, never compared: being ahead of them says
        # nothing about transfer learning.
        "not_learned": lang.join(lang.isolate(c["title"]) for c in comparisons if not c["learned"]),
        "n_not_learned": sum(1 for c in comparisons if not c["learned"]), "learned": learned(summary, name),
        "control": control_facts,
        "control_command": counterpart if control is None else None,
        "compare_command": [shlex.quote(a) for a in ("bench", "compare", str(root), f"{root}{suffix}")]
        if root and control is None else None,
        "frozen_option": "--frozen-blocks" if "frozen_blocks" in kwargs else None,
        "cost": cost_facts(model, scratch), "aggregate": entry.get("aggregate"),
    }
