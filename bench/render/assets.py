"""Where the report's templates, stylesheets, fonts and message catalogues live.

They stay in `report_templates/` at the repository's top level (the design card names it) and install as
`bench.report_templates` (setup.cfg's package_dir), so that no generic top-level package lands in
site-packages. A source checkout on PYTHONPATH (the GPU machine) has no such package: the folder beside
`bench/` is used then.
"""

from __future__ import annotations

from pathlib import Path


def _templates_dir() -> Path:
    try:
        from bench import report_templates  # type: ignore[attr-defined]  (installed wheel or editable install)
    except ImportError:
        return Path(__file__).resolve().parents[2] / "report_templates"
    return Path(report_templates.__file__).resolve().parent


TEMPLATES_DIR = _templates_dir()
