"""ctstat: validate and roll up ward submissions of the Circular 13/2021/TT-BLĐTBXH child statistics."""

from __future__ import annotations

import os
from typing import Any

__version__ = "0.1.0"

# Parallel work is ctstat's own (reading workers, writing processes): numeric libraries get one thread each. A
# thread pool started by BLAS or OpenMP in a process that later forks a reading worker can leave that worker
# waiting for ever on a lock no thread of its own holds.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

#: public API, imported on first use so that `ctstat --help` does not load pandas
_EXPORTS = {
    "load_catalogue": "ctstat.model.catalogue",
    "Catalogue": "ctstat.model.catalogue",
    "validate_paths": "ctstat.pipeline",
    "rollup_paths": "ctstat.pipeline",
    "make_template": "ctstat.pipeline",
    "synth_forms": "ctstat.pipeline",
    "RollupResult": "ctstat.pipeline",
    "read_submission": "ctstat.read.workbook",
    "validate_submissions": "ctstat.check.validate",
    "Report": "ctstat.model.report",
    "FileReport": "ctstat.model.report",
    "Issue": "ctstat.model.report",
    "Severity": "ctstat.model.report",
    "CtstatError": "ctstat.model.errors",
    "CatalogueError": "ctstat.model.errors",
    "UsageError": "ctstat.model.errors",
    "load_units": "ctstat.model.units",
    "Period": "ctstat.model.period",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ctstat' has no attribute {name!r}")
