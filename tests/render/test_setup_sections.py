"""The setup, model and appendix sections (issue 22): machine facts, one protocol table, times with their spread
and warm-up outliers, trainable parameters, the sample grid's own names, digests only in the appendix.

Rendered from in-memory runs (test_report.fake_run) to HTML; the PDF test reads the rendered PDF's text."""

import base64
import io
import re

import numpy as np
import pytest
from test_report import fake_run, render, text_of

from bench.data.samples import grid_without_labels, sample_grid_png
from bench.render import facts

MACHINE = {"cpu": "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "architecture": "x86_64", "logical_cores": 8,
           "usable_cores": 8, "torch_threads": 4, "memory_bytes": 32 * 2 ** 30, "os": "Linux",
           "os_release": "6.1.0-test", "load_start": 0.25, "load_end": 4.5}


def section(html: str, name: str) -> str:
    return re.search(rf'<section class="{name}">.*?</section>', html, re.S).group(0)


def body(html: str) -> str:
    """Everything before the appendix."""
    return html.split('<section class="appendix">')[0]


def test_machine_facts_are_printed_from_their_fields(tmp_path):
    arts = fake_run(tmp_path, models=("mlp", "cnn"), manifest_extra={"machine": dict(MACHINE)})
    setup = text_of(section(render(arts)[1], "setup"))
    assert "device Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz (8 logical cores, 4 torch threads)" in setup
    assert "OS Linux 6.1.0-test" in setup and "memory 32.0 GiB" in setup
    # load 0.25 at the start, 4.5 - 4 own threads at the end: nothing above half of 8 cores.
    assert "shared machine no (load average 0.25 at the start, 4.50 at the end)" in setup
    assert "Test GPU" not in setup  # the old one-line string only stands in for a missing record


def test_a_busy_machine_is_called_shared_and_a_gpu_named(tmp_path):
    busy = {**MACHINE, "load_start": 6.0, "gpu": {"name": "NVIDIA H200", "memory_bytes": 141 * 10 ** 9,
                                                  "count": 1}}
    arts = fake_run(tmp_path, models=("mlp",), manifest_extra={"machine": busy})
    setup = text_of(section(render(arts)[1], "setup"))
    assert "device NVIDIA H200, 131.3 GiB" in setup and "CPU Intel(R) Xeon(R)" in setup
    assert "shared machine yes (load average 6.00 at the start" in setup


def test_an_old_manifest_says_not_recorded(tmp_path):
    arts = fake_run(tmp_path, models=("mlp",))
    assert "machine" not in arts.manifest
    setup = text_of(section(render(arts)[1], "setup"))
    for row in ("OS not recorded", "memory not recorded", "shared machine not recorded", "device Test GPU"):
        assert row in setup, row


def test_one_shared_protocol_table_and_one_of_differences(tmp_path):
    arts = fake_run(tmp_path, models=("mlp", "cnn", "vgg16"))
    html = render(arts)[1]
    setup = section(html, "setup")
    assert html.count("The protocol every model shares.") == 1
    shared = text_of(re.search(r'<table class="kv protocol">.*?</table>', setup, re.S).group(0))
    differ = text_of(re.search(r'<table class="compact differ">.*?</table>', setup, re.S).group(0))
    for row in ("batch size 128", "loss cross-entropy", "input pipeline fast", "weight decay 0.0005"):
        assert row in shared, row
    assert "optimizer" not in shared and "optimizer SGD without momentum Adam Adam" in differ
    assert "frozen blocks – – 3 of 5" in differ
    # No model section repeats the protocol.
    for model in re.findall(r'<section class="model">.*?</section>', html, re.S):
        assert "batch size" not in text_of(model) and "learning-rate phases" not in text_of(model)
    # The full protocol's notes against the reference study, shown though this run follows the full protocol.
    notes = text_of(re.search(r'<table class="compact notes">.*?</table>', setup, re.S).group(0))
    assert "CNN Adam, epochs at each learning rate: 8 at 0.001, 2 at 0.0001 The study kept Adam at one rate" in notes
    assert "MLP" not in notes  # the MLP's protocol is the study's


def test_trainable_parameters_are_labelled_beside_the_total(tmp_path):
    html = render(fake_run(tmp_path, models=("mlp", "vgg16")))[1]
    text = text_of(html)
    assert "Parameters: 1,000 in total, 1,000 trainable." in text
    assert "Parameters: 1,000 in total, 800 trainable, 200 frozen." in text
    assert "parameters, 1,000 trained" not in text


