"""A small synthetic run directory and a toy report of it, for the evidence tests.

Written with numpy and json only (no training, no bench.results), so that these tests do not depend on the
report's moving code: `recompute` and `formatted` stand in for the report's analysis and number formatting
that the wiring passes to verify_pdf.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.evidence.numbers import html_text
from bench.rundir.checks import fingerprint

CLASSES = [f"class{i}" for i in range(10)]
N_TEST = 200
FINISHED = "2026-12-02T01:16:58.147+00:00"


def predictions(seed: int, skill: float, labels: np.ndarray) -> bytes:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(labels), 10)).astype(np.float32)
    logits[np.arange(len(labels)), labels] += skill
    buf = io.BytesIO()
    np.savez_compressed(buf, labels=labels.astype(np.int64), logits=logits,
                        predicted=logits.argmax(axis=1).astype(np.int64))
    return buf.getvalue()


def write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def make_run(root: Path, *, models=("mlp", "cnn"), seeds=(0,)) -> Path:
    """A run directory as bench writes it, reduced to the fields the evidence checks read."""
    labels = np.random.default_rng(43).integers(0, 10, size=N_TEST)
    directory = {"profile": {"name": "smoke"}, "data": {"test": "d" * 64}, "precision": "fp32"}
    manifest = {"artifact_format": 2, "directory": directory, "fingerprint": fingerprint(directory),
                "seeds": list(seeds), "models": {}, "started_at": "2026-12-02T01:14:05.492+00:00",
                "finished_at": FINISHED}
    dataset = {"classes": CLASSES, "digests": {"test": "d" * 64},
               "test_labels_sha256": hashlib.sha256(labels.astype(np.int64).tobytes()).hexdigest()}
    for i, model in enumerate(models):
        for seed in seeds:
            folder = root / model / f"seed-{seed}"
            compute = {"spec": {"model": model, "phases": [{"lr": 0.1, "epochs": 2}], "optimizer": "sgd"},
                       "model_kwargs": {}, "seed": seed, "precision": "fp32"}
            protocol = {k: v for k, v in compute.items() if k != "seed"}
            config = {"artifact_format": 2, "model": model, "title": model.upper(), "compute": compute,
                      "fingerprint": fingerprint(compute), "protocol_fingerprint": fingerprint(protocol),
                      "directory_fingerprint": manifest["fingerprint"]}
            write_json(folder / "config.json", config)
            write_json(folder / "metrics.json", {"artifact_format": 2, "model": model, "seed": seed,
                                                 "status": "complete", "fingerprint": config["fingerprint"],
                                                 "test": {"loss": 1.5 + i + seed / 10}})
            with open(folder / "history.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["epoch", "train_loss"])
                writer.writerows([[1, 2.0], [2, 1.5]])
            (folder / "predictions.npz").write_bytes(predictions(seed * 10 + i, 1.0 + i, labels))
            (folder / "checkpoint.pt").write_bytes(b"not evidence")
            manifest["models"][f"{model}/seed-{seed}"] = {"status": "complete"}
    write_json(root / "manifest.json", manifest)
    write_json(root / "dataset.json", dataset)
    return root


def recompute(run_dir: Path) -> dict:
    """The toy report's analysis: accuracy per seed from predictions.npz, loss from metrics.json."""
    models: dict[str, dict] = {}
    for cfg in sorted(Path(run_dir).glob("*/seed-*/config.json")):
        model, seed = cfg.parent.parent.name, int(cfg.parent.name[len("seed-"):])
        for name in ("predictions.npz", "metrics.json"):
            if not (cfg.parent / name).is_file():  # as the report's loader refuses it
                raise BenchError(f"missing artifact: {cfg.parent / name}")
        with np.load(cfg.parent / "predictions.npz") as npz:
            accuracy = float((npz["predicted"] == npz["labels"]).mean())
            n = int(len(npz["labels"]))
        loss = json.loads((cfg.parent / "metrics.json").read_text())["test"]["loss"]
        entry = models.setdefault(model, {"per_seed": []})
        entry["per_seed"].append({"seed": seed, "accuracy": accuracy, "n": n, "loss": loss})
    for entry in models.values():
        entry["mean_accuracy"] = float(np.mean([s["accuracy"] for s in entry["per_seed"]]))
    return {"models": models, "method": "share of test images whose predicted class is the label"}


def summary_bytes(run_dir: Path) -> bytes:
    return (json.dumps(recompute(run_dir), indent=1, sort_keys=True) + "\n").encode()


def formatted(summary: dict, run_dir: Path) -> list[str]:
    """Every number string the toy report prints."""
    out = []
    for entry in summary["models"].values():
        for s in entry["per_seed"]:
            out += [f"{100 * s['accuracy']:.2f} %", f"{s['loss']:.3f}"]
        out.append(f"{100 * entry['mean_accuracy']:.1f} %")
    return out


def report_html(summary: dict, embedded, *, lang: str = "en") -> str:
    """The toy report: one line per seed, the means, and the appendix's table of embedded files."""
    rows = []
    for model, entry in summary["models"].items():
        for s in entry["per_seed"]:
            rows.append(f"<p>{model} seed {s['seed']}: accuracy {100 * s['accuracy']:.2f} % on {s['n']} images, "
                        f"loss {s['loss']:.3f}</p>")
        rows.append(f"<p>{model}: mean accuracy {100 * entry['mean_accuracy']:.1f} %</p>")
    table = "".join(f"<tr><td>{html.escape(f.path)}</td><td>{f.size}</td><td class=h>{f.sha256}</td></tr>"
                    for f in embedded)
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Toy report</title>'
            '<meta name="author" content="H6"><meta name="description" content="evidence test">'
            '<meta name="keywords" content="cifar-10, evidence">'
            '<style>@page { size: A4 } td.h { font-family: monospace; font-size: 6pt; word-break: break-all }'
            "</style></head><body><h1>Toy report</h1>"
            f"{''.join(rows)}<h2>Appendix: embedded evidence</h2><table>{table}</table>"
            "<p>Page 1 of 2026, 3 seeds, 10 classes: integers are not checked.</p></body></html>")


def visible_text(page: str) -> str:
    """The toy report's text as a PDF reader would extract it."""
    return html_text(page)
