# shellcheck shell=bash disable=SC2154,SC2034 # the sourcing script's variables
# bench/http_common.sh: shell functions shared by the HTTP benchmarks
# (bench/http_vs_peers, bench/security_cost, bench/backends). Sourced, not run.
#
# The functions read these variables of the sourcing script:
#   bench_name            the script's name, in front of error messages
#   keep                  1 to keep the temporary directory at exit
#   zsimem, zsimemd       the binaries (seed_store, zsimemd_serve)
#   wrk_threads, connections, rounds, duration, warmup
#                         wrk's load and the rounds of run_row
# and set these:
#   work, results         the temporary directory (make_work_dir) and the
#                         wrk outputs and tab-separated records in it
#   started_pids          every background process, stopped at exit
#   cleanup_hooks         functions run at exit after those processes stop,
#                         before the directory goes (servers started by
#                         other means; the sourcing script may add to it)
#   pid_of, port_of       each server's process id and port, by name

log() { printf '%s\n' "$*" >&2; }
die() {
  log "$bench_name: $*"
  exit 1
}

# ensure_packages PACKAGE...: installs with apt-get (as root, or through
# sudo) those of the Debian packages that are neither installed nor a
# command on the PATH (python3 from pyenv, say).
ensure_packages() {
  local package missing=()
  for package in "$@"; do
    command -v "$package" >/dev/null 2>&1 && continue
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' && continue
    missing+=("$package")
  done
  ((${#missing[@]})) || return 0
  log "$bench_name: installing ${missing[*]}"
  local sudo=()
  [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# make_work_dir PREFIX: a fresh temporary directory in TMPDIR (work, with
# results/ in it), and an EXIT trap that stops every started process, then
# removes the directory unless --keep.
make_work_dir() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  results=$work/results
  mkdir -p "$results"
  started_pids=()
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}

# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
  local pid
  for pid in "${started_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${started_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  local hook
  for hook in "${cleanup_hooks[@]}"; do
    "$hook" || true
  done
  if ((keep)); then
    log "kept in $work"
  else
    rm -rf "$work"
  fi
}

# log_stores_fs: prints where the stores go and warns on a RAM file system.
log_stores_fs() {
  local fs_type
  fs_type=$(df --output=fstype "$work" 2>/dev/null | tail -n 1 || stat -f -c %T "$work")
  log "stores:     $work ($fs_type)"
  if [[ "$fs_type" == tmpfs || "$fs_type" == ramfs ]]; then
    log "WARNING: the stores are on $fs_type: fsync is free there, so the durable rows do not measure durability."
  fi
}

# A free TCP port on the loopback (the kernel's pick; released at once, so
# another process could take it first, which start_server then reports).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

declare -A pid_of=() port_of=()
cleanup_hooks=()

# start_server NAME HEALTH_PATH PORT COMMAND...: starts COMMAND in the
# background (output in $work/NAME.log) and waits until HEALTH_PATH answers.
start_server() {
  local name=$1 health=$2 port=$3
  shift 3
  "$@" >"$work/$name.log" 2>&1 &
  local pid=$!
  started_pids+=("$pid")
  pid_of[$name]=$pid
  port_of[$name]=$port
  local attempt
  for ((attempt = 0; attempt < 200; attempt++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$work/$name.log" >&2
      die "$name exited at start (log above)"
    fi
    if curl -sf -o /dev/null "http://127.0.0.1:$port$health"; then
      return 0
    fi
    sleep 0.1
  done
  die "$name does not answer on port $port after 20 s"
}

# Peak resident memory of a running server, in kB.
peak_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
current_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# CPU time (user + system) a process used so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Drops a reaped process from the cleanup list, so that the EXIT trap never
# signals a process id the system may have given to another process since.
forget_pid() {
  local pid kept=()
  for pid in "${started_pids[@]}"; do
    [[ "$pid" == "$1" ]] || kept+=("$pid")
  done
  started_pids=("${kept[@]}")
}

stop_server() {
  local name=$1 pid=${pid_of[$1]} attempt
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((attempt = 0; attempt < 100; attempt++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

# zsimemd_serve NAME BACKEND DATA_DIR [OPTION...]: zsimemd on a free port
# of 127.0.0.1 with 16 threads; the OPTIONs (--policy FILE, say) go before
# `serve`. The daemon inherits the environment of the call, so that
# `ZSIMEM_MASTER_KEY=... zsimemd_serve ...` starts an encrypting one.
zsimemd_serve() {
  local name=$1 backend=$2 dir=$3 port
  shift 3
  port=$(free_port)
  start_server "$name" /healthz "$port" "$zsimemd" --backend "$backend" --data-dir "$dir" "$@" \
    serve --listen "127.0.0.1:$port" --threads 16
}

# JSON Lines of one MemoryUpdate per user u0 .. u(USERS-1), each creating a
# ~1 KB context (the shape bench/cli_vs_sqlite3 uses).
gen_seed() { # gen_seed USERS
  awk -v users="$1" 'BEGIN {
    words = "breakfast lunch dinner running cycling swimming reading travel budget sleep"
    n = split(words, word, " ")
    for (u = 0; u < users; u++) {
      hist = ""
      for (i = 0; i < 10; i++) {
        hist = hist (i ? "," : "") sprintf("\"asked about %s and %s on day %d (thread %06d-%02d, follow up pending)\"", \
          word[(u + i) % n + 1], word[(u * 7 + i) % n + 1], (u + i) % 365, u, i)
      }
      printf "{\"user_id\":\"u%d\",\"delta\":{\"profile\":{\"name\":\"User %d\",\"locale\":\"en-GB\",\"tz\":\"Europe/London\",\"plan\":\"%s\"},\"prefs\":{\"lang\":\"en\",\"units\":\"metric\",\"diet\":{\"kcal\":%d,\"vegetarian\":%s}},\"history\":[%s],\"last_topic\":\"%s\",\"counter\":1},\"tags\":[\"seed\"]}\n", \
        u, u, (u % 3 ? "free" : "pro"), 1500 + u % 700, (u % 2 ? "true" : "false"), hist, word[u % n + 1]
    }
  }'
}

# seed_store BACKEND DIR [SEED_FILE]: a fresh store loaded with `zsimem
# apply` of SEED_FILE (default $work/seed.jsonl), in one transaction.
seed_store() {
  mkdir -p "$2"
  "$zsimem" --backend "$1" --data-dir "$2" -o text apply "${3:-$work/seed.jsonl}" >/dev/null
}

# measure ROW SERVER ROUND SECONDS URL [wrk options and script arguments]:
# one wrk run against a server; the output goes to results/, with the
# server's CPU ticks during the run in runs.tsv. Round 0 is the warm-up.
measure() {
  local row=$1 server=$2 round=$3 seconds=$4 url=$5
  shift 5
  local pid=${pid_of[$server]} before after out=$results/$row.$server.$round.wrk
  before=$(cpu_ticks "$pid")
  wrk -t"$wrk_threads" -c"$connections" -d"${seconds}s" --timeout 10s --latency "$url" "$@" >"$out" 2>&1 ||
    die "wrk failed against $server: $(tail -n 3 "$out")"
  after=$(cpu_ticks "$pid")
  printf '%s\t%s\t%s\t%s\t%s\n' "$row" "$server" "$round" "$((after - before))" "$out" >>"$results/runs.tsv"
  if ((round > 0)); then
    log "  $row round $round, $server: $(awk '/^Requests\/sec/ { print $2 }' "$out") req/s"
  fi
}

# The disk's own cost of a durable write, next to the POST row: the median
# time of a 4 KiB overwrite and fdatasync on the stores' file system, in ms
# (100 of them). On a shared VM it can move tenfold within minutes.
probe_fsync() {
  python3 - "$work/fsync-probe" <<'EOF'
import os, statistics, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
os.pwrite(fd, b"x" * 4096 * 100, 0)
os.fsync(fd)
times = []
for i in range(100):
    start = time.perf_counter()
    os.pwrite(fd, b"y" * 4096, i * 4096)
    os.fdatasync(fd)
    times.append(time.perf_counter() - start)
os.close(fd)
os.unlink(sys.argv[1])
print(f"{statistics.median(times) * 1000:.3f}")
EOF
}

# run_row ROW SERVER... : a warm-up, then `rounds` rounds in which every
# server runs once; the order rotates each round so that no server always
# follows the same one (with two servers: A B, B A, A B, ...). Each
# server's wrk arguments are in the array wrk_args_SERVER.
run_row() {
  local row=$1
  shift
  local servers=("$@") n=$# round i server args fsync_ms
  for server in "${servers[@]}"; do
    args="wrk_args_${server}[@]"
    measure "$row" "$server" 0 "$warmup" "${!args}"
  done
  for ((round = 1; round <= rounds; round++)); do
    fsync_ms=$(probe_fsync)
    printf '%s\t%s\t%s\n' "$row" "$round" "$fsync_ms" >>"$results/fsync.tsv"
    log "  $row round $round: the disk's fdatasync takes $fsync_ms ms"
    for ((i = 0; i < n; i++)); do
      server=${servers[(i + round - 1) % n]}
      args="wrk_args_${server}[@]"
      measure "$row" "$server" "$round" "$duration" "${!args}"
    done
  done
  for server in "${servers[@]}"; do
    printf '%s\t%s\t%s\n' "$row" "$server" "$(peak_kb "${pid_of[$server]}")" >>"$results/peaks.tsv"
  done
}
