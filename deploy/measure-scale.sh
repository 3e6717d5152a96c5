#!/usr/bin/env bash
# deploy/measure-scale.sh BIN LABEL CASTS — the scale measurement of issue 17:
# a devnet of 4 validators (one process) loaded with CASTS casts, one per
# voter, by `cocorico bench --ceiling` (final casts/s as a fraction of the
# crypto ceiling C measured in the same run) and its peak RSS; then a
# volunteer replaying every block (--full-verify) and one joining by state
# sync, each timed to the validators' height (the state-sync one also
# until it has re-verified the blocks before its snapshot: verified_from
# 1), each with its CPU per cast and the devnet's CPU serving it (they
# share the cores); LABEL only names the run; then
# `cocorico recount --ceiling`. Run it for two builds (before, after) one
# after the other to compare, or set BEFORE=path/to/older/cocorico to also
# replay the same chain with that build (and recount with it).
# Needs curl, GNU time (/usr/bin/time, Debian's package time), and python3
# to read devnet.json and print (never in a poll).
# DEVNET_FLAGS are added to the devnet's command line (e.g.
# "--ledger-memtable 16"). 1,000,000 casts take about 35-50 min on 2 cores, the tokens alone 20-30
# min (the registrar signs about 500-900 a second): set KEEP=/some/folder
# to keep them, with a copy of the devnet as it was before the casts, and
# a later run with the same KEEP and CASTS skips them (the casts then take
# 5-6 min, the volunteers and the recount 4).
set -euo pipefail
BIN=$1; LABEL=$2; CASTS=$3
D=$(mktemp -d /tmp/meas-$LABEL-XXXX)
SEED=${KEEP:-$D/keep}/devnet-$CASTS; TOKENS=${KEEP:-$D/keep}/tokens-$CASTS
devnet() { $BIN devnet --dir $1 --validators 4 --api-port 0 --voters $((CASTS+100)) --revote-interval 0 --log-level warn ${DEVNET_FLAGS:-} > $1/devnet.out 2>&1 & }
if [ ! -f $TOKENS ]; then
  mkdir -p $SEED; rm -f $SEED/devnet.json
  devnet $SEED; DEV=$!
  until [ -f $SEED/devnet.json ]; do sleep 0.2; done
  echo "== tokens for $CASTS voters (kept in $TOKENS)"
  $BIN bench --devnet $SEED/devnet.json --casts $CASTS --voters $CASTS --concurrency 8 --tokens-file $TOKENS.part --prepare-only 2>/dev/null
  kill -INT $DEV; wait $DEV || true
  mv $TOKENS.part $TOKENS
fi
rm -rf $D/net; cp -a $SEED $D/net; rm -f $D/net/devnet.json; D=$D/net
devnet $D; DEV=$!
until [ -f $D/devnet.json ]; do sleep 0.2; done
j() { python3 -c "import json,sys;d=json.load(open('$D/devnet.json'));print($1)"; }
# What the devnet's memory is made of: every 5 s its RSS and, from the
# nodes' metrics, Go's memory, the records' hashes outside the heap, the
# shared block cache and the four ledgers' memtables (docs/OPERATIONS.md
# §Ledger, "Memory"); the sample of highest RSS is printed after the bench.
APIS=$(j "' '.join(n['api'] for n in d['nodes'])")
metric() { awk -v m="$1" '$1 == m {printf "%.0f", $2 / 1048576}'; }
( while kill -0 $DEV 2>/dev/null; do
    rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' /proc/$DEV/status 2>/dev/null || echo 0)
    m=$(curl -s --max-time 2 ${APIS%% *}/metrics || true)
    mt=0
    for a in $APIS; do v=$(curl -s --max-time 2 $a/metrics | metric cocorico_ledger_memtable_bytes || true); mt=$((mt + ${v:-0})); done
    echo "${rss:-0} $(echo "$m" | metric go_memstats_sys_bytes) $(echo "$m" | metric go_memstats_heap_inuse_bytes) $(echo "$m" | metric cocorico_merkle_offheap_bytes) $(echo "$m" | metric cocorico_ledger_cache_bytes) $mt"
    sleep 5
  done ) > $D/memory.samples 2>/dev/null &
