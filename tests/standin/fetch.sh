#!/usr/bin/env bash
# Install the pinned public GitHub artifacts the stand-in GitHub is built from
# (@octokit/openapi, @octokit/webhooks-examples) into tests/standin/node_modules,
# exactly as locked in tests/standin/package-lock.json.  Idempotent: does nothing
# when the locked versions are already installed.
#
#   bash tests/standin/fetch.sh          # from the repo root (CI calls this, or
#   npm ci --prefix tests/standin        #  this directly)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
want_openapi="$(node -p "require('$here/package-lock.json').packages['node_modules/@octokit/openapi'].version")"
want_examples="$(node -p "require('$here/package-lock.json').packages['node_modules/@octokit/webhooks-examples'].version")"
have() { node -p "try { require('$here/node_modules/$1/package.json').version } catch (e) { '' }"; }
if [[ "$(have @octokit/openapi)" == "$want_openapi" && "$(have @octokit/webhooks-examples)" == "$want_examples" ]]; then
  exit 0
fi
npm ci --prefix "$here" --ignore-scripts --no-audit --no-fund
