#!/usr/bin/env bash
# Installs code-server (real VS Code 1.100.3 for the browser; later versions need Node 22+) into a cache
# folder for the extension-host and end-to-end tests. Idempotent: an existing install is kept.
# Prints the install folder (the one holding out/node/entry.js) on its last line.
# Needs: node 20, npm, and Debian's libkrb5-dev (a native dependency builds against it) and ripgrep.
set -euo pipefail
VERSION=4.100.3
CACHE="${TRELLIS_CACHE:-$HOME/.cache/trellis}"
DEST="$CACHE/code-server-$VERSION"
ENTRY="$DEST/node_modules/code-server/out/node/entry.js"
if [ -f "$ENTRY" ] && [ -f "$DEST/.installed" ]; then
  echo "$DEST/node_modules/code-server"
  exit 0
fi
command -v rg >/dev/null || { echo "install-code-server: ripgrep is missing (apt-get install -y ripgrep)" >&2; exit 1; }
mkdir -p "$DEST"
# @vscode/ripgrep's install script downloads rg from GitHub, which cannot be reached here; it uses a
# cached archive when one is present, so seed that cache with Debian's rg.
TMP_ROOT="$(node -p 'require("os").tmpdir()')"
RG_CACHE="$TMP_ROOT/vscode-ripgrep-cache-1.15.11"
RG_ARCHIVE="$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [ ! -f "$RG_ARCHIVE" ]; then
  mkdir -p "$RG_CACHE"
  STAGE="$(mktemp -d)"
  cp "$(command -v rg)" "$STAGE/rg"
  tar -czf "$RG_ARCHIVE" -C "$STAGE" rg
  rm -rf "$STAGE"
fi
cd "$DEST"
[ -f package.json ] || echo '{"name":"trellis-code-server","private":true}' > package.json
echo "install-code-server: installing code-server@$VERSION into $DEST (about a minute)" >&2
npm_config_yes=true npm install --unsafe-perm --no-audit --no-fund --loglevel=error "code-server@$VERSION" >&2
[ -f "$ENTRY" ] || { echo "install-code-server: $ENTRY is missing after npm install" >&2; exit 1; }
touch "$DEST/.installed"
echo "$DEST/node_modules/code-server"
