#!/usr/bin/env bash
# Refresh the API documentation assets in shared/static/docs from the npm registry (see its README).
#   bash scripts/vendor-docs-assets.sh 5.35.0 2.5.4
set -euo pipefail
swagger="${1:?swagger-ui-dist version}"
redoc="${2:?redoc version}"
target="$(cd "$(dirname "$0")/.." && pwd)/shared/static/docs"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "swagger-ui-dist@${swagger}" "redoc@${redoc}" >/dev/null
mkdir s r
tar xzf "swagger-ui-dist-${swagger}.tgz" -C s
tar xzf "redoc-${redoc}.tgz" -C r
cp s/package/swagger-ui-bundle.js s/package/swagger-ui-bundle.js.LICENSE.txt s/package/swagger-ui.css "$target/"
cp s/package/favicon-32x32.png "$target/favicon.png"
cp s/package/LICENSE "$target/swagger-ui.LICENSE"
cp r/package/bundles/redoc.standalone.js r/package/bundles/redoc.standalone.js.LICENSE.txt "$target/"
cp r/package/LICENSE "$target/redoc.LICENSE"
(cd "$target" && sha256sum favicon.png redoc.standalone.js swagger-ui-bundle.js swagger-ui.css)
