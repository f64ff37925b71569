#!/usr/bin/env bash
# Refresh the vendored graph library of the impact page from the npm registry (versions in
# package.json): cytoscape (graph) and cytoscape-dagre (layered layout; bundles @dagrejs/dagre).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cp "$here/package.json" "$tmp/" && (cd "$tmp" && npm install --no-audit --no-fund --ignore-scripts >/dev/null)
cp "$tmp/node_modules/cytoscape/dist/cytoscape.min.js" "$here/"
sed 's|//# sourceMappingURL=cytoscape-dagre.min.js.map||' "$tmp/node_modules/cytoscape-dagre/dist/cytoscape-dagre.min.js" \
  > "$here/cytoscape-dagre.min.js"
cp "$tmp/node_modules/cytoscape/LICENSE" "$here/LICENSE.cytoscape"
cp "$tmp/node_modules/cytoscape-dagre/LICENSE" "$here/LICENSE.cytoscape-dagre"
cp "$tmp/node_modules/@dagrejs/dagre/LICENSE" "$here/LICENSE.dagre"
