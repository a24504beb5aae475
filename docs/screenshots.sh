#!/usr/bin/env bash
# The review screenshots in docs/: the matrix's diagrams as headless Chromium draws them, and
# the workbook as LibreOffice prints it. Run from the repository's root after a change to the
# matrix or the workbook:
#
#   bash docs/screenshots.sh
#
# Needs chromium, python3, LibreOffice (soffice, e.g. Debian's libreoffice-calc-nogui) and
# pdftoppm (poppler-utils). tests/change_board.rs checks the same pages geometrically.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build -q
ctxfw=target/debug/ctxfw

# The two-site example with EDT turned off, the example itself as the previous version: the
# workbook's summary then shows what changed since, and why.
sed -e 's/^xml_port = 443$/xml_port = 443\nedt = false/' topologies/two-site.toml > "$work/two-site.toml"
"$ctxfw" generate "$work/two-site.toml" --target matrix --previous topologies/two-site.toml \
    --out "$work/two-site" -q
"$ctxfw" generate topologies/onprem-cvad.toml --target matrix --out "$work/onprem" -q

# One drawing of a page (the overview, or a zone pair's view) as a page of its own, with the
# page's styles, so the screenshot holds the drawing only.
extract() { # page.html svg-id out.html
    python3 - "$@" <<'EOF'
import re, sys
page, svg_id, out = sys.argv[1:]
html = open(page, encoding="utf-8").read()
style = re.search(r"<style>.*?</style>", html, re.S).group(0)
start = html.index('<svg id="%s"' % svg_id)
svg = html[start:html.index("</svg>", start) + 6]
w, h = re.search(r'width="([\d.]+)" height="([\d.]+)"', svg).groups()
open(out, "w", encoding="utf-8").write(
    "<!DOCTYPE html><html><head><meta charset=utf-8>%s</head><body style=\"margin:8px\">"
    "<div class=\"diagram\">%s</div></body></html>" % (style, svg))
print(int(float(w)) + 40, int(float(h)) + 40)
EOF
}

shot() { # page.html svg-id docs/name.png
    read -r w h < <(extract "$1" "$2" "$work/shot.html")
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$work/profile" --hide-scrollbars --window-size="$w,$h" \
        --screenshot="$3" "file://$work/shot.html" 2>/dev/null
}

shot "$work/two-site/two-site.html" overview docs/review-overview-two-site.png
# The view of one zone pair: hq's session hosts to hq's servers.
pair=$(python3 - "$work/two-site/two-site.html" <<'EOF'
import re, sys
html = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r'<details class="view" id="[^"]*"><summary>hq-vda \u2192 hq-core .*?<svg id="([^"]+)"', html, re.S)
print(m.group(1))
EOF
)
shot "$work/two-site/two-site.html" "$pair" docs/review-pair-two-site.png
shot "$work/onprem/onprem-cvad.html" overview docs/review-overview-onprem-cvad.png

# The workbook as printed: the summary's first page, and the top of the flows sheet.
(cd "$work/two-site" && soffice --headless --convert-to pdf two-site.xlsx >/dev/null 2>&1)
pdftoppm -r 150 -png -singlefile -f 1 -l 1 -x 60 -y 100 -W 1500 -H 820 \
    "$work/two-site/two-site.pdf" docs/review-workbook-summary
flows_page=$(pdfinfo "$work/two-site/two-site.pdf" | awk '/^Pages:/ { print $2 }')
# The flows sheet starts after the summary's pages: the page with the first flow.
first=$(sed -n 2p "$work/two-site/two-site.csv" | cut -d, -f2)
for p in $(seq 1 "$flows_page"); do
    if pdftotext -f "$p" -l "$p" "$work/two-site/two-site.pdf" - | grep -qF "$first"; then
        pdftoppm -r 200 -png -singlefile -f "$p" -l "$p" -x 0 -y 120 -W 2340 -H 900 \
            "$work/two-site/two-site.pdf" docs/review-workbook-flows
        break
    fi
done
ls -l docs/review-*.png
