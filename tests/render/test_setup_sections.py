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
    notes = notes_of(setup)
    assert ("CNN Adam, epochs at each learning rate: 8 at 0.001, 2 at 0.0001 "
            "Adam, epochs at each learning rate: 10 at a rate not published The study kept Adam at one rate") in notes
    # The reference study's optimizer stands beside the full protocol's, though the spec's note never names it.
    assert ("VGG16 transfer Adam, epochs at each learning rate: 8 at 0.001, 2 at 0.0001; tuned conv layers at 0.1× "
            "the rate SGD, epochs at each learning rate: 10 at a rate not published; tuned conv layers at a lower "
            "rate, not published Tuned conv blocks") in notes
    assert "MLP" not in notes  # the MLP's protocol is the study's


def notes_of(setup: str) -> str:
    return text_of(re.search(r'<table class="compact notes">.*?</table>', setup, re.S).group(0))


def test_the_study_setup_comes_from_the_run_and_is_never_guessed_for_another_study(tmp_path):
    # A run recorded before references carried the study's setup, with the built-in study's numbers: the built-in
    # setup. Another study's numbers (a protocol file's [reference]) without a setup: "not recorded", not ours.
    reference = {"cnn": {"accuracy": 0.818, "loss": 0.528}, "vgg16": {"accuracy": 0.9, "loss": 0.3}}
    arts = fake_run(tmp_path, models=("cnn", "vgg16"), manifest_extra={"protocol": {"reference": reference}})
    notes = notes_of(section(render(arts)[1], "setup"))
    assert "CNN Adam, epochs at each learning rate: 8 at 0.001, 2 at 0.0001 Adam, epochs at each" in notes
    assert "0.1× the rate not recorded Tuned conv blocks" in notes
    # A recorded setup the full protocol follows: no note row, unless the spec has a note of its own.
    same = {"vgg16": {"accuracy": 0.9, "loss": 0.3, "optimizer": "adam", "backbone_lr_scale": 0.1,
                      "phases": [{"lr": 1e-3, "epochs": 8}, {"lr": 1e-4, "epochs": 2}]}}
    arts = fake_run(tmp_path / "same", models=("mlp", "vgg16"), manifest_extra={"protocol": {"reference": same}})
    notes = notes_of(section(render(arts)[1], "setup"))
    assert "Adam, epochs at each learning rate: 8 at 0.001, 2 at 0.0001; tuned conv layers at 0.1× the rate Adam" \
        in notes


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


# ----------------------------------------------------------------------------- issue 22, second wave (H7)

def persian(arts, words: dict[str, str] | None = None) -> str:
    """The Persian HTML of `arts`; `words`: translations to use beyond the catalogue's (msgid -> msgstr), to show
    that a value is printed through the catalogue before the translators have translated it."""
    from bench.render import i18n

    lang = i18n.Language("fa")
    if words:
        inner = lang.translations

        class Marked:
            def gettext(self, m):
                return words.get(m) or inner.gettext(m)

            def pgettext(self, c, m):
                return words.get(m) or inner.pgettext(c, m)

            def ngettext(self, s, p, n):
                return inner.ngettext(s, p, n)

            def npgettext(self, c, s, p, n):
                return inner.npgettext(c, s, p, n)

        lang.translations = Marked()
    with i18n.activated(lang):
        return render(arts)[1]


def models_of(html: str) -> list[str]:
    return re.findall(r'<section class="model">.*?</section>', html, re.S)


def test_architecture_chains_keep_latin_digits_left_to_right_in_persian(tmp_path):
    from bench.render import i18n, text

    with i18n.activated(i18n.Language("fa")):
        mlp = text.recorded_text("3072-256-128-10 fully connected, ReLU")
        cnn = text.recorded_text("3 blocks of 2 conv3x3+ReLU and max-pool (32-64, 128-128, 256-256), "
                                 "FC 4096-1024-512-10")
    assert f"{i18n.LRI}3072-256-128-10{i18n.PDI}" in mlp  # the translator's isolate: untouched
    assert "۳" in cnn and f"{i18n.LRI}4096-1024-512-10{i18n.PDI}" in cnn  # a count outside it: Persian digits
    html = persian(fake_run(tmp_path, models=("mlp", "vgg16")))
    mlp_section, vgg_section = models_of(html)
    assert re.search(r'<bdi dir="ltr"[^>]*>3072-256-128-10</bdi>', mlp_section)
    assert re.search(r'<bdi dir="ltr"[^>]*>512-256-10</bdi>', vgg_section)  # the head, from the run's layers
    assert "۳۰۷۲" not in html and "۵۱۲-" not in html  # no chain anywhere in Persian digits


