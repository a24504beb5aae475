#!/usr/bin/env bash
# Whole-process benchmarks of ctxfw on synthetic topologies (examples/scale.rs).
#
#   bench/run.sh                          # sizes 100 1000 10000 100000, 3 runs each, median, on disk
#   WHERE="disk tmpfs" bench/run.sh       # the same on disk and in a tmpfs, runs alternating
#   SIZES="1000 10000" RUNS=5 WHERE=tmpfs bench/run.sh
#
# For every size: `ctxfw check` (parse + resolve), then `ctxfw generate --target T` for every
# target registered in src/generate.rs (listed by `scale --list-targets`) and `--target all`.
# Reports wall time (median of RUNS), peak RSS (/usr/bin/time -v "Maximum resident set size"),
# output bytes and rule counts; for the largest size, loads the nftables file into a fresh
# network namespace (`unshare -n nft -f`) and compares its rule count with the number of
# distinct (source set, destination set, protocol) groups.
#
# Where the outputs go (WHERE, default `disk`): `disk` is DISK_OUT (default target/bench-out, on
# the disk holding the repository, where a user writes), `tmpfs` is TMPFS_OUT (default
# /dev/shm/ctxfw-bench, memory: no disk cost). With both, each run writes to one then the other,
# so a slow spell of the machine touches both alike, and the report has a column for each and
# their ratio. Every run writes into a directory of its own (a removal right before a run makes
# ext4 skip the inodes just freed, a cost of the benchmark, not of ctxfw); a target's directories
# are removed once its outputs are counted, a tmpfs run's other than the first right after it
# (outputs held in memory slow the kernel's page allocation for the runs after them), and
# `sync` runs untimed before each run so that no earlier writing is flushed in it. Results:
# bench/results/run-<date>.md (and stdout).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"100 1000 10000 100000"}
RUNS=${RUNS:-3}
WHERE=${WHERE:-disk}
DISK_OUT=${DISK_OUT:-target/bench-out}
TMPFS_OUT=${TMPFS_OUT:-/dev/shm/ctxfw-bench}
TOPO=target/bench-topologies
RES=bench/results
read -r -a PLACES <<<"$WHERE"
out_of() { case $1 in disk) echo "$DISK_OUT" ;; tmpfs) echo "$TMPFS_OUT" ;; *) echo "WHERE: disk or tmpfs, not $1" >&2; exit 2 ;; esac; }
for w in "${PLACES[@]}"; do mkdir -p "$(out_of "$w")"; done
if [[ " $WHERE " == *" tmpfs "* ]] && [ "$(stat -f -c %T "$TMPFS_OUT")" != tmpfs ]; then
  echo "TMPFS_OUT=$TMPFS_OUT is not a tmpfs" >&2; exit 2
fi
SCRATCH=$(out_of "${PLACES[0]}")
mkdir -p "$TOPO" "$RES"

if [ ! -x /usr/bin/time ]; then
  echo "bench/run.sh needs GNU time for peak memory: apt-get install -y time" >&2
  exit 2
fi
# The binary alone: built in one command with the example, it would get the test-only feature
# the example's dev-dependencies turn on (`fail-points`).
cargo build --release --quiet --bin ctxfw
cargo build --release --quiet --example scale
BIN=target/release/ctxfw
SCALE=target/release/examples/scale
mapfile -t TARGETS < <("$SCALE" --list-targets)

# time_once OUTDIR CMD... : one run writing into OUTDIR -> "secs rss_kb"
time_once() {
  local d=$1 t0 t1; shift
  sync
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$SCRATCH/time.txt" "$@" ${d:+--out "$d"} >/dev/null 2>"$SCRATCH/stderr.txt" || {
    echo "failed: $*" >&2; tail -5 "$SCRATCH/stderr.txt" >&2; return 1; }
  t1=$(date +%s%N)
  printf '%s %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')" \
    "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$SCRATCH/time.txt")"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# run_timed NAME CMD... : RUNS runs, each place in turn, into NAME-<run> under each place ->
