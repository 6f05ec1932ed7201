"""Every executable's --help explains itself and its examples can be pasted: no example line is
wrapped mid-argument by the 80-column help layout (long ones use shell line continuations)."""
import os
import subprocess
from pathlib import Path

import pytest

COMMANDS = {
    "sinter-server": [[]],
    "sinter-sim": [[]],
    "sinter-opcua": [[], ["serve"], ["check"], ["bench"]],
    "sinter-edge": [[], ["run"], ["dead-letter"], ["dead-letter", "list"], ["dead-letter", "replay"]],
    "sinter-detect": [[], ["run"], ["evaluate"]],
    "sinter-store": [[], ["info"], ["verify"], ["crash-soak"], ["powerloss-soak"]],
}


def binary(name: str) -> Path:
    variable = "SINTER_" + name.removeprefix("sinter-").upper() + "_BIN"
    path = Path(os.environ.get(variable, f".build/debug/{name}"))
    if not path.exists():
        pytest.fail(f"{path} not built: run `swift build` or set {variable}", pytrace=False)
    return path


CASES = [(name, sub) for name, subs in COMMANDS.items() for sub in subs]


@pytest.mark.parametrize("name,sub", CASES, ids=[" ".join([n, *s]) for n, s in CASES])
def test_help_examples_are_not_wrapped(name, sub):
    result = subprocess.run([str(binary(name)), *sub, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("OVERVIEW:") for line in lines), result.stdout
    for line, following in zip(lines, lines[1:]):
        if line.startswith("  ") and line.strip().startswith("sinter-") and following and not following.startswith((" ", "USAGE")):
            pytest.fail(f"{name} {' '.join(sub)} --help wraps an example:\n{line}\n{following}", pytrace=False)
