#!/usr/bin/env bash
# Side-by-side: Aerleon's aclgen against ctxfw on the same synthetic flows.
#
#   bench/aerleon.sh                      # 10,000 flows, 3 runs each, median
#   SIZES="1000 10000" RUNS=1 bench/aerleon.sh
#
# 1. Installs Aerleon into a virtual environment (target/aerleon-venv; AERLEON_VERSION pins it).
# 2. Writes the synthetic topology (examples/scale.rs) and exports it as an Aerleon policy tree
#    with `ctxfw generate --target aerleon --out DIR` (DIR/<topology>.aerleon/policies/pol/*.yaml and def/*.yaml).
# 3. For each target both tools have: iptables, nftables, Windows firewall (aclgen's
#    windows_advfirewall) and GCP (ctxfw gcp, aclgen gce), keeps only that platform in the
#    policy headers, then times `aclgen` on it and `ctxfw generate --target T` on the topology.
# 4. Reports wall time (median) and peak RSS of each, and the ratios, in
#    bench/results/aerleon-<date>.md.
# Both tools write into WORK: a tmpfs (/dev/shm) when there is one, as bench/run.sh does, so
# the disk is not measured (ctxfw makes its files durable with a syncfs, aclgen does not);
# WORK=target/aerleon-bench measures on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-10000}
RUNS=${RUNS:-3}
AERLEON_VERSION=${AERLEON_VERSION:-1.18.0}
VENV=target/aerleon-venv
if [ -d /dev/shm ] && [ -w /dev/shm ]; then WORK=${WORK:-/dev/shm/ctxfw-aerleon-bench}; else WORK=${WORK:-target/aerleon-bench}; fi
TOPO=target/bench-topologies
RES=bench/results
mkdir -p "$WORK" "$TOPO" "$RES"

[ -x /usr/bin/time ] || { echo "bench/aerleon.sh needs GNU time: apt-get install -y time" >&2; exit 2; }
cargo build --release --quiet --bin ctxfw --example scale
BIN=target/release/ctxfw
SCALE=target/release/examples/scale
# Read the list once: `grep -q` would close the pipe before `scale` finishes writing.
TARGET_LIST=$("$SCALE" --list-targets)
if ! grep -qx aerleon <<<"$TARGET_LIST"; then
  echo "error: this ctxfw has no \`aerleon\` target (ctxfw generate --target aerleon), so there is" >&2
  echo "       no Aerleon policy to compare with. Build a ctxfw that has it (the aerleon branch)" >&2
  echo "       and run bench/aerleon.sh again. Targets here: $(tr '\n' ' ' <<<"$TARGET_LIST")" >&2
  exit 3
fi
if [ ! -x "$VENV/bin/aclgen" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "aerleon==$AERLEON_VERSION"
fi
PY=$VENV/bin/python
ACLGEN=$VENV/bin/aclgen

# One timed run of a command: "seconds peak_rss_kb".
time_once() {
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/stdout.txt" 2>"$WORK/stderr.txt" || {
    echo "failed: $*" >&2; tail -20 "$WORK/stderr.txt" >&2; return 1; }
  t1=$(date +%s%N)
  printf '%s %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')" \
    "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Copy an Aerleon policy tree with every filter header targeting only one platform. The export
# targets the zone-firewall platforms (Juniper, Cisco, Palo Alto, SRX); the shared targets get
# the header options a forwarding firewall would use, so aclgen renders the same terms.
only_platform() { # src dst platform
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import pathlib, shutil, sys, yaml
src, dst = map(pathlib.Path, sys.argv[1:3])
platform = sys.argv[3]
options = {
    "iptables": "FORWARD DROP",
    "nftables": "mixed FORWARD",
    "windows_advfirewall": "in inet",
    "gce": "INGRESS inet default",
}[platform]
if dst.exists():
    shutil.rmtree(dst)
shutil.copytree(src, dst)
kept = numbered = 0
for f in (dst / "policies").rglob("*.yaml"):
    doc = yaml.safe_load(f.read_text())
    for flt in doc.get("filters", []):
        flt["header"]["targets"] = {platform: options}
        kept += 1
        if platform in ("iptables", "gce"):
            # aclgen's iptables limits term names to 24 characters (its abbreviation makes
            # duplicates) and GCE allows only [-a-z0-9]: number the terms instead (the comment
            # keeps the flow id).
            for term in flt.get("terms", []):
                term["comment"] = term["name"] + ": " + term.get("comment", "")
                numbered += 1
                term["name"] = f"t{numbered}"
                if platform == "gce":
                    # GCE ingress rules select their targets by tag, not address.
                    term.pop("destination-address", None)
        if platform in ("windows_advfirewall", "gce"):
            # These two refuse address exclusions ("address exclusions unsupported"), which is
            # how the export writes the internet (every address outside the zones): aclgen gets
            # the default route itself there, less work than ctxfw's complement ranges.
            for term in flt.get("terms", []):
                term.pop("source-exclude", None)
                term.pop("destination-exclude", None)
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
if kept == 0:
    sys.exit(f"no filter in the exported policies")
print(kept)
PYEOF
}

STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
REPORT=$RES/aerleon-$STAMP.md
{
  echo "# ctxfw against Aerleon $("$VENV/bin/pip" show aerleon | awk '/^Version/ {print $2}'), $STAMP"
  echo
  echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/ {print $2}') GB RAM; $(uname -sr); $("$PY" --version)"
  echo "- ctxfw $(git rev-parse --short HEAD 2>/dev/null || echo '?'); median of $RUNS runs, the two tools' runs alternating; aclgen with its default --max_renderers"
  echo "- both write into $WORK ($(df -PT "$WORK" | awk 'NR == 2 {print $2}'))"
  echo
  echo "| flows | target (ctxfw / aclgen) | aclgen s | ctxfw s (range) | time ratio | aclgen MB | ctxfw MB | memory ratio |"
  echo "|---|---|---|---|---|---|---|---|"
} | tee "$REPORT"

for n in $SIZES; do
  # Site zones in Google Cloud, so ctxfw's gcp target has them; the other targets and the
  # flows are the same as for the on-premises topology of this size.
  topo=$TOPO/scale-$n-gcp.toml
  [ -f "$topo" ] || "$SCALE" --flows "$n" --location gcp --out "$topo" 2>/dev/null
  rm -rf "$WORK/$n/aerleon"
  # The export writes DIR/<topology name>.aerleon/{policies/pol,def}.
  tree=$WORK/$n/aerleon/scale-$n.aerleon
  "$BIN" generate "$topo" --target aerleon --out "$WORK/$n/aerleon" >/dev/null 2>"$WORK/export.err" || {
    echo "error: ctxfw generate --target aerleon failed:" >&2; cat "$WORK/export.err" >&2; exit 1; }
  [ -d "$tree/policies/pol" ] && [ -d "$tree/def" ] || {
    echo "error: $tree has no policies/pol and def directories; the aerleon target's layout changed" >&2; exit 1; }
  for pair in iptables:iptables nftables:nftables windows:windows_advfirewall gcp:gce; do
    ours=${pair%%:*} theirs=${pair##*:}
    if ! grep -qx "$ours" <<<"$TARGET_LIST"; then
      echo "| $n | $ours / $theirs | - | - | skipped: ctxfw has no $ours target | | | |" | tee -a "$REPORT"
      continue
    fi
    sub=$WORK/$n/$theirs
    if ! only_platform "$tree" "$sub" "$theirs" >/dev/null 2>"$WORK/filter.err"; then
      echo "| $n | $ours / $theirs | - | - | skipped: $(tail -1 "$WORK/filter.err") | | | |" | tee -a "$REPORT"
      continue
    fi
    # The two tools' runs alternate, so a slow spell of the shared machine falls on both.
    ats=() cts=() am=0 cm=0
    for _ in $(seq "$RUNS"); do
      rm -rf "$WORK/$n/out-$theirs" "$WORK/$n/ctxfw-$ours"
      read -r t m < <(time_once "$ACLGEN" --base_directory "$sub/policies" \
        --definitions_directory "$sub/def" --output_directory "$WORK/$n/out-$theirs")
      [ -n "${m:-}" ] || exit 1
      ats+=("$t"); [ "$m" -gt "$am" ] && am=$m
      read -r t m < <(time_once "$BIN" generate "$topo" --target "$ours" --out "$WORK/$n/ctxfw-$ours")
      [ -n "${m:-}" ] || exit 1
      cts+=("$t"); [ "$m" -gt "$cm" ] && cm=$m
    done
    at=$(printf '%s\n' "${ats[@]}" | median)
    ct=$(printf '%s\n' "${cts[@]}" | median)
    crange="$(printf '%s\n' "${cts[@]}" | sort -g | head -1)-$(printf '%s\n' "${cts[@]}" | sort -g | tail -1)"
    am=$((am / 1024)) cm=$((cm / 1024))
    tr=$(awk -v a="$at" -v c="$ct" 'BEGIN {printf "%.0fx", (c > 0 ? a / c : 0)}')
    mr=$(awk -v a="$am" -v c="$cm" 'BEGIN {printf "%.1fx", (c > 0 ? a / c : 0)}')
    echo "| $n | $ours / $theirs | $at | $ct ($crange) | $tr | $am | $cm | $mr |" | tee -a "$REPORT"
  done
done
echo "report: $REPORT"
