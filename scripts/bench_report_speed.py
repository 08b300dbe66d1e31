#!/usr/bin/env python
"""How long `bench report` takes, and where the time goes: a benchmark that prints numbers, not a test.

    python scripts/bench_report_speed.py RUN_DIR [--repeats 3] [--lang en fa] [--cache cold|warm|shared|off]
                                         [--against OTHER_SOURCE_TREE]

Each repeat is a fresh `python` process that renders RUN_DIR's report exactly as `bench report RUN_DIR --out
X.pdf --lang L` does (the CLI's own entry point), so interpreter start-up and imports count as a user waits for
them. Inside it, timing wrappers around the report's stages give the phase breakdown:

    import     importing bench's report code (numpy, scipy, matplotlib, ... come with it)
    analyse    reading the run directory and bench.results.study.analyse (the numbers; a cache hit is ~0); where
               worker processes compute it (bench.render.charts.workers), the time the report waits for it
    figures    every chart and picture (bench.render.charts' *_png, drawn by bench.render.plots on a cache miss,
               its import included; a cache hit is ~0); with workers, asking for them and waiting for them
    context    the rest of the template context (words, facts, digests)
    html       the page rendered by Jinja (two passes: Numbering)
    evidence   the files the PDF embeds, read and hashed
    layout     WeasyPrint's layout of the HTML
    pdf        WeasyPrint drawing the pages, PDF/A-3b, attachments
    workers    CPU time of the report's worker processes (wall: 0; their work overlaps the phases above)
    other      the rest of the process (start-up, writing the files, ...)

--cache: "cold" gives every repeat an empty cache folder (BENCH_CACHE_DIR), so nothing is reused: the first
report of a run; "shared" times the second and later --lang of a run, each repeat in a fresh cache folder that
an untimed render of the first --lang filled (the analysis is reused, the charts of another language are not);
"warm" renders once untimed per language first, then times renders that find the analysis and charts cached
(a report rendered again, e.g. after a template change); "off" sets BENCH_CACHE=off.

--against TREE: every repeat also renders with the bench of another source tree (a checkout of the previous
commit, say; it goes first on PYTHONPATH), interleaved with this one, so that both meet the same load on a shared
machine; its rows are labelled "LANG@before".

Prints the median (and min-max) wall time per language and the median of each phase. The reports are written
to a temporary folder (or --out-dir), never into RUN_DIR; the temporary folders are removed at the end. Works with
any bench that is importable (the phases that an older bench lacks read 0).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHASES = ("import", "analyse", "figures", "context", "html", "evidence", "layout", "pdf", "workers", "other")


def child(run_dir: str, out: str, lang: str, result: str) -> None:
    """One render in this process, with its phases timed; writes {phase: seconds} to `result`."""
    t_start, c_start = time.perf_counter(), time.process_time()
    spent = dict.fromkeys((*PHASES, "wait", "fill"), 0.0)
    cpu = dict.fromkeys((*PHASES, "wait", "fill"), 0.0)
    depth = {"n": 0}

    def timed(phase, fn, *, outermost_only=False):
        def wrapper(*args, **kwargs):
            if outermost_only and depth["n"]:
                return fn(*args, **kwargs)
            depth["n"] += outermost_only
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[phase] += time.perf_counter() - t0
                cpu[phase] += time.process_time() - c0
                depth["n"] -= outermost_only
        wrapper.__wrapped__ = fn
        return wrapper

    t0, c0 = time.perf_counter(), time.process_time()
    from bench.cli import main as cli_main
    from bench.render import outputs, report
    from bench.results import study

    spent["import"], cpu["import"] = time.perf_counter() - t0, time.process_time() - c0
    # The charts as the report asks for them: bench.render.charts (cache or drawing, which imports plots and
    # matplotlib only on a miss, so importing plots here would add to "import" what a report does not pay), or,
    # in a bench without it, bench.render.plots.
    try:
        from bench.render import charts as figures
    except ImportError:
        from bench.render import plots as figures
    for name in [n for n in dir(figures) if n.endswith(("_svg", "_png")) and callable(getattr(figures, n))]:
        setattr(figures, name, timed("figures", getattr(figures, name), outermost_only=True))
    # The analysis, wherever the report calls it from (directly, or through a cache).
    analyse = study.analyse
    study.analyse = timed("analyse", analyse)
    if getattr(report, "analyse", None) is analyse:
        report.analyse = study.analyse
    report.load_artifacts = timed("analyse", report.load_artifacts)
    if hasattr(report, "resolved"):  # waiting for what workers compute (the analysis, the files' hashes)
        report.resolved = timed("wait", report.resolved)
    if hasattr(figures, "fill"):  # waiting for the charts workers draw
        figures.fill = timed("fill", figures.fill)
    build_context = report.build_context
    report.build_context = timed("context", build_context)
    report.render_html = timed("html", report.render_html)
    outputs.report_evidence = timed("evidence", outputs.report_evidence)
    outputs.layout_pdf = timed("layout", outputs.layout_pdf)
    outputs.render_pdf = timed("pdf", outputs.render_pdf)
    sys.argv = ["bench", "report", run_dir, "--out", out, "--lang", lang]
    try:
        cli_main()
    except SystemExit as exc:
        if exc.code:
            raise
    # The report's worker processes, waited for when it ends (their CPU time is not in process_time()).
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu["workers"] = workers.ru_utime + workers.ru_stime
    for table, total in ((spent, time.perf_counter() - t_start), (cpu, time.process_time() - c_start + cpu["workers"])):
        waited = table.pop("wait")  # inside build_context
        table["analyse"] += waited
        table["context"] -= table["figures"] + waited  # figures are drawn inside build_context
        table["figures"] += table.pop("fill")  # after render_html
        table["pdf"] -= table["layout"]  # render_pdf lays the page out first
        table["other"] = total - sum(v for k, v in table.items() if k != "other")
    Path(result).write_text(json.dumps({"wall": spent, "cpu": cpu}))


def render_once(run_dir: Path, out_dir: Path, lang: str, env: dict, label: str) -> dict:
    result = out_dir / f"phases-{label}.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", str(run_dir), str(out_dir / f"report-{label}.pdf"),
                           lang, str(result)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"the render ({label}) failed:\n{proc.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    phases = json.loads(result.read_text())
    # CPU seconds (user + system) of the render, its worker processes included: less sensitive than wall time to
    # other work on a shared machine.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Interpreter start-up and exit, outside the child's clocks, count as "other".
    phases["wall"]["other"] += wall - sum(phases["wall"].values())
    phases["cpu"]["other"] += cpu - sum(phases["cpu"].values())
    return {"wall": wall, "cpu": cpu, "phases_wall": phases["wall"], "phases_cpu": phases["cpu"]}


def measure(args, out_dir: Path, cache_root: Path) -> dict[str, list[dict]]:
    """Every timed render: per language and bench (this one, and --against's as "LANG@before"), interleaved."""
    benches = {"": os.environ.get("PYTHONPATH", "")}
    if args.against:
        benches["@before"] = os.pathsep.join(p for p in (str(args.against.resolve()), benches[""]) if p)
    timed = args.lang[1:] if args.cache == "shared" else args.lang
    runs: dict[str, list[dict]] = {lang + tag: [] for lang in timed for tag in benches}
    for tag, path in benches.items():
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": path}
        if args.cache == "off":
            env["BENCH_CACHE"] = "off"
        if args.cache == "warm":
            env["BENCH_CACHE_DIR"] = str(cache_root / f"warm{tag}")
            for lang in args.lang:  # untimed: fills the cache
                render_once(args.run_dir, out_dir, lang, env, lang + tag)
    for i in range(args.repeats):
        for tag, path in benches.items():
            env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": path,
                   "BENCH_CACHE_DIR": str(cache_root / f"warm{tag}")}
            if args.cache == "off":
                env["BENCH_CACHE"] = "off"
            if args.cache == "shared":  # a fresh cache holding what the first language's render left in it
                env["BENCH_CACHE_DIR"] = str(cache_root / f"shared{tag}-{i}")
                render_once(args.run_dir, out_dir, args.lang[0], env, args.lang[0] + tag)
            for lang in timed:
                if args.cache in ("cold", "off"):
                    env["BENCH_CACHE_DIR"] = str(cache_root / f"{lang}{tag}-{i}")
                runs[lang + tag].append(render_once(args.run_dir, out_dir, lang, env, lang + tag))
                print(f"  {lang + tag} repeat {i + 1}: {runs[lang + tag][-1]['wall']:.1f} s", file=sys.stderr)
    return runs


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lang", nargs="+", default=["en", "fa"])
    ap.add_argument("--cache", choices=("cold", "warm", "shared", "off"), default="cold")
    ap.add_argument("--against", type=Path, default=None,
                    help="another bench source tree, timed in the same repeats (rows LANG@before)")
    ap.add_argument("--out-dir", type=Path, default=None, help="where the reports go (default: a temporary folder)")
    ap.add_argument("--json", type=Path, default=None, help="also write every measurement here")
    args = ap.parse_args()
    if args.against and not (args.against / "bench" / "__init__.py").is_file():
        ap.error(f"--against {args.against}: no bench/__init__.py there")
    temporary = args.out_dir is None
    out_dir = Path(tempfile.mkdtemp(prefix="bench-speed-")) if temporary else args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_root = Path(tempfile.mkdtemp(prefix="bench-speed-cache-"))
    try:
        runs = measure(args, out_dir, cache_root)
    finally:  # reports (~10 MB a language) and caches: nothing is left behind, even when a render fails
        shutil.rmtree(cache_root, ignore_errors=True)
        if temporary:
            shutil.rmtree(out_dir, ignore_errors=True)
    print(f"{args.run_dir}  cache={args.cache}  repeats={args.repeats}  cpus={os.cpu_count()}  "
          f"load={os.getloadavg()[0]:.1f}")
    print("seconds; wall: median, min, max of the repeats; cpu: median CPU time (user + system, worker processes "
          "included); phases: medians, first of wall time, then of CPU time (on a busy machine the CPU times are the "
          "steadier figures)")
    width = max(5, *(len(k) + 1 for k in runs))
    print(f"{'lang':<{width}}{'wall':>7}{'min':>7}{'max':>7}{'cpu':>7}  {'':<5}" + "".join(f"{p:>9}" for p in PHASES))
    for lang, rows in runs.items():
        walls = [r["wall"] for r in rows]
        head = (f"{lang:<{width}}{statistics.median(walls):7.1f}{min(walls):7.1f}{max(walls):7.1f}"
                f"{statistics.median(r['cpu'] for r in rows):7.1f}  ")
        for i, clock in enumerate(("wall", "cpu")):
            print((head if i == 0 else " " * len(head)) + f"{clock:<5}"
                  + "".join(f"{statistics.median(r['phases_' + clock][p] for r in rows):9.2f}" for p in PHASES))
    if args.json:
        args.json.write_text(json.dumps({"run_dir": str(args.run_dir), "cache": args.cache,
                                         "against": str(args.against) if args.against else None, "runs": runs},
                                        indent=1))

if __name__ == "__main__":
    main()
