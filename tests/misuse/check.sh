#!/bin/bash
# Compiles each misuse case in this directory (usage: check.sh CXX INCLUDE_DIR), expecting the
# compile to fail with the message named on the case's first line ("// expect: ...").
set -u
cxx=$1
inc=$2
dir=$(dirname "$0")
status=0
for f in "$dir"/*.cpp; do
    expect=$(sed -n '1s|^// expect: ||p' "$f")
    if out=$("$cxx" -std=c++20 -fsyntax-only -I "$inc" "$f" 2>&1); then
        echo "FAIL $(basename "$f"): compiled, expected an error"
        status=1
    elif ! grep -qF -- "$expect" <<<"$out"; then
        echo "FAIL $(basename "$f"): the error does not say \"$expect\"; it says:"
        head -20 <<<"$out"
        status=1
    else
        echo "ok   $(basename "$f"): $(grep -F -- "$expect" <<<"$out" | head -1)"
    fi
done
exit $status
