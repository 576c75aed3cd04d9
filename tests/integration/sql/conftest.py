"""Fixtures of the SQL sink suites; the helpers live in ``sqlsink_support`` beside this file.

pytest imports test modules without putting their directory on ``sys.path`` here, so this
conftest does it for the helper module (mypy sees it as the top-level module it is).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sqlsink_support import db_url, open_backend, pg_url

__all__ = ["db_url", "open_backend", "pg_url"]