def frozen_layers(arts, n=7):
    layers = [{"name": f"features.{2 * i}", "layer": f"Conv2d {64 * (i + 1)}→{64 * (i + 2)}, 3×3",
               "params": 1000 * (i + 1), "trainable": i >= 3} for i in range(n)]
    for r in arts.runs:
        if r.model == "vgg16":
            r.config["layers"] = layers
    return layers


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_the_layers_table_keeps_index_and_layer_as_code_in_cells_of_their_own(tmp_path, lang):
    arts = fake_run(tmp_path, models=("vgg16",))
    layers = frozen_layers(arts)
    html = render(arts)[1] if lang == "en" else persian(arts)
    table = re.search(r'<table class="compact layers with-state">.*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == 4  # seven layers in two groups of columns (something is frozen: a state column)
    index = re.findall(r'<td class="mono idx" dir="ltr">([^<]+)</td>', table)
    layer = re.findall(r'<td class="layer"><bdi dir="ltr" class="ltr nb">([^<]+)</bdi></td><td class="num">([^<]+)</td>',
                       table)
    # Read down, then across: the first group holds the first four layers.
    assert index == [layers[i]["name"] for i in (0, 4, 1, 5, 2, 6, 3)]
    assert [name for name, _count in layer] == [layers[i]["layer"] for i in (0, 4, 1, 5, 2, 6, 3)]
    assert all(re.fullmatch(r"[\d,٬۰-۹]+", count) for _name, count in layer)  # the count alone in its cell


def test_option_values_and_file_names_are_printed_through_the_catalogue(tmp_path):
    arts = fake_run(tmp_path, models=("mlp", "vgg16"))
    source = "file vgg16_features_imagenet.pth"
    for r in arts.runs:
        if r.model == "vgg16":
            r.config["compute"]["weights_source"] = source
    arts.manifest["weights"]["vgg16"]["source"] = source
    html = render(arts)[1]
    setup = text_of(section(html, "setup"))
    assert "without torch.compile" in setup and "torch.compile none" not in html
    assert "fast input pipeline" in setup and "VGG16 transfer weights file vgg16_features_imagenet.pth" in setup
    assert "<th>SHA-256</th>" in section(html, "appendix") and "<th>sha256</th>" not in html
    words = {"fast": "سریع", "without %(compile)s": "بدون %(compile)s", "file %(name)s": "پروندهٔ %(name)s",
             "SHA-256": "چکیدهٔ SHA-256"}
    html = persian(arts, words)
    setup_html = section(html, "setup")
    setup = text_of(setup_html)
    assert "بدون torch.compile" in setup and "none" not in setup and not re.search(r"\bfast\b", setup)
    assert not re.search(r"\bfile\b", setup) and "پروندهٔ" in setup
    # The file name and the option stay code: left-to-right isolates.
    assert re.search(r'<bdi dir="ltr"[^>]*>vgg16_features_imagenet.pth</bdi>', setup_html)
    assert re.search(r'<bdi dir="ltr"[^>]*>torch.compile</bdi>', setup_html)
    assert "<th>چکیدهٔ SHA-256</th>" in section(html, "appendix")


def summary_of(seeds: dict[str, int]) -> dict:
    return {"bootstrap": {"resamples": 1000}, "models": {
        name: {"title": name.upper(), "aggregate": {"accuracy": {"n": n}}} for name, n in seeds.items()}}


@pytest.mark.parametrize("seeds,expected", [
    ({"a": 1, "b": 1}, ["Test-set results. Brackets: 95\u00a0% intervals, by Wilson score interval over test images "
                        "for accuracy and percentile bootstrap"]),
    ({"a": 2, "b": 2}, ["Test-set results: mean ± standard deviation over seeds. No brackets: two seeds are too few "
                        "for an interval over seeds."]),
    ({"a": 3, "b": 5}, ["Test-set results: mean ± standard deviation over seeds. Brackets: 95\u00a0% intervals, by "
                        "Student t interval over seeds whose variance adds", "; the loss has none."]),
    ({"a": 2, "b": 3}, ["Brackets: 95\u00a0% intervals, by Student t interval over seeds", "for B;",
                        "No brackets for A: two seeds are too few for an interval over seeds."]),
    ({"a": 1, "b": 2}, ["for A, trained with one seed; the loss has none. No brackets for B: two seeds"]),
])
def test_the_comparison_caption_is_true_for_every_seed_count(seeds, expected):
    caption = facts.comparison_facts(summary_of(seeds))["caption"]
    for part in expected:
        assert part in caption, (part, caption)
    assert "by none" not in caption and "by ;" not in caption


def test_a_two_seed_comparison_table_says_it_has_no_brackets(tmp_path):
    html = render(fake_run(tmp_path, models=("mlp", "cnn"), seeds=(0, 1)))[1]
    caption = text_of(re.search(r'<table class="metrics wide">\s*<caption>(.*?)</caption>', html, re.S).group(1))
    assert "No brackets: two seeds are too few for an interval over seeds." in caption
    assert "by none" not in caption and "by ;" not in caption


def test_numbers_keep_their_units_and_names_stay_whole(tmp_path):
    from bench.render import text

    assert text.percent("10.0") == "10.0\u00a0%" and text.duration(3.25) == "3.2\u00a0s"
    assert text.titles(["CNN + BN + Dropout", "MLP"]) == "CNN\u00a0+\u00a0BN\u00a0+\u00a0Dropout and MLP"
    html = render(fake_run(tmp_path, models=("mlp", "cnn")))[1]
    page = re.sub(r'src="data:[^"]*"', "", re.sub(r"<head>.*?</head>", "", html, flags=re.S))
    assert re.search(r"\d\u00a0%", page)
    # (text_of would turn the no-break spaces into spaces: \s matches both.)
    assert not re.search(r"\d(?:[ \t\n]|<[^>]+>)+%", page), "a number parted from its %"


def test_the_metrics_are_defined_once_in_the_setup_before_any_table_uses_them(tmp_path):
    html = render(fake_run(tmp_path, models=("mlp", "cnn")))[1]
    definition = "a class's precision is the share of the images predicted as that class that belong to it"
    assert text_of(html).count(definition) == 1 and definition in text_of(section(html, "setup"))
    assert "A macro average weights every class equally" in text_of(section(html, "setup"))
    before = text_of(html.split('<section class="setup">')[0]).lower()
    assert "recall" not in before and "precision" not in before


def test_a_model_section_has_no_sentence_that_restates_its_tables(tmp_path):
    html = render(fake_run(tmp_path, models=("mlp", "cnn")))[1]
    for model in models_of(html):
        assert "Most confused pairs" not in model  # read off the confusion matrix
        assert 'class="metrics per-class"' in model


@pytest.mark.slow
def test_the_pdf_keeps_units_layers_and_chains_whole_and_a_model_section_about_a_page(tmp_path):
    import subprocess

    from bench.render.outputs import render_pdf

    arts = fake_run(tmp_path, models=("mlp", "cnn", "vgg16"))
    frozen_layers(arts, n=16)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render_pdf(render(arts)[1]))
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")
    lines = [line.strip() for p in pages for line in p.splitlines()]
    assert not any(line.startswith("%") for line in lines), "a percent sign broken from its number"
    starts = [next(i for i, p in enumerate(pages) if re.search(rf"^\s*{n}\. {t}\s*$", p, re.M))
              for n, t in ((2, "MLP"), (3, "CNN"), (4, r"VGG16 transfer"))]
    assert starts[1] - starts[0] <= 1 and starts[2] - starts[1] <= 1  # a one-seed model section: about a page
    fa = tmp_path / "fa.pdf"
    fa.write_bytes(render_pdf(persian(arts)))
    from bench.render.i18n import strip_bidi

    text = strip_bidi(subprocess.run(["pdftotext", "-layout", str(fa), "-"], capture_output=True, text=True,
                                     check=True).stdout)  # pdftotext marks embeddings (U+202A-U+202C)
    assert "3072-256-128-10" in text and "Conv2d 64→128, 3×3" in text
    assert not re.search(r"3×3[^\s]", text) and not re.search(r"[^\s]Conv2d", text)  # never run into its count


