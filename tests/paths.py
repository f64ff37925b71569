"""Where things are, for tests in any folder of the tree."""
from __future__ import annotations

import os

#: the repository's root folder (the one holding pyproject.toml)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: rendered comments checked in as golden files
GOLDEN = os.path.join(ROOT, "tests", "golden")
