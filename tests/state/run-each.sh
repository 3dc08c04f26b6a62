#!/usr/bin/env bash
# run-each.sh TEST...: runs each test program in turn; stops at the first failure.
for t in "$@"; do
  "$t" || exit 1
done
