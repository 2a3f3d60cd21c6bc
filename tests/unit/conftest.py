"""Make the collection importable as ansible_collections.gamingbox.sandbox.

scripts/install-deps.sh links the work tree under .cache/collections; the
unit tests import the module_utils and modules through that link, the same
path Ansible uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[2] / ".cache" / "collections"

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
