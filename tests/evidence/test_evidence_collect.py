"""What a report embeds (bench.evidence.collect) and how numbers are read (bench.evidence.numbers): fast tests
on a synthetic run directory and on strings."""

import hashlib
import json
import math
import os
import subprocess
import sys

import pytest

import evidence_synth as synth
from bench.errors import BenchError
from bench.evidence import collect, embedded_set, evidence_files, number_tokens
from bench.evidence.numbers import allowed_tokens, compare, key_path


@pytest.fixture
def run_dir(tmp_path):
    return synth.make_run(tmp_path / "run")


def test_evidence_files_are_the_number_sources_sorted_without_checkpoints(run_dir):
    files = evidence_files(run_dir)
    paths = [f.path for f in files]
    assert paths == sorted(paths)
    assert paths == ["cnn/seed-0/config.json", "cnn/seed-0/history.csv", "cnn/seed-0/metrics.json",
                     "cnn/seed-0/predictions.npz", "dataset.json", "manifest.json", "mlp/seed-0/config.json",
                     "mlp/seed-0/history.csv", "mlp/seed-0/metrics.json", "mlp/seed-0/predictions.npz"]
    for f in files:
        assert f.data == (run_dir / f.path).read_bytes() and f.size == len(f.data)
        assert f.sha256 == hashlib.sha256(f.data).hexdigest()


