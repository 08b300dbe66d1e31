"""Packages: every bench.* package found, plus report_templates/ (kept at the repository's top level, as the design
card asks) installed inside bench's namespace as bench.report_templates, so no generic top-level package lands in
site-packages. Everything else is in setup.cfg."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["bench", "bench.*"]) + ["bench.report_templates"],
      package_dir={"bench.report_templates": "report_templates"})
