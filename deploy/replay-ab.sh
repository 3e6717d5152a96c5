#!/usr/bin/env bash
# deploy/replay-ab.sh CASTS ROUNDS BIN... — a volunteer's full replay, before
# and after, on one chain: a devnet of 4 validators is loaded with CASTS
# casts (from the seed devnet and the tokens that deploy/measure-scale.sh
# keeps in KEEP: run it once with the same KEEP and CASTS first), then,
# ROUNDS times, each BIN in turn starts a volunteer with --full-verify
# that is timed to the validators' height. Each line says the wall time
# (process start included), the volunteer's CPU and the devnet's CPU
# serving it. The rounds alternate the builds because a shared machine's
# speed moves by a third within minutes: compare builds round by round.
# SBIN is the build that loads and serves the chain (default: the first
# BIN). PROF=S adds --pprof to the volunteers and writes each one's CPU
# profile of its first S seconds into the run's folder, which is then
# kept (its path is printed). Needs python3 (to read devnet.json) and
# /usr/bin/env bash.
set -euo pipefail
CASTS=$1; ROUNDS=$2; shift 2
SBIN=${SBIN:-$1}
KEEP=${KEEP:?set KEEP to the folder deploy/measure-scale.sh kept the seed and tokens in}
[ -f $KEEP/tokens-$CASTS ] || { echo "no $KEEP/tokens-$CASTS: run KEEP=$KEEP deploy/measure-scale.sh BIN label $CASTS first" >&2; exit 2; }
source "$(dirname "$0")/measure-lib.sh" # poll, cputicks, start_volunteer
D=$(mktemp -d /tmp/replay-ab-XXXX)
cp -a $KEEP/devnet-$CASTS $D/net; rm -f $D/net/devnet.json
$SBIN devnet --dir $D/net --validators 4 --api-port 0 --voters $((CASTS+100)) --revote-interval 0 --log-level warn > $D/devnet.out 2>&1 &
DEV=$!
trap 'kill -INT $DEV 2>/dev/null || true' EXIT
until [ -f $D/net/devnet.json ]; do sleep 0.2; done
echo "== loading $CASTS casts"
$SBIN bench --devnet $D/net/devnet.json --casts $CASTS --voters $CASTS --batch 100 --concurrency 8 --timeout 10m --tokens-file $KEEP/tokens-$CASTS 2>/dev/null | grep "^sustained"
j() { python3 -c "import json;d=json.load(open('$D/net/devnet.json'));print($1)"; }
P2P=$(j "d['nodes'][0]['p2p']"); API0=$(j "d['nodes'][0]['api']")
poll $API0 height; H=$POLLED
echo "== replays to height $H"
for r in $(seq $ROUNDS); do
  n=0
  for b in "$@"; do
    n=$((n + 1)); V=$D/vol-$r-$n
    $b init --home $V --genesis $D/net/genesis.json >/dev/null
    start=$(date +%s.%N) dev0=$(cputicks $DEV)
    start_volunteer $b $V $P2P --full-verify --snapshot-interval -1 ${PROF:+--pprof}
    pid=$VPID api=$VAPI prof=""
    if [ -n "${PROF:-}" ]; then curl -s "$api/debug/pprof/profile?seconds=$PROF" > $D/prof-$r-$n.pb.gz & prof=$!; fi
    until poll $api height; [ "$POLLED" -ge "$H" ]; do sleep 0.1; done
    end=$(date +%s.%N) cpu=$(cputicks $pid) dev=$(( $(cputicks $DEV) - dev0 ))
    python3 -c "d=$end-$start; print(f'round $r, build $n ($b): {d:.2f} s = {$CASTS/d:.0f} casts/s; its CPU {$cpu/100:.2f} s; the devnet serving it {$dev/100:.2f} s')"
    [ -z "$prof" ] || wait $prof
    kill $pid; wait $pid || true
    rm -rf $V $V.out
  done
done
kill -INT $DEV; wait $DEV || true; trap - EXIT
if [ -n "${PROF:-}" ]; then
  rm -rf $D/net; echo "profiles (go tool pprof -top FILE): $D/prof-<round>-<build>.pb.gz"
else
  rm -rf $D
fi
