"""The transfer-learning narrative: what the report says about a model that starts from a pretrained backbone.

The model is found by what its records say (config.json's "structure", or for run directories written
before that key existed, its layers, builder settings and weights record), never by its name: any
model with a backbone of frozen and tuned convolutional blocks gets this discussion.
"""

from __future__ import annotations

from bench.protocol import study_kwargs
from bench.render.i18n import _, current
from bench.render.text import interval_text, num, p_value, signed

SMALL_DATASET = 10_000    # labelled training images below which the transfer discussion calls a dataset small
LARGE_DATASET = 100_000   # ... and from which it calls it large
IMAGENET_SIZE = 224       # ImageNet's usual input side, the pretrained weights' native resolution


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
            return _("The %(a)s and the %(b)s cannot be compared as models: each needs at least two healthy "
                     "seeds.") % {"a": s_first, "b": s_other}
        s = p["seeds"][0]
        lo, hi = sorted((sign * s["acc_diff_ci"]["low"], sign * s["acc_diff_ci"]["high"]))
        return _("The %(a)s and the %(b)s cannot be compared as models: each needs at least two healthy seeds. "
                 "Their networks of seed %(seed)s differ by %(difference)s points %(interval)s on these test images "
                 "(mid-p McNemar %(p)s), which says nothing about another seed.") % {
            "a": s_first, "b": s_other, "seed": lang.integer(s["seed"]), "difference": signed(100 * sign * s["acc_diff"]),
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


def transfer_facts(summary: dict, models: list[dict], data: dict) -> dict | None:
    """Everything sections (a) and (c) say about the model with a pretrained backbone, from its records and results."""
    lang = current()
    model = next((m for m in models if backbone(m["config"]) is not None), None)
    if model is None:
        return None
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
    n_train = data["train"] or 0
    case = (_("a small dataset: the \"small and similar\" case") if n_train < SMALL_DATASET else
            _("a medium-sized dataset: between the \"small and similar\" and \"large and similar\" cases")
            if n_train < LARGE_DATASET else _("a large dataset: the \"large and similar\" case"))
    entry = summary["models"][name]
    comparisons = []
    # The models trained from scratch, the last registered first (the strongest of the study's comes last).
    for other in [m["name"] for m in reversed(models) if m["name"] != name]:
        if other not in summary["models"] or "aggregate" not in summary["models"][other]:
            continue
        p = next((q for q in summary["pairs"] if {q["a"], q["b"]} == {name, other}), None)
        if p is None:
            continue
        comparisons.append({"model": other, "title": summary["models"][other]["title"],
                            "accuracy": summary["models"][other]["aggregate"]["accuracy"]["mean"],
                            "sentence": pair_sentence(p, name, other),
                            "other_better": p["significant"] and p["a"] == other})
    head = head_chain(cfg)
    return {
        "title": model["title"], "pretrained": weights["pretrained"], "source": weights["source"],
        "sha256": weights.get("sha256"), "frozen_blocks": fb, "blocks": blocks, "frozen": frozen, "tuned": tuned,
        "frozen_params": (entry.get("parameters") or {}).get("frozen"),
        "trainable_params": (entry.get("parameters") or {}).get("trainable"),
        "head": lang.ltr(lang.digits_only(head)) if head else None,
        "lr_head": num(lr0), "lr_backbone": num(lr0 * scale), "scale": num(scale),
        "scaled": scale != 1, "drops": drops, "image_size": size, "native": native, "upsampled": size != native,
        "imagenet_ratio": num(round(IMAGENET_SIZE / size, 2)) if size < IMAGENET_SIZE else None,
        "last_map": max(size // 2 ** blocks, 1), "imagenet_size": IMAGENET_SIZE,
        "train_images": n_train, "size_case": case, "comparisons": comparisons,
        "any_other_better": any(c["other_better"] for c in comparisons),
        "aggregate": entry.get("aggregate"),
    }