SAMPLER=$!
echo "== $LABEL bench"
$BIN bench --ceiling --devnet $D/devnet.json --casts $CASTS --voters $CASTS --batch 100 --concurrency 8 --timeout 10m --tokens-file $TOKENS 2>/dev/null | grep -v "^not final" | tail -16
echo "devnet peak RSS: $(grep VmHWM /proc/$DEV/status)"
kill $SAMPLER 2>/dev/null || true
sort -n $D/memory.samples | tail -1 | awk '{printf "devnet memory at its highest sample: RSS %s MB; Go %s MB (heap in use %s), records hashes %s MB, memtables %s MB, block cache %s MB (as allocated: not all of it resident)\n", $1, $2, $3, $4, $6, $5}'
BALLOT=$(j "d['ballot']"); P2P=$(j "d['nodes'][0]['p2p']"); API0=$(j "d['nodes'][0]['api']")
height() { curl -s $1/v1/status | grep -o "\"${2:-height}\": *[0-9]*" | head -1 | grep -o "[0-9]*$" || echo 0; }
H=$(height $API0)
source "$(dirname "$0")/measure-lib.sh" # poll, cputicks, start_volunteer
volunteer() { # name flags... (VBIN: the build, default BIN)
  local name=$1; shift
  local vbin=${VBIN:-$BIN}
  $vbin init --home $D/$name --genesis $D/genesis.json >/dev/null
  local start=$(date +%s.%N) dev0=$(cputicks $DEV)
  start_volunteer $vbin $D/$name $P2P "$@"
  local pid=$VPID api=$VAPI
  until poll $api height; [ "$POLLED" -ge "$H" ]; do sleep 0.1; done
  local end=$(date +%s.%N) cpu=$(cputicks $pid) dev=$(( $(cputicks $DEV) - dev0 ))
  python3 -c "d=$end-$start; print(f'$name: height $H ({$CASTS} casts) in {d:.1f} s = {$CASTS/d:.0f} casts/s, process start included; its CPU {$cpu/100:.1f} s = {$cpu*1e4/$CASTS:.1f} µs/cast (the devnet serving it: {$dev/100:.1f} s)')"
  echo "$name peak RSS: $(grep VmHWM /proc/$pid/status)"
  curl -s $api/metrics | awk -v n=$name '$1 == "cocorico_ledger_batch_bytes_total" {b = $2} $1 == "cocorico_ledger_table_bytes_written_total" {t = $2}
    END {if (b > 0) printf "%s ledger: batches %.0f MB, tables written %.0f MB (flushes and compactions): write amplification %.2f\n", n, b / 1e6, t / 1e6, t / b}'
  if [ "$name" = statesync ]; then
    until poll $api verified_from; [ "$POLLED" = 1 ]; do sleep 0.1; done
    python3 -c "print(f'statesync: back-filled and re-verified every block (verified_from 1) {$(date +%s.%N)-$start:.1f} s after start')"
    echo "statesync peak RSS with the re-verification: $(grep VmHWM /proc/$pid/status)"
  fi
  kill $pid; wait $pid || true
  echo "$name ledger on disk: $(du -sm $D/$name/data/ledger | cut -f1) MB"
}
echo "== $LABEL volunteers"
if [ -n "${BEFORE:-}" ]; then
  VBIN=$BEFORE volunteer replay-before --full-verify --snapshot-interval -1
fi
# Every build measured here has state sync: without --full-verify a new
# volunteer would join from a snapshot (labelled "replay" before, which
# made a build's replay look faster than its recount).
volunteer replay --full-verify --snapshot-interval -1
volunteer statesync --snapshot-interval -1
kill -INT $DEV; wait $DEV || true
echo "== $LABEL recount"
[ -n "${BEFORE:-}" ] && $BEFORE recount --ceiling --home $D/validator-0 --ballot $BALLOT 2>/dev/null | tail -8
/usr/bin/time -f "%M" -o $D/rss $BIN recount --ceiling --home $D/validator-0 --ballot $BALLOT 2>/dev/null | tail -8
echo "recount peak RSS: $(cat $D/rss) kB"
echo "== $LABEL recount --on-disk (its state in a scratch ledger)"
/usr/bin/time -f "%M" -o $D/rss $BIN recount --on-disk --home $D/validator-0 --ballot $BALLOT 2>/dev/null | sed -n 2p
echo "recount --on-disk peak RSS: $(cat $D/rss) kB"
rm -rf $(dirname $D)
