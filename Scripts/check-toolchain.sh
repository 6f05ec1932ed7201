#!/usr/bin/env bash
# Checks that `swift` on PATH is the Swift toolchain, version 6.2 or newer, and says what to do if not.
# Called by `make deps` (so by every make target that builds).
set -uo pipefail
need_major=6 need_minor=2
where=$(command -v swift || true)
if [ -z "$where" ]; then
  echo "error: no 'swift' on PATH. Sinter needs the Swift toolchain $need_major.$need_minor or newer:" >&2
  echo "  install it from https://www.swift.org/install/linux/ (swiftly, or the tarball) and put its usr/bin first on PATH." >&2
  exit 1
fi
version=$(swift --version 2>&1 | head -5)
if ! grep -qE 'Swift version [0-9]+\.[0-9]+' <<<"$version"; then
  echo "error: '$where' is not the Swift toolchain (it printed no 'Swift version'; OpenStack's python3-swiftclient installs a 'swift' command like this)." >&2
  echo "  Put the Swift toolchain's usr/bin first on PATH, or remove that package (apt-get remove python3-swiftclient)." >&2
  exit 1
fi
read -r major minor < <(grep -oE 'Swift version [0-9]+\.[0-9]+' <<<"$version" | head -1 | sed -E 's/Swift version ([0-9]+)\.([0-9]+)/\1 \2/')
if [ "$major" -lt "$need_major" ] || { [ "$major" -eq "$need_major" ] && [ "$minor" -lt "$need_minor" ]; }; then
  echo "error: Swift $major.$minor at '$where' is too old; Sinter needs $need_major.$need_minor or newer (https://www.swift.org/install/linux/)." >&2
  exit 1
fi
