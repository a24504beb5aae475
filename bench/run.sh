#!/usr/bin/env bash
# Whole-process benchmarks of ctxfw on synthetic topologies (examples/scale.rs).
#
#   bench/run.sh                  # sizes 100 1000 10000 100000, 3 runs each, median
#   SIZES="1000 10000" RUNS=5 bench/run.sh
#
# For every size: `ctxfw check` (parse + resolve), then `ctxfw generate --target T` for every
# target registered in src/generate.rs (listed by `scale --list-targets`) and `--target all`.
# Reports wall time (median of RUNS), peak RSS (/usr/bin/time -v "Maximum resident set size"),
# output bytes and rule counts; for the largest size, loads the nftables file into a fresh
# network namespace (`unshare -n nft -f`) and compares its rule count with the number of
# distinct (source set, destination set, protocol) groups.
# Output goes to a tmpfs (/dev/shm) when there is one, so disk sync time is not measured;
# OUTDIR=... to choose. Results: bench/results/run-<date>.md (and stdout).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"100 1000 10000 100000"}
RUNS=${RUNS:-3}
if [ -d /dev/shm ] && [ -w /dev/shm ]; then OUTDIR=${OUTDIR:-/dev/shm/ctxfw-bench}; else OUTDIR=${OUTDIR:-target/bench-out}; fi
TOPO=target/bench-topologies
RES=bench/results
mkdir -p "$TOPO" "$RES" "$OUTDIR"

if [ ! -x /usr/bin/time ]; then
  echo "bench/run.sh needs GNU time for peak memory: apt-get install -y time" >&2
  exit 2
fi
cargo build --release --quiet --bin ctxfw --example scale
BIN=target/release/ctxfw
SCALE=target/release/examples/scale
mapfile -t TARGETS < <("$SCALE" --list-targets)

# run_timed LABEL CMD... : median wall seconds and max RSS (MB) over RUNS runs -> "secs mb"
run_timed() {
  local times=() rss=0 t m
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s%N)
    /usr/bin/time -v -o "$OUTDIR/time.txt" "$@" >/dev/null 2>"$OUTDIR/stderr.txt" || {
      echo "failed: $*" >&2; tail -5 "$OUTDIR/stderr.txt" >&2; return 1; }
    t1=$(date +%s%N)
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
    m=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUTDIR/time.txt")
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" "$((rss / 1024))"
}

rules_of() { # target dir -> rule count (or -)
  local t=$1 d=$2
  case $t in
    nftables) cat "$d"/*.nft 2>/dev/null | grep -cE '^\s+ip6? saddr [.@]' || true ;;
    iptables) cat "$d"/*.rules "$d"/*.rules6 2>/dev/null | grep -cE '^-A .* -s ' || true ;;
    windows) cat "$d"/*.ps1 2>/dev/null | grep -c 'New-NetFirewallRule' || true ;;
    flows) python3 -c 'import json,sys,glob; print(len(json.load(open(glob.glob(sys.argv[1]+"/*.flows.json")[0]))["flows"]))' "$d" ;;
    *) echo - ;;
  esac
}

STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
REPORT=$RES/run-$STAMP.md
{
  echo "# ctxfw whole-process benchmark, $STAMP"
  echo
  echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/ {print $2}') GB RAM; $(uname -sr)"
  echo "- ctxfw $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(rustc --version)"
  echo "- median of $RUNS runs; peak RSS is the maximum over the runs; output in $OUTDIR"
  echo
  echo "| flows (target) | resolved flows | command | wall s | peak RSS MB | output bytes | files | rules |"
  echo "|---|---|---|---|---|---|---|---|"
} | tee "$REPORT"

for n in $SIZES; do
  topo=$TOPO/scale-$n.toml
  [ -f "$topo" ] || "$SCALE" --flows "$n" --out "$topo" 2>/dev/null
  flows=$("$BIN" flows "$topo" --format csv 2>/dev/null | tail -n +2 | wc -l)
  read -r s m < <(run_timed "$BIN" check "$topo")
  echo "| $n | $flows | check (parse+resolve) | $s | $m | - | - | - |" | tee -a "$REPORT"
  for t in "${TARGETS[@]}" all; do
    d=$OUTDIR/$n-$t
    rm -rf "$d"
    # The cloud targets render only zones in their cloud: the same topology with every site
    # zone there. Under `all` they are skipped for the on-premises topology.
    tt=$topo
    case $t in
      aws|azure|gcp)
        tt=$TOPO/scale-$n-$t.toml
        [ -f "$tt" ] || "$SCALE" --flows "$n" --location "$t" --out "$tt" 2>/dev/null ;;
    esac
    if ! out=$(run_timed "$BIN" generate "$tt" --target "$t" --out "$d" 2>&1); then
      why=$(grep -E '^error' "$OUTDIR/stderr.txt" | head -1 | cut -c1-160 || true)
      echo "| $n | $flows | generate --target $t | - | - | - | - | refused: ${why:-failed} |" | tee -a "$REPORT"
      continue
    fi
    read -r s m <<<"$(tail -1 <<<"$out")"
    bytes=$(find "$d" -type f -exec cat {} + | wc -c)
    files=$(find "$d" -type f | wc -l)
    r=-; [ "$t" != all ] && r=$(rules_of "$t" "$d")
    echo "| $n | $flows | generate --target $t | $s | $m | $bytes | $files | $r |" | tee -a "$REPORT"
  done
done

# nftables: load the largest rule set into a throwaway network namespace.
last=$(echo "$SIZES" | awk '{print $NF}')
nftfile=$(ls "$OUTDIR/$last-nftables"/*.nft 2>/dev/null | head -1 || true)
{
  echo
  if [ -n "$nftfile" ] && command -v nft >/dev/null && command -v unshare >/dev/null; then
    rules=$(grep -cE '^\s+ip6? saddr [.@]' "$nftfile" || true)
    # The groups are counted on the per-flow layout, where each rule names its source and
    # destination address sets: distinct (source set, destination set, protocol).
    sets_dir=$OUTDIR/$last-nft-sets
    rm -rf "$sets_dir"
    "$BIN" generate "$TOPO/scale-$last.toml" --target nftables --nft-layout sets --out "$sets_dir" 2>/dev/null
    groups=$(cat "$sets_dir"/*.nft | grep -E '^\s+ip6? saddr @' | awk '{print $3, $6, $7}' | sort -u | wc -l)
    start=$(date +%s%N)
    if timeout "${NFT_TIMEOUT:-300}" unshare -n nft -f "$nftfile" 2>"$OUTDIR/nft.err"; then
      end=$(date +%s%N)
      secs=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", (b - a) / 1e9}')
      echo "nftables, $last flows: \`unshare -n nft -f\` loaded $rules rules ($(grep -cE '^\s+set ' "$nftfile") sets) in $secs s; distinct (source set, destination set, protocol) groups: $groups"
    else
      echo "nftables, $last flows: loading FAILED: $(head -3 "$OUTDIR/nft.err")"
    fi
  else
    echo "nftables load test skipped: needs nft and unshare (apt-get install -y nftables util-linux) and root"
  fi
} | tee -a "$REPORT"
echo "report: $REPORT"
