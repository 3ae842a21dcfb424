"""Sphinx configuration for neo-alf (built in CI with -W: warnings are errors)."""

import importlib
import sys
from pathlib import Path

# The checkout's package, so that the API page documents this source even without `pip install -e`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

project = "neo-alf"
author = "neo-alf developers"
copyright = "2026, neo-alf developers"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.intersphinx"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

# Optional extras that modules import at their top: with only `pip install ".[docs]"` they are
# absent, and autodoc would warn and leave their sections empty. Mock exactly the missing ones.
OPTIONAL_IMPORTS = [
    "spikeinterface",
    "probeinterface",
    "matplotlib",
    "numba",
    "nixio",
    "pynwb",
    "hdmf",
    "nwbinspector",
    "one",
    "pynapple",
    "pandas",
    "dask",
    "distributed",
    "iblatlas",
    "tqdm",
]


def _missing(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return True
    return False


autodoc_mock_imports = [name for name in OPTIONAL_IMPORTS if _missing(name)]

nitpicky = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
intersphinx_mapping = {}
html_static_path = ["_static"]