def test_samples_png_travels_when_present(run_dir):
    (run_dir / "samples.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    assert "samples.png" in [f.path for f in evidence_files(run_dir)]


def test_a_linked_artifact_is_refused_by_name(run_dir, tmp_path):
    target = run_dir / "mlp" / "seed-0" / "predictions.npz"
    elsewhere = tmp_path / "other.npz"
    target.rename(elsewhere)
    os.symlink(elsewhere, target)
    with pytest.raises(BenchError, match=r"mlp/seed-0/predictions\.npz is a link"):
        evidence_files(run_dir)


def test_a_linked_manifest_and_a_non_regular_file_are_refused(run_dir, tmp_path):
    (run_dir / "dataset.json").rename(tmp_path / "dataset.json")
    os.symlink(tmp_path / "dataset.json", run_dir / "dataset.json")
    with pytest.raises(BenchError, match=r"dataset\.json is a link"):
        evidence_files(run_dir)
    (run_dir / "dataset.json").unlink()
    os.mkfifo(run_dir / "dataset.json")
    with pytest.raises(BenchError, match=r"dataset\.json is not a regular file"):
        evidence_files(run_dir)


def test_a_folder_without_manifest_is_no_run(tmp_path):
    with pytest.raises(BenchError, match="no manifest.json"):
        evidence_files(tmp_path)
    with pytest.raises(BenchError, match="not a run directory"):
        evidence_files(tmp_path / "absent")


def test_index_lists_every_attachment_and_is_stable(run_dir):
    files = evidence_files(run_dir)
    embedded = embedded_set(files, summary_name="report.summary.json", summary_bytes=b"{}\n")
    index = next(f for f in embedded if f.path == collect.INDEX)
    entries = collect.parse_index(index.data)
    assert set(entries) == {f.path for f in embedded} - {collect.INDEX}
    assert entries["report.summary.json"].size == 3
    again = embedded_set(evidence_files(run_dir), summary_name="report.summary.json", summary_bytes=b"{}\n")
    assert [(f.path, f.data) for f in again] == [(f.path, f.data) for f in embedded]


@pytest.mark.parametrize("data, problem", [(b"not json", "not valid JSON"), (b'{"format": 9, "files": []}',
                                                                              "format 1"),
                                           (b'{"format": 1, "files": [{"path": "a"}]}', "damaged or repeated")])
def test_a_damaged_index_is_named(data, problem):
    with pytest.raises(BenchError, match=problem):
        collect.parse_index(data)


@pytest.mark.parametrize("name", ["../manifest.json", "/etc/passwd", "mlp/seed-01/config.json",
                                  "mlp/seed-0/checkpoint.pt", "MLP/seed-0/config.json", "a/b/c/d.json",
                                  "mlp/seed-0/../../x.json", ".summary.json"])
def test_only_names_bench_embeds_are_extracted(name, tmp_path):
    with pytest.raises(BenchError, match="no file bench embeds"):
        collect.extract({name: b"x"}, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_extract_rebuilds_the_run_directory_without_summary_and_index(run_dir):
    files = evidence_files(run_dir)
    embedded = embedded_set(files, summary_name="report.summary.json", summary_bytes=b"{}\n")
    with collect.extracted({f.path: f.data for f in embedded}) as out:
        got = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        assert got == [f.path for f in files]
        npz = "mlp/seed-0/predictions.npz"
        assert (out / npz).read_bytes() == (run_dir / npz).read_bytes()


def test_importing_the_package_loads_neither_pypdf_nor_weasyprint():
    code = "import sys, bench.evidence; print('pypdf' in sys.modules, 'weasyprint' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ---- numbers in text ----

def test_checked_tokens_are_decimals_and_percentages():
    text = ("Accuracy 25.90 % [51.03, 52.99] on 1,000 images; p < 1e-70 and 1.6e-52; torch 2.14.1+cu130; "
            "seed 0. Page 3 of 12, 2026-12-02; digest 8472aaf65acda9a6; 26 %; x3.5")
    assert [t.text for t in number_tokens(text)] == ["25.90", "51.03", "52.99", "1.6", "26"]


def test_persian_digits_and_a_percent_sign_across_a_line_break_read_as_latin():
    assert [t.text for t in number_tokens("دقت ۲۵٫۹۰٪ و ۱٬۱۳۲ و ۰٫۲۵۹")] == ["25.90", "0.259"]
    assert [t.text for t in number_tokens("images, 28.4\n%)")] == ["28.4"]
    assert [t.text for t in number_tokens("٪ ۲۸٫۴")] == ["28.4"]


def test_tokens_know_their_page():
    assert [(t.text, t.page) for t in number_tokens("0.5\f\f1.25 and 3")] == [("0.5", 1), ("1.25", 3)]


def test_allowed_tokens_read_formatter_output_like_the_page():
    assert allowed_tokens(["25.90 %", "[0.233, 0.287]", "0.1.0", "12"]) == {"25.90", "0.233", "0.287"}


# ---- numbers of summaries ----

def test_compare_counts_numbers_and_finds_every_difference():
    a = {"models": {"mlp": {"per_seed": [{"seed": 0, "accuracy": 0.255, "n": 200}]}}, "ok": True, "s": "x"}
    b = json.loads(json.dumps(a))
    assert compare(a, b) == (3, [])
    b["models"]["mlp"]["per_seed"][0]["accuracy"] = 0.255 * (1 + 1e-14)
    assert compare(a, b)[1] == []  # the last bits of a float may differ
    b["models"]["mlp"]["per_seed"][0]["accuracy"] = 0.26
    b["models"]["mlp"]["per_seed"][0]["n"] = 201
    count, diffs = compare(a, b)
    assert [key_path(d.parts) for d in diffs] == ["models.mlp.per_seed[0].accuracy", "models.mlp.per_seed[0].n"]
    assert (diffs[0].embedded, diffs[0].recomputed) == (0.255, 0.26)


def first(a, b, **kw):
    return key_path(compare(a, b, **kw)[1][0].parts)


def test_compare_names_missing_keys_and_lengths_and_text():
    assert first({"a": [1, 2]}, {"a": [1]}) == "a[1]"
    assert first({"a": 1}, {"a": 1, "b": 2}) == "b"
    assert first({"s": "p < 0.05"}, {"s": "p < 0.5"}) == "s"
    assert compare({"x": math.nan}, {"x": math.nan}) == (1, [])
    assert first({"x": True}, {"x": 1}) == "x"  # a boolean is not the number 1


def test_compare_without_words_checks_numbers_and_structure_only():
    a = {"sentence": "2,000 training images", "x": 0.5, "l": ["a"]}
    assert compare(a, {**a, "sentence": "۲٬۰۰۰ تصویر"}, words=False) == (1, [])
    assert first(a, {**a, "x": 0.6}, words=False) == "x"
    assert first(a, {**a, "sentence": 2000}, words=False) == "sentence"
    assert first(a, {**a, "l": []}, words=False) == "l[0]"


@pytest.mark.parametrize("name, ok", [("report.summary.json", True), ("my report (final).summary.json", True),
                                      ("گزارش.summary.json", True), ("../x.summary.json", False),
                                      ("a/b.summary.json", False), ("a\\b.summary.json", False),
                                      (".summary.json", False), ("report.json", False)])
def test_any_report_file_name_gives_a_summary_name(name, ok):
    if ok:
        assert collect.summary_file(name, b"{}").path == name
    else:
        with pytest.raises(BenchError, match="summary name"):
            collect.summary_file(name, b"{}")


def test_html_text_is_what_a_reader_sees():
    from bench.evidence.numbers import html_text

    page = ("<html><head><title>0.5</title><style>p { width: 12.5px }</style></head>"
            "<body><p>accuracy 25.90&nbsp;%</p><script>var x = 1.5</script><p>0.259</p></body></html>")
    assert [t.text for t in number_tokens(html_text(page))] == ["25.90", "0.259"]
