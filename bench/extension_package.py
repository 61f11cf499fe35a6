"""Import this checkout as the Blender extension package, outside Blender's installer.

Blender imports the repository root as a package; a checkout's folder name need
not be a valid identifier (worktrees often are not), so it is loaded by path
under a fixed name. For scripts in bench/ only: tests install the built zip.
"""

import importlib
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "diffusiontalker_checkout"


def load(submodule: str):
    if NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(NAME, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[NAME] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{NAME}.{submodule}")
