"""The dependency directions written in ARCHITECTURE.md are the ones Package.swift has: every
project target is listed there, and depends on no project target its row does not allow."""
import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def allowed() -> dict[str, set[str]]:
    text = (ROOT / "ARCHITECTURE.md").read_text("utf-8")
    block = text.split("<!-- allowed-dependencies:begin -->")[1].split("<!-- allowed-dependencies:end -->")[0]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("target", "---"):
            continue
        rows[cells[0]] = set() if cells[1] == "—" else {d.strip() for d in cells[1].split(",")}
    return rows


def package() -> dict:
    result = subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def project_dependencies(target: dict, names: set[str]) -> set[str]:
    out = set()
    for dependency in target.get("dependencies", []):
        for key in ("byName", "target"):
            if key in dependency and dependency[key][0] in names:
                out.add(dependency[key][0])
    return out


def test_the_target_graph_matches_architecture_md():
    rows = allowed()
    targets = [t for t in package()["targets"] if t["type"] != "test"]
    names = {t["name"] for t in targets}
    assert names == set(rows), f"targets missing from ARCHITECTURE.md: {sorted(names - set(rows))}; " \
                               f"listed but not in Package.swift: {sorted(set(rows) - names)}"
    violations = []
    for target in targets:
        extra = project_dependencies(target, names) - rows[target["name"]]
        if extra:
            violations.append(f"{target['name']} depends on {sorted(extra)}, which ARCHITECTURE.md does not allow")
    assert not violations, "\n".join(violations)


def test_the_check_catches_a_forbidden_direction():
    # The same check on a graph with one edge too many (an application on another application).
    rows = allowed()
    fake = {"name": "AnomalyDetection", "dependencies": [{"byName": ["TelemetryServer", None]}]}
    assert project_dependencies(fake, set(rows)) - rows["AnomalyDetection"] == {"TelemetryServer"}


def test_every_format_page_named_exists():
    text = (ROOT / "ARCHITECTURE.md").read_text("utf-8")
    for link in re.findall(r"\]\((Storage/Format/[^)#]+)", text):
        assert (ROOT / link).exists(), link
