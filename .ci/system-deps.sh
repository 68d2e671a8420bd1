#!/usr/bin/env bash
# Install the Debian packages readerstudy's GUI, tests and reports need, if missing.
# Qt's xcb platform libraries (a real window), Xvfb (headless runs), poppler (PDF checks),
# PostgreSQL (the multi-site back-end is tested against a real server), dicom3tools (dciodvfy checks
# every DICOM object the app writes), and what WeasyPrint needs to typeset the report PDF: Pango
# (+ its FreeType backend), HarfBuzz's subsetter and the DejaVu fonts the report's CSS names, so
# every machine renders the same PDF.
set -euo pipefail
pkgs=(xvfb xauth libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
      libxcb-render-util0 libxcb-xinerama0 libxcb-shape0 libxcb-randr0 libxcb-xfixes0 libxcb-xkb1
      libegl1 libgl1 libfontconfig1 libdbus-1-3 libglib2.0-0 poppler-utils postgresql dicom3tools
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)
[ "${WITH_R:-0}" = "1" ] && pkgs+=(r-cran-proc)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "Missing Debian packages (run as root to install): ${missing[*]}" >&2; exit 0; fi
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q "${missing[@]}" >/dev/null; }
