#!/usr/bin/env bash
# Regenerates requirements/pipeline.lock: every runtime dependency of reclaim, and the build
# backend, pinned with the SHA-256 of every file the package index publishes for that version.
# The root action.yml installs from it with --require-hashes, so a workflow can only ever get
# these exact files. Run it after changing dependencies in pyproject.toml, review the diff
# (a new package or a changed hash deserves a look), and commit the result.
#
#   scripts/lock.sh                 # resolve against https://pypi.org/simple
#   INDEX_URL=https://mirror/simple scripts/lock.sh
#
# Needs uv (`pip install uv`). Resolution is universal (any OS, Python >= 3.11), so the same
# lock serves every Python the workflows may be set up with.
set -euo pipefail
cd "$(dirname "$0")/.."
exec uv pip compile --no-config --quiet \
  --index-url "${INDEX_URL:-https://pypi.org/simple}" --no-emit-index-url \
  --generate-hashes --universal --python-version 3.11 \
  --custom-compile-command "scripts/lock.sh" \
  pyproject.toml requirements/build.in -o requirements/pipeline.lock
