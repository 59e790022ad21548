#!/bin/sh
# Adds LLMOS Desktop from this unpacked tarball to your desktop menu (for you only).
# Run it again after moving the folder; remove with --uninstall.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor"
entry="$apps/llmos-desktop.desktop"

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$entry"
    find "$icons" -name 'llmos-desktop.*' -path '*/apps/*' -delete 2>/dev/null || true
    echo "Removed the menu entry. Delete $here to remove the app."
    exit 0
fi

mkdir -p "$apps"
for dir in "$here"/share/icons/hicolor/*/apps; do
    size=$(basename "$(dirname "$dir")")
    mkdir -p "$icons/$size/apps"
    cp "$dir"/llmos-desktop.* "$icons/$size/apps/"
done
sed -e "s|^Exec=.*|Exec=\"$here/llmos-desktop\"|" -e "s|^TryExec=.*|TryExec=$here/llmos-desktop|" \
    "$here/share/applications/llmos-desktop.desktop" >"$entry"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
echo "Added LLMOS Desktop to your menu ($entry)."
echo "For the command line, add $here to your PATH (it has 'llmos' and 'llmos-desktop')."