# "secs_place1 [secs_place2] mb" (median seconds per place, maximum RSS over all runs)
run_timed() {
  local name=$1; shift
  local -A times=()
  local rss=0 r w t m
  for r in $(seq "$RUNS"); do
    for w in "${PLACES[@]}"; do
      read -r t m < <(time_once "$(out_of "$w")/$name-$r" "$@") || return 1
      times[$w]+="$t "
      [ "$m" -gt "$rss" ] && rss=$m
      # A tmpfs keeps only the first run (counted below): gigabytes of earlier outputs held in
      # memory made the kernel's page allocation, and so the later runs, slower.
      if [ "$w" = tmpfs ] && [ "$r" -gt 1 ]; then rm -rf "$(out_of "$w")/$name-$r"; fi
    done
  done
  for w in "${PLACES[@]}"; do printf '%s ' "$(tr ' ' '\n' <<<"${times[$w]}" | grep . | median)"; done
  echo "$((rss / 1024))"
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
head_places=""; rule_places=""
for w in "${PLACES[@]}"; do head_places+=" $w s |"; rule_places+="---|"; done
ratio=""
if [ ${#PLACES[@]} -eq 2 ]; then head_places+=" ${PLACES[0]}/${PLACES[1]} |"; rule_places+="---|"; ratio=1; fi
{
  echo "# ctxfw whole-process benchmark, $STAMP"
  echo
  echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/ {print $2}') GB RAM; $(uname -sr)"
  echo "- ctxfw $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(rustc --version)"
  echo "- median of $RUNS runs; peak RSS is the maximum over the runs"
  for w in "${PLACES[@]}"; do
    d=$(out_of "$w"); echo "- $w: $d ($(df -PT "$d" | awk 'NR==2 {print $2 " on " $1}'))"
  done
  echo
  echo "| flows (target) | resolved flows | command |$head_places peak RSS MB | output bytes | files | rules |"
  echo "|---|---|---|$rule_places---|---|---|---|"
} | tee "$REPORT"

# row LABEL secs... mb -> the time columns, the ratio, and RSS
row() {
  local n=$1 flows=$2 cmd=$3; shift 3
  local -a v=("$@")
  local cells="" i
  for ((i = 0; i < ${#PLACES[@]}; i++)); do cells+=" ${v[$i]} |"; done
  [ -n "$ratio" ] && cells+=" $(awk -v a="${v[0]}" -v b="${v[1]}" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}') |"
  printf '| %s | %s | %s |%s %s |' "$n" "$flows" "$cmd" "$cells" "${v[${#PLACES[@]}]}"
}

for n in $SIZES; do
  topo=$TOPO/scale-$n.toml
  [ -f "$topo" ] || "$SCALE" --flows "$n" --out "$topo" 2>/dev/null
  flows=$("$BIN" flows "$topo" --format csv 2>/dev/null | tail -n +2 | wc -l)
  # check writes nothing: timed once per run, shown in every place's column.
  read -r s m < <(for r in $(seq "$RUNS"); do time_once "" "$BIN" check "$topo"; done | sort -g | awk '{a[NR]=$1; if ($2 > m) m = $2} END {print a[int((NR+1)/2)], m}')
  cols=(); for _ in "${PLACES[@]}"; do cols+=("$s"); done
  echo "$(row "$n" "$flows" "check (parse+resolve)" "${cols[@]}" "$((m / 1024))") - | - | - |" | tee -a "$REPORT"
  for t in "${TARGETS[@]}" all; do
    # The cloud targets render only zones in their cloud: the same topology with every site
    # zone there. Under `all` they are skipped for the on-premises topology. Terraform runs on
    # the AWS one: no template limit stops it there, and its document is the largest.
    tt=$topo
    case $t in
      aws|azure|gcp|terraform)
        c=$t; [ "$t" = terraform ] && c=aws
        tt=$TOPO/scale-$n-$c.toml
        [ -f "$tt" ] || "$SCALE" --flows "$n" --location "$c" --out "$tt" 2>/dev/null ;;
    esac
    if ! out=$(run_timed "$n-$t" "$BIN" generate "$tt" --target "$t" 2>&1); then
      why=$(grep -E '^error' "$SCRATCH/stderr.txt" | head -1 | cut -c1-160 || true)
      echo "| $n | $flows | generate --target $t | refused: ${why:-failed} |" | tee -a "$REPORT"
      continue
    fi
    read -r -a v <<<"$(tail -1 <<<"$out")"
    d=$(out_of "${PLACES[0]}")/$n-$t-1
    bytes=$(find "$d" -type f -exec cat {} + | wc -c)
    files=$(find "$d" -type f | wc -l)
    r=-; [ "$t" != all ] && r=$(rules_of "$t" "$d")
    echo "$(row "$n" "$flows" "generate --target $t" "${v[@]}") $bytes | $files | $r |" | tee -a "$REPORT"
    # Each target's outputs go once counted (nftables stays for the load test below).
    [ "$t" = nftables ] || for w in "${PLACES[@]}"; do rm -rf "$(out_of "$w")/$n-$t-"*; done
  done
  # The largest size's nftables file is loaded below.
  if [ "$n" != "$(echo "$SIZES" | awk '{print $NF}')" ]; then
    for w in "${PLACES[@]}"; do rm -rf "$(out_of "$w")/$n-"*; done
  fi
done

# nftables: load the largest rule set into a throwaway network namespace.
last=$(echo "$SIZES" | awk '{print $NF}')
nftfile=$(ls "$SCRATCH/$last-nftables-1"/*.nft 2>/dev/null | head -1 || true)
{
  echo
  if [ -n "$nftfile" ] && command -v nft >/dev/null && command -v unshare >/dev/null; then
    rules=$(grep -cE '^\s+ip6? saddr [.@]' "$nftfile" || true)
    # The groups are counted on the per-flow layout, where each rule names its source and
    # destination address sets: distinct (source set, destination set, protocol).
    sets_dir=$SCRATCH/$last-nft-sets
    rm -rf "$sets_dir"
    "$BIN" generate "$TOPO/scale-$last.toml" --target nftables --nft-layout sets --out "$sets_dir" 2>/dev/null
    groups=$(cat "$sets_dir"/*.nft | grep -E '^\s+ip6? saddr @' | awk '{print $3, $6, $7}' | sort -u | wc -l)
    start=$(date +%s%N)
    if timeout "${NFT_TIMEOUT:-300}" unshare -n nft -f "$nftfile" 2>"$SCRATCH/nft.err"; then
      end=$(date +%s%N)
      secs=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", (b - a) / 1e9}')
      echo "nftables, $last flows: \`unshare -n nft -f\` loaded $rules rules ($(grep -cE '^\s+set ' "$nftfile") sets) in $secs s; distinct (source set, destination set, protocol) groups: $groups"
    else
      echo "nftables, $last flows: loading FAILED: $(head -3 "$SCRATCH/nft.err")"
    fi
  else
    echo "nftables load test skipped: needs nft and unshare (apt-get install -y nftables util-linux) and root"
  fi
} | tee -a "$REPORT"
for w in "${PLACES[@]}"; do rm -rf "$(out_of "$w")/$last-"*; done
echo "report: $REPORT"