def test_an_old_device_line_is_worded_in_the_report_language(tmp_path):
    arts = fake_run(tmp_path, models=("mlp",), manifest_extra={"device_name": "x86_64 CPU, 2 threads"})
    assert "device x86_64 CPU, 2 torch threads" in text_of(section(render(arts)[1], "setup"))
    from bench.render import i18n

    lang = i18n.Language("fa")
    inner = lang.translations

    class Marked:  # this Language's own catalogue (the shared one is cached): one message translated
        def ngettext(self, s, p, n):
            return "پردازندهٔ %(cpu)s، %(n)s رشتهٔ torch" if s.startswith("%(cpu)s CPU") else inner.ngettext(s, p, n)

    lang.translations = Marked()
    with i18n.activated(lang):
        worded = facts.old_device("x86_64 CPU, 2 threads")
    assert "threads" not in worded and "x86_64" in worded and "۲" in worded


def test_a_column_of_times_never_prints_a_short_job_as_zero():
    # A 0.6 s MLP beside a 5-minute VGG16: the column is in minutes, with enough decimals to show the MLP.
    scale, unit, digits = facts.time_unit([0.6, 300.0])
    assert unit == "min" and f"{0.6 / scale:.{digits}f}" != "0.0" and float(f"{0.6 / scale:.{digits}f}") > 0
    assert facts.time_unit([59.0, 61.0])[2] == 1 and facts.time_unit([9000.0])[1] == "h"
