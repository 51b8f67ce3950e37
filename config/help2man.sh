#!/bin/sh
# Writes the tracksd(1) manual page (roff) to stdout from `tracksd --help`, which
# is already laid out as a manual: upper-case lines are sections, the rest is
# shown as written.
#
#   sh config/help2man.sh target/release/tracksd > tracksd.1 && man -l tracksd.1
set -eu
bin=${1:?usage: help2man.sh PATH-TO-TRACKSD}
version=$("$bin" --version)
help=$("$bin" --help)
printf '.TH TRACKSD 1 "" "%s" "User Commands"\n' "$version"
printf '%s\n' "$help" | sed \
    -e 's/\\/\\e/g' \
    -e '/^[A-Z][A-Z ]*$/{s/.*/.SH &/;a\
.nf
b
}' \
    -e 's/^    //' \
    -e "s/^[.']/\\\\\\&&/" \
    -e 's/-/\\-/g'
printf '.fi\n'
