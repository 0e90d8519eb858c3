#!/usr/bin/env bash
# Builds the Debian package of Postern and prints the path of the .deb on its last line
# (a release build prints its postern-dbgsym .ddeb, the debug symbols, on the line before).
#
#   scripts/package.sh          release build (what to ship)
#   scripts/package.sh --dev    packs the debug binary that `cargo build` made (tests: no
#                               release build; stripped, fast compression; never ship it)
#   scripts/package.sh --tool   only installs cargo-deb when it is missing
#
# Steps: cargo-deb (installed once, pinned), the binary, the assets generated from it under
# packaging/assets (man pages, shell completions, /etc/postern/postern.toml made from
# docs/postern.example.toml and checked with `postern check-config`), then `cargo deb`.
# What goes where is [package.metadata.deb] in crates/postern/Cargo.toml; the unit and the
# maintainer scripts are in packaging/debian.
set -euo pipefail
cd "$(dirname "$0")/.."

# 3.8.0 builds with Rust 1.95 and packs a dev-profile binary (with a warning; later versions
# announce refusing it).
CARGO_DEB_VERSION=3.8.0

mode=release
case "${1:-}" in
    "") ;;
    --dev) mode=dev ;;
    --tool) mode=tool ;;
    *) echo "usage: $0 [--dev|--tool]" >&2; exit 2 ;;
esac

if ! cargo deb --version >/dev/null 2>&1; then
    echo "installing cargo-deb $CARGO_DEB_VERSION" >&2
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
fi
[ "$mode" = tool ] && exit 0

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
if [ "$mode" = dev ]; then
    # What scripts/test.sh builds (the same features: nothing is built again).
    cargo build --workspace --bins >&2
    binary="$target_dir/debug/postern"
    # Its own directory: a test package never takes the place of a release one.
    mkdir -p "$target_dir/debian/dev"
    deb_flags=(--profile dev --no-build --strip --fast --output "$target_dir/debian/dev/")
else
    cargo build --release -p postern --bin postern >&2
    binary="$target_dir/release/postern"
    # The binary stripped; its line tables (profile.release) go to postern-dbgsym_*.ddeb
    # beside it, for debuggers, as Debian ships them.
    deb_flags=(--no-build --dbgsym)
fi

# The assets, generated from the binary itself (paths fixed in Cargo.toml: packaging/assets
# in the repository, whatever the target directory; not committed).
assets=packaging/assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$binary" man --out "$assets/man" >/dev/null
gzip -9n "$assets"/man/*.1
"$binary" completions bash >"$assets/completions/postern.bash"
"$binary" completions zsh >"$assets/completions/_postern"
"$binary" completions fish >"$assets/completions/postern.fish"

# The installed configuration: the example (every setting, its default) with the data in
# /var/lib/postern, the machine's own host name, and delivery.default_route left at its
# default (commented out) so that uncommenting relay_host is all it takes to use one.
{
    echo "# /etc/postern/postern.toml, installed by the postern package (a conffile: your"
    echo "# changes survive upgrades). After a change: postern check-config /etc/postern/postern.toml,"
    echo "# then systemctl reload postern (SIGHUP; some settings need a restart, the log names them)."
    echo "#"
    sed -e 's|^data_dir = .*|data_dir = "/var/lib/postern"|' \
        -e 's|^hostname = .*|# hostname = "mail.example.net"|' \
        -e 's|^default_route = "direct"$|# default_route = "direct"|' \
        docs/postern.example.toml
} >"$assets/postern.toml"
for edited in '^data_dir = "/var/lib/postern"$' '^# hostname = ' '^# default_route = "direct"$'; do
    grep -q "$edited" "$assets/postern.toml" || { echo "$assets/postern.toml: no line $edited" >&2; exit 1; }
done
"$binary" check-config "$assets/postern.toml" >&2

out="$(cargo deb -p postern "${deb_flags[@]}")"
deb="$(printf '%s\n' "$out" | tail -n 1)"
[ -f "$deb" ] && [ "${deb%.deb}" != "$deb" ] || { echo "cargo deb printed no package path: $out" >&2; exit 1; }
# The .ddeb of debug symbols first when there is one, the .deb last.
printf '%s\n' "$out"
