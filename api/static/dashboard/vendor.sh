#!/usr/bin/env sh
# How the files in vendor/ were made: the npm registry's packages, unpacked; nothing is fetched
# at run time (the page works with no internet, no CDN). Re-run to update, then commit the files
# (vendor/ and LICENSES.txt) and note the versions in docs/dashboard.md.
set -eu
cd "$(dirname "$0")"
CYTOSCAPE=cytoscape@3.34.4
UPLOT=uplot@1.6.32
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$CYTOSCAPE" "$UPLOT" >/dev/null \
   && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done)
mkdir -p vendor
cp "$tmp"/cytoscape-*/package/dist/cytoscape.min.js vendor/
cp "$tmp"/uplot-*/package/dist/uPlot.iife.min.js "$tmp"/uplot-*/package/dist/uPlot.min.css vendor/
for pkg in "$tmp"/*/; do  # each package's own licence text, with its name and version
  basename "$pkg" | sed 's/-\([0-9][0-9.]*\)$/ \1/'
  cat "$pkg"package/LICENSE*
  echo
done > LICENSES.txt
