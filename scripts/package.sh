#!/usr/bin/env bash
# Builds the Debian package of mailcanary (debhelper, debian/) from this checkout,
# including changes not yet committed, and prints the .deb's path on its last line.
# Usage (as root, after scripts/install-deps.sh): scripts/package.sh [OUTDIR]
# OUTDIR defaults to ./dist. The build runs in a copy of the sources under a temporary
# folder, so the checkout gets no build files; the copy is removed afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)

etpan="$here/.deps/libetpan-dev/usr"
if [ ! -f "$etpan/include/libetpan/libetpan.h" ]; then
  echo "package: libetpan headers missing in $etpan: run scripts/install-deps.sh first" >&2
  exit 1
fi

version=$(dpkg-parsechangelog -l "$here/debian/changelog" -S Version)
project_version=$(sed -n 's/^project(mailcanary VERSION \([0-9.]*\).*/\1/p' "$here/CMakeLists.txt")
if [ "$version" != "$project_version" ]; then
  echo "package: debian/changelog says $version, CMakeLists.txt says $project_version" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mailcanary-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
src="$work/mailcanary-$version"
mkdir "$src"
# Tracked and new (not ignored) files as they are in the working tree.
(cd "$here" && git ls-files -z --cached --others --exclude-standard |
  tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$src"

export MAILCANARY_CMAKE_ARGS="-DMAILCANARY_ETPAN_ROOT=$etpan -DMAILCANARY_GIT_SOURCE=$here"
export DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}"
# -d: libetpan-dev is satisfied by the unpacked headers, not an installed package
# (see debian/control).
(cd "$src" && dpkg-buildpackage -b -us -uc -d >"$work/build.log" 2>&1) || {
  tail -n 60 "$work/build.log" >&2
  echo "package: dpkg-buildpackage failed (last lines above)" >&2
  exit 1
}

arch=$(dpkg --print-architecture)
deb="mailcanary_${version}_${arch}.deb"
cp "$work/$deb" "$out/"
for extra in "$work"/mailcanary-dbgsym_"${version}"_"${arch}".deb; do
  [ -f "$extra" ] && cp "$extra" "$out/"
done
echo "$out/$deb"
