#!/usr/bin/env bash
# Makes a .dmg from the .app that build.spec produced:
#   bash packaging/macos/make_dmg.sh "dist/LLMOS Desktop.app" dist/llmos-desktop-0.1.0-macos-arm64.dmg
# packaging/build.py calls it on macOS.
#
# Signing and notarisation (needed so Gatekeeper opens the app without a warning) run
# when these are set:
#   MACOS_SIGN_IDENTITY  "Developer ID Application: Name (TEAMID)" from your keychain
#   MACOS_NOTARY_PROFILE a profile stored with
#                        `xcrun notarytool store-credentials PROFILE --apple-id ... --team-id ...`
# Without them the .dmg is unsigned (PyInstaller signs the binaries ad hoc, enough to
# run on the build Mac; elsewhere users right-click > Open once).
set -euo pipefail
app=${1:?usage: make_dmg.sh APP DMG}
dmg=${2:?usage: make_dmg.sh APP DMG}
here=$(cd "$(dirname "$0")" && pwd)

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
    # Hardened runtime (required for notarisation) with the entitlements that Python's
    # ctypes callbacks (llama.cpp's log and abort hooks) need.
    codesign --force --deep --options runtime --timestamp \
        --entitlements "$here/entitlements.plist" \
        --sign "$MACOS_SIGN_IDENTITY" "$app"
    codesign --verify --deep --strict --verbose=2 "$app"
fi

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
rm -f "$dmg"
hdiutil create -volname "LLMOS Desktop" -srcfolder "$staging" -ov -format UDZO "$dmg"

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
    codesign --force --timestamp --sign "$MACOS_SIGN_IDENTITY" "$dmg"
fi
if [ -n "${MACOS_NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$dmg" --keychain-profile "$MACOS_NOTARY_PROFILE" --wait
    xcrun stapler staple "$dmg"
fi
echo "$dmg"
