"""The library's shape (issue 26), measured by tools/structure.py: no function over 60 code
lines, no public function over 12 parameters, no module using another module's private name
(the ground floor aside), no test importing a library private name."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_library_keeps_the_limits_it_set_itself():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "structure.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
