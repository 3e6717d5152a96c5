# deploy/measure-lib.sh — what deploy/measure-scale.sh and
# deploy/replay-ab.sh share (sourced, not run).
#
# poll URL FIELD sets POLLED to the field of URL/v1/status, read by bash
# alone: the volunteer being timed shares the machine's cores with its
# poll, and a poll that started processes took them from it (a python3 a
# poll took most of a core; curl and three greps every 0.2 s still took
# ~15 %, and made the replay look 25-35 % slower than it is).
poll() {
  local hp=${1#http://}; POLLED=0
  { exec 3<>/dev/tcp/${hp%:*}/${hp#*:}; } 2>/dev/null || return 0
  printf 'GET /v1/status HTTP/1.0\r\nHost: %s\r\n\r\n' "${hp%:*}" >&3
  local body re="\"$2\": *([0-9]+)"; IFS= read -r -d '' body <&3 || true
  exec 3<&-
  if [[ $body =~ $re ]]; then POLLED=${BASH_REMATCH[1]}; fi
}
# cputicks PID: the user and system time the process has used, in 1/100 s.
cputicks() { local f; read -r -a f < /proc/$1/stat; echo $(( f[13] + f[14] )); }
# start_volunteer BIN HOME BOOTSTRAP FLAGS...: runs the volunteer
# initialised in HOME (BIN init), with the devnet's first node's p2p
# address, its log in HOME.out; sets VPID and VAPI (its API URL) once it
# listens.
start_volunteer() {
  local bin=$1 home=$2 bootstrap=$3; shift 3
  $bin node --home $home --bootstrap $bootstrap --api 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 --log-level warn "$@" > $home.out 2>&1 &
  VPID=$! VAPI=""
  until [ -n "$VAPI" ]; do VAPI=$(grep -o 'API http://[0-9.:]*' $home.out | head -1 | cut -d' ' -f2 || true); sleep 0.05; done
}
