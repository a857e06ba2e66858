"""Helpers of the study tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def load_study_script(study: str, file: str) -> ModuleType:
    """Import ``studies/<study>/<file>`` (a script, not a package) as ``<study>_<stem>``."""
    name = f"{study}_{Path(file).stem}"
    spec = importlib.util.spec_from_file_location(name, STUDIES / study / file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
