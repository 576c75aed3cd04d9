"""The recording Oracle fake lives in ``oracle_fake`` beside this file; make it importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
