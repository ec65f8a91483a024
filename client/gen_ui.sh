#!/bin/sh
# Turns ui.html into a C array (ui_html.h) so the page ships in the binary.
# Usage: gen_ui.sh ui.html > ui_html.h
set -eu
echo "/* generated from $(basename "$1") by gen_ui.sh: do not edit */"
echo "static const unsigned char  sc_ui_html[] = {"
od -An -v -tx1 -w12 "$1" | sed -e 's/ \([0-9a-f][0-9a-f]\)/ 0x\1,/g' \
    -e 's/^ /    /' -e 's/ *$//'
echo "};"
