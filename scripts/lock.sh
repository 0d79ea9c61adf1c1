#!/usr/bin/env bash
# Refresh the hash-locked requirements/*.txt from pyproject.toml and requirements/*.in
# (`make lock`). Versions already locked are kept unless UPGRADE=1 (`make lock UPGRADE=1`)
# or the inputs no longer admit them, so adding a dependency changes only what it needs.
# The locks are universal (every platform, Python 3.11 and later): one file serves a
# laptop, CI and the image.
set -euo pipefail
cd "$(dirname "$0")/.."

uv=${UV:-.venv/bin/uv}
opts=(--quiet --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock")
[[ "${UPGRADE:-0}" == 1 ]] && opts+=(--upgrade)
compile() { "$uv" pip compile "${opts[@]}" "$@"; }

# Everything make venv installs: the project's runtime and dev dependencies, the build
# backend for its editable install, and the packages other branches are about to declare.
compile pyproject.toml --extra dev requirements/pending-runtime.in requirements/pending-dev.in \
  requirements/build.in -o requirements/dev.txt
# The image: the runtime dependencies only, at exactly the versions the tests ran with.
compile pyproject.toml requirements/pending-runtime.in -c requirements/dev.txt -o requirements/runtime.txt
compile requirements/build.in -c requirements/dev.txt -o requirements/build.txt
# Tools with their own lock: the installer itself, and checkov in its own virtualenv.
compile requirements/uv.in -o requirements/uv.txt
compile requirements/checkov.in -o requirements/checkov.txt
