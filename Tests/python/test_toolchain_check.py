"""`make deps` checks the Swift toolchain first (Scripts/check-toolchain.sh): a `swift` that is not
the toolchain (OpenStack's python3-swiftclient installs one), a missing one, or one older than 6.2
is refused with what to do."""
import os
import subprocess

import pytest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "Scripts" / "check-toolchain.sh"


def check(tmp_path: Path, swift_script: str | None) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if swift_script is not None:
        fake = bin_dir / "swift"
        fake.write_text("#!/bin/sh\n" + swift_script)
        fake.chmod(0o755)
    # Only the fake directory and the basic tools: no real toolchain on this PATH.
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin")
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)


def test_the_real_toolchain_passes():
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_openstacks_swift_is_named_and_the_fix_given(tmp_path):
    result = check(tmp_path, 'echo "usage: swift [--version] [--os-auth-url <auth_url>] <subcommand> ..."\n')
    assert result.returncode == 1
    assert "is not the Swift toolchain" in result.stderr and "python3-swiftclient" in result.stderr, result.stderr


def test_an_old_toolchain_is_refused(tmp_path):
    result = check(tmp_path, 'echo "Swift version 5.10.1 (swift-5.10.1-RELEASE)"\n')
    assert result.returncode == 1
    assert "too old" in result.stderr and "6.2" in result.stderr, result.stderr


def test_no_swift_at_all_says_where_to_get_it(tmp_path):
    if Path("/usr/bin/swift").exists():
        pytest.skip("a system-wide toolchain in /usr/bin is on every PATH: the case cannot be staged")
    result = check(tmp_path, None)
    assert result.returncode == 1
    assert "no 'swift' on PATH" in result.stderr and "swift.org" in result.stderr, result.stderr


def test_a_new_enough_toolchain_passes(tmp_path):
    result = check(tmp_path, 'echo "Swift version 6.3.1 (swift-6.3.1-RELEASE)"\necho "Target: x86_64-unknown-linux-gnu"\n')
    assert result.returncode == 0, result.stderr