def test_times_have_one_unit_per_column_and_a_warm_up_outlier_is_flagged(tmp_path):
    arts = fake_run(tmp_path, models=("mlp", "cnn"), seeds=(0, 1, 2, 3))
    times = {"mlp": [300.0, 61.0, 59.0, 60.0], "cnn": [100.0, 110.0, 90.0, 105.0]}
    for model, values in times.items():
        for seed, t in enumerate(values):
            arts.manifest["models"][f"{model}/seed-{seed}"]["train_seconds"] = t
    arts.manifest["models"]["mlp/seed-0"]["started_at"] = "2025-03-04T03:00:00+00:00"  # the run's first job
    html = render(arts)[1]
    table = text_of(re.search(r'<table class="compact times">.*?</table>', html, re.S).group(0))
    # 300 s tops the column: minutes, one decimal, for every row; the outlier left out of mean and range.
    assert "training (min) range (min)" in table
    assert "MLP 4 1.0 ± 0.0* 1.0–1.0" in table and "CNN 4 1.7 ± 0.1 1.5–1.8" in table
    assert ("*MLP, seed 0: 5.0 min, over 1.5 times the median of the other seeds, left out of the mean and range: "
            "it was the run's first job") in text_of(html)
    assert facts.warmup_outliers({0: 300.0, 1: 61.0, 2: 59.0}) == {0}
    assert facts.warmup_outliers({0: 300.0, 1: 61.0}) == set()  # one other seed cannot tell which is odd


def test_artifact_digests_leave_the_body_and_the_weights_digest_stays(tmp_path):
    arts = fake_run(tmp_path, models=("mlp", "vgg16"))
    (tmp_path / "mlp" / "seed-0").mkdir(parents=True)
    (tmp_path / "mlp" / "seed-0" / "history.csv").write_text("epoch\n1\n")
    html = render(arts)[1]
    digest = re.search(r'history.csv</td><td class="num">[^<]*</td><td class="mono small" dir="ltr">([0-9a-f]{64})',
                       html).group(1)
    assert digest not in body(html) and digest in section(html, "appendix")
    assert '<table class="files small">' in html
    assert "SHA-256 " + "ab" * 32 in text_of(section(html, "setup"))  # the pretrained weights' digest


def test_every_table_and_figure_of_these_sections_is_numbered(tmp_path):
    html = render(fake_run(tmp_path, models=("mlp", "cnn")))[1]
    for name in ("setup", "model", "appendix"):
        for part in re.findall(rf'<section class="{name}">.*?</section>', html, re.S):
            for cap in re.findall(r"<(?:caption|figcaption)>(.*?)</(?:caption|figcaption)>", part, re.S):
                assert re.match(r"\s*(Table|Figure) \d+\.", text_of(cap)), cap[:80]


def test_the_sample_grid_keeps_its_artifact_and_prints_its_own_names(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 4)
    images = rng.integers(0, 255, (12, 32, 32, 3), dtype=np.uint8)
    png = sample_grid_png(images, labels, ["airplane", "automobile", "bird"], per_class=4)
    crop = grid_without_labels(png)
    from PIL import Image

    whole, cut = Image.open(io.BytesIO(png)), Image.open(io.BytesIO(crop))
    assert cut.height == whole.height and 0.5 * whole.width < cut.width < whole.width
    # The cut keeps the photographs, the names' column is gone: its left edge is not white.
    assert (np.asarray(cut.convert("RGB"))[:, :3] < 245).any(axis=2).mean() > 0.5
    assert grid_without_labels(b"not a png") is None
    arts = fake_run(tmp_path, models=("mlp",))
    arts.samples_png = png
    arts.dataset["classes"] = arts.dataset["classes"]
    setup = section(render(arts)[1], "setup")
    grid = re.search(r'<table class="sample-grid">.*?</table>', setup, re.S).group(0)
    assert [text_of(n) for n in re.findall(r"<th[^>]*>(.*?)</th>", grid)][:3] == ["airplane", "automobile", "bird"]
    uri = re.search(r'src="data:image/png;base64,([^"]+)"', grid).group(1)
    assert base64.b64decode(uri) == crop and base64.b64decode(uri) != png


@pytest.mark.slow
def test_the_pdf_shows_machine_facts_and_keeps_digests_in_the_appendix(tmp_path):
    from pypdf import PdfReader

    from bench.render.outputs import render_pdf

    arts = fake_run(tmp_path, models=("mlp", "cnn"), manifest_extra={"machine": dict(MACHINE)})
    (tmp_path / "mlp" / "seed-0").mkdir(parents=True)
    (tmp_path / "mlp" / "seed-0" / "history.csv").write_text("epoch\n1\n")
    html = render(arts)[1]
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(render_pdf(html))).pages]
    text = "\n".join(pages)
    appendix = next(i for i, p in enumerate(pages) if re.search(r"^Appendix", p, re.M) and "Manifest" in p)
    digest = re.search(r'history.csv</td><td class="num">[^<]*</td><td class="mono small" dir="ltr">([0-9a-f]{64})',
                       html).group(1)
    flat = [re.sub(r"\s+", "", p) for p in pages]
    assert not any(digest in p for p in flat[:appendix]) and any(digest in p for p in flat[appendix:])
    assert "32.0 GiB" in text and "Linux 6.1.0-test" in text and "4 torch threads" in text
    assert "Parameters: 1,000 in total, 1,000 trainable." in re.sub(r"\s+", " ", text)
    assert "mlp/seed-0" in text  # seed keys stay whole
