"""Set-up shared by the site tests: scripts/ importable (the renderer package and the site-build helpers),
tricky files not collected (they are inputs, not tests)."""
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

collect_ignore_glob = ["tricky/*"]
