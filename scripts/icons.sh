#!/usr/bin/env bash
# Regenerates every icon PNG of Nuage from the hand-written SVG sources in
# icons/src/:
#   icons/src/app.svg          -> icons/32x32.png, icons/128x128.png,
#                                 icons/128x128@2x.png (256x256), icons/icon.png (512x512)
#                                 (the set tauri.conf.json's bundle.icon lists)
#   icons/src/tray-<state>.svg -> icons/tray/<state>.png (64x64)
# Every PNG is written as 8-bit RGBA, which Tauri requires, and checked.
#
# The PNGs are committed: CI and the build do not run this script. Run it by
# hand (bash scripts/icons.sh) after editing an SVG, and commit the SVG and
# the PNGs together. Needs rsvg-convert (Debian package librsvg2-bin).
set -euo pipefail

cd "$(dirname "$0")/.."
src=icons/src

if ! command -v rsvg-convert >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "icons: installing librsvg2-bin"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends librsvg2-bin >/dev/null
  else
    echo "icons: please install rsvg-convert (e.g. sudo apt-get install librsvg2-bin)" >&2
    exit 1
  fi
fi

# render SVG SIZE OUT: rasterises SVG to a SIZE x SIZE PNG and fails unless the
# result is 8-bit RGBA (PNG header: bit depth at byte 24, colour type 6 at 25).
render() {
  local svg=$1 size=$2 out=$3
  rsvg-convert --width "$size" --height "$size" --format png "$svg" --output "$out.tmp"
  local depth type
  read -r depth type < <(od -An -tu1 -j24 -N2 "$out.tmp")
  if [ "$depth" != 8 ] || [ "$type" != 6 ]; then
    echo "icons: $out is not 8-bit RGBA (bit depth $depth, colour type $type)" >&2
    rm -f "$out.tmp"
    exit 1
  fi
  mv "$out.tmp" "$out"
  echo "icons: $out (${size}x${size})"
}

render "$src/app.svg" 32 icons/32x32.png
render "$src/app.svg" 128 icons/128x128.png
render "$src/app.svg" 256 icons/128x128@2x.png
render "$src/app.svg" 512 icons/icon.png

mkdir -p icons/tray
for state in up_to_date backing_up waiting needs_attention signed_out paused not_set_up; do
  render "$src/tray-$state.svg" 64 "icons/tray/$state.png"
done
