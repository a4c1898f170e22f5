#!/usr/bin/env bash
# A highly available PostgreSQL for the failover test, with pg_auto_failover
# (Debian's postgresql-15-auto-failover): a monitor and two data nodes, the
# second a synchronous standby of the first, all in DIR and on loopback.
#
#   cluster.sh up DIR PORT     monitor on PORT, nodes on PORT+1 and PORT+2;
#                              prints the multi-host URL the monitor hands out
#   cluster.sh kill DIR NODE   kill -9 NODE's keeper and postmaster (a lost machine)
#   cluster.sh start DIR NODE  start NODE's keeper again (it rejoins as standby)
#   cluster.sh switchover DIR  the monitor swaps primary and standby (both stay up)
#   cluster.sh freeze DIR NODE SIGSTOP NODE's keeper and postmaster: cut off from
#                              the monitor and nothing new connects, but its
#                              open sessions go on, and once the standby is
#                              promoted no commit of theirs returns
#   cluster.sh thaw DIR NODE   SIGCONT them
#   cluster.sh state DIR       the monitor's view of the formation
#   cluster.sh down DIR        stop everything and remove DIR
#
# PostgreSQL refuses to run as root: everything runs as the postgres user.
set -euo pipefail
cmd="${1:?usage: cluster.sh up|kill|start|state|down DIR ...}"
dir="$(realpath -m "${2:?DIR}")"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

as_postgres() {
  local env=(PATH="$bin:/usr/sbin:/usr/bin:/sbin:/bin" PGHOST="$dir/run" XDG_CONFIG_HOME="$dir/config" XDG_DATA_HOME="$dir/data" XDG_RUNTIME_DIR="$dir/run" PG_REGRESS_SOCK_DIR="$dir/run")
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- env "${env[@]}" "$@"
  else
    env "${env[@]}" "$@"
  fi
}

# Each keeper leads a session of its own (setsid), with its postmaster in
# it: killing the session is losing the machine.
run_keeper() { # name
  as_postgres setsid -f pg_autoctl run --pgdata "$dir/$1" >>"$dir/$1.log" 2>&1 < /dev/null
}

keeper_session() { # name
  pgrep -u postgres -f "^pg_autoctl run --pgdata $dir/$1\$" | head -1 || true
}

wait_for() { # seconds description command...
  local seconds="$1" what="$2"; shift 2
  for _ in $(seq 1 $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "timed out waiting for $what" >&2
  tail -n 30 "$dir"/*.log >&2 || true
  return 1
}

monitor_url() { echo "postgres://autoctl_node@127.0.0.1:$(cat "$dir/port")/pg_auto_failover?sslmode=disable"; }

states_are() { # want: "primary secondary"
  local got
  got="$(as_postgres psql -qAt "$(monitor_url)" -c \
    "select string_agg(reportedstate::text || '/' || goalstate::text, ' ' order by nodeid) from pgautofailover.node")"
  [ "$got" = "$1" ]
}

# Fail over within a few seconds of a lost primary instead of the defaults'
# twenty or more: the test's budget is 30 s from the kill to accepting again.
fast_failover() {
  local url="postgres://postgres@127.0.0.1:$(cat "$dir/port")/pg_auto_failover?sslmode=disable"
  as_postgres psql -qX "$url" \
    -c "alter system set pgautofailover.health_check_period = 1000" \
    -c "alter system set pgautofailover.health_check_timeout = 1000" \
    -c "alter system set pgautofailover.health_check_max_retries = 1" \
    -c "alter system set pgautofailover.health_check_retry_delay = 500" \
    -c "alter system set pgautofailover.node_considered_unhealthy_timeout = 4000" \
    -c "alter system set pgautofailover.primary_demote_timeout = 5000" \
    -c "select pg_reload_conf()"
}

case "$cmd" in
up)
  port="${3:?PORT}"
  rm -rf "$dir" && mkdir -p "$dir/config" "$dir/data" "$dir/run" && chmod 0700 "$dir/run"
  echo "$port" > "$dir/port"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
  as_postgres pg_autoctl create monitor --pgdata "$dir/monitor" --pgport "$port" \
    --hostname 127.0.0.1 --listen 127.0.0.1 --auth trust --no-ssl >"$dir/monitor.log" 2>&1
  run_keeper monitor
  wait_for 30 "the monitor" as_postgres psql -qAt "$(monitor_url)" -c "select 1"
  wait_for 30 "the monitor's settings" fast_failover
  for n in 1 2; do
    as_postgres pg_autoctl create postgres --pgdata "$dir/node$n" --pgport $((port + n)) \
      --hostname 127.0.0.1 --listen 127.0.0.1 --auth trust --no-ssl --dbname seatsync \
      --name "node$n" --monitor "$(monitor_url)" >"$dir/node$n.log" 2>&1
    run_keeper "node$n"
    if [ "$n" = 1 ]; then wait_for 60 "node1 to be primary" states_are "single/single"; fi
  done
  wait_for 120 "node2 to be a synchronous standby" states_are "primary/primary secondary/secondary"
  as_postgres pg_autoctl show uri --formation default --pgdata "$dir/monitor"
  ;;
kill)
  node="${3:?NODE}"
  session="$(keeper_session "$node")"
  [ -n "$session" ] && pkill -9 -s "$session"
  pkill -9 -u postgres -f -- "-D $dir/$node " || true
  ;;
start)
  run_keeper "${3:?NODE}"
  ;;
freeze|thaw)
  node="${3:?NODE}"
  sig=STOP; [ "$cmd" = thaw ] && sig=CONT
  session="$(keeper_session "$node")"
  postmaster="$(head -1 "$dir/$node/postmaster.pid")"
  # Backends lead sessions of their own, so the session's signal leaves them.
  [ -n "$session" ] && pkill -"$sig" -s "$session"
  kill -"$sig" "$postmaster" || true
  ;;
switchover)
  as_postgres pg_autoctl perform switchover --pgdata "$dir/node1" >>"$dir/switchover.log" 2>&1
  ;;
state)
  as_postgres pg_autoctl show state --pgdata "$dir/monitor"
  ;;
wait)
  wait_for "${4:-120}" "state '$3'" states_are "$3"
  ;;
down)
  if [ -d "$dir" ]; then
    for node in "$dir"/*.log; do
      session="$(keeper_session "$(basename "$node" .log)")"
      [ -n "$session" ] && pkill -9 -s "$session"
    done
    pkill -9 -u postgres -f -- "$dir/" || true
    rm -rf "$dir"
  fi
  ;;
*)
  echo "unknown command $cmd" >&2; exit 2
  ;;
esac
