import pytest
"""bench.data.samples: the sample grid, drawn without bench.render (the runner writes it)."""

import subprocess
import sys

import numpy as np

from bench.data.samples import sample_grid_png


def _tiny():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(3), 10)
    return images, labels, ["cat", "dog", "ship"]


def test_the_grid_is_a_png_with_fixed_bytes():
    a = sample_grid_png(*_tiny(), per_class=4)
    assert a[:8] == b"\x89PNG\r\n\x1a\n" and b"Software" not in a
    assert sample_grid_png(*_tiny(), per_class=4) == a


@pytest.mark.slow
def test_the_grid_does_not_depend_on_what_was_imported_before():
    # The report's figures set a global matplotlib style; the grid must come out the same with or without it.
    code = ("import sys, hashlib, numpy as np\n"
            "if sys.argv[1] == 'render': import bench.render.plots\n"
            "from bench.data.samples import sample_grid_png\n"
            "rng = np.random.default_rng(0)\n"
            "im = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)\n"
            "print(hashlib.sha256(sample_grid_png(im, np.repeat(np.arange(3), 10), ['cat', 'dog', 'ship'], "
            "per_class=4)).hexdigest())\n")
    digests = {subprocess.run([sys.executable, "-c", code, which], capture_output=True, text=True,
                              check=True).stdout for which in ("plain", "render")}
    assert len(digests) == 1


def test_drawing_the_grid_loads_no_report_code():
    code = ("import sys, numpy as np\n"
            "from bench.data.samples import sample_grid_png\n"
            "sample_grid_png(np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 1]), ['a', 'b'], per_class=1)\n"
            "print(sorted(m for m in sys.modules if m.startswith('bench.render')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
