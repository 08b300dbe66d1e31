"""The setup's protocol tables: what every model's protocol shares, what differs between models, and the notes
where the full protocol differs from how the reference study trained each model (its recorded setup beside it).

Which settings differ is bench.results.departures.study_differences's decision; this module only words it.
"""

from __future__ import annotations

from bench.render.i18n import _, current, pgettext
from bench.render.text import OPTIMIZER_NAMES, capitalised, num, phases_text, recorded_text
from bench.results.departures import study_differences


def training_text(optimizer: str | None, phases: list[dict], backbone_lr_scale) -> str:
    """How a model was trained, in one phrase: the optimizer, epochs at each rate (a rate the study did not
    publish said so), and the tuned layers' rate when it is not the head's ("lower": by a factor not published)."""
    lang = current()
    published = all("lr" in p for p in phases)
    shown = phases_text(phases) if published else pgettext("list separator", ", ").join(
        phases_text([p]) if "lr" in p else _("%(epochs)s at a rate not published") % {
            "epochs": lang.integer(p["epochs"])} for p in phases)
    text = _("%(optimizer)s, epochs at each learning rate: %(phases)s") % {
        "optimizer": lang.isolate(OPTIMIZER_NAMES.get(optimizer, optimizer or "?")), "phases": shown}
    if backbone_lr_scale == "lower":
        return _("%(protocol)s; tuned conv layers at a lower rate, not published") % {"protocol": text}
    if backbone_lr_scale is not None and backbone_lr_scale != 1:
        return _("%(protocol)s; tuned conv layers at %(factor)s× the rate") % {
            "protocol": text, "factor": num(backbone_lr_scale)}
    return text


def study_setup_text(reference: dict) -> str:
    """The reference study's recorded setup of a model, worded as the full protocol's is."""
    return training_text(reference.get("optimizer"), reference.get("phases") or [],
                         reference.get("backbone_lr_scale"))


def protocol_tables(models: list[dict], specs: dict) -> dict:
    """One table of what every model's protocol shares, one of only what differs (a column per model), and the
    notes where the full protocol (manifest "protocol", else the run's spec) differs from the reference study:
    the study's setup where the run recorded it, and the spec's note on why."""
    keys, labels, cells = [], {}, {}
    for m in models:
        for row in m["protocol_rows"]:
            if row["key"] not in labels:
                keys.append(row["key"])
                labels[row["key"]] = row["label"]
            cells.setdefault(row["key"], {})[m["name"]] = row["lines"]
    shared, differ = [], []
    for k in keys:
        values = [cells[k].get(m["name"]) for m in models]
        if len(models) > 1 and any(v != values[0] for v in values):
            differ.append({"label": labels[k], "cells": [v or ["–"] for v in values]})
        else:
            shared.append({"label": labels[k], "lines": values[0]})
    notes = []
    for m in models:
        full = specs.get(m["name"]) or m["spec"]
        note = full.get("note") or m["spec"].get("note")
        reference = (m.get("entry") or {}).get("reference")
        differs = study_differences(full, reference)
        if not differs and not note:
            continue
        notes.append({"title": m["title"],
                      "full": training_text(full["optimizer"], full["phases"], full.get("backbone_lr_scale", 1)),
                      "study": study_setup_text(reference) if differs is not None else _("not recorded"),
                      "note": capitalised(recorded_text(note)) if note else "–"})
    return {"shared": shared, "differ": differ, "titles": [m["title"] for m in models], "notes": notes}
