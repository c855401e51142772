#!/usr/bin/env sh
# How the files here were made: the npm registry's packages, unpacked; nothing is fetched at
# run time (the page works with no internet). Re-run to update, then commit the files.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
(cd "$tmp" && npm pack --silent graphiql@3.8.3 react@18.3.1 react-dom@18.3.1 >/dev/null \
   && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done)
cp "$tmp"/graphiql-3.8.3/package/graphiql.min.js "$tmp"/graphiql-3.8.3/package/graphiql.min.css .
cp "$tmp"/react-18.3.1/package/umd/react.production.min.js .
cp "$tmp"/react-dom-18.3.1/package/umd/react-dom.production.min.js .
rm -rf "$tmp"
