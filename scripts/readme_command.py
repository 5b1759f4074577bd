"""Print one of the README Quickstart's two commands (``main`` = the main job, ``test``), so CI runs them verbatim."""
import re
import sys
from pathlib import Path

text = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text()
section = text.split("## Quickstart", 1)[1]
block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S).group(1)
commands = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
assert len(commands) == 2, f"the Quickstart block must hold exactly two commands, found {len(commands)}"
print(commands[{"main": 0, "test": 1}[sys.argv[1]]])
