#!/bin/sh
# End-to-end test of deploy/ansible: deploy.yml and its role against three hosts on this machine, each a supervisor
# of its own (name, control socket, port, health port, releases/ and current symlink in a temporary directory),
# reached with ansible_connection=local, under wrk load on every host. It checks that
#   a) a good release v2 (from an archive; its instances take 1.5 s to start) reaches host1 alone, then host2 and
#      host3 together, with no failed request, and every host answers with v2 afterwards;
#   b) a release v3 that fails at start stops the play at host1, which rolled back and has current on v2 again,
#      while host2 and host3 were never touched; the play fails with the instance's reason; no failed request;
#   c) the gate is honest: /readyz?release=v2 is 503 while v1 serves and during the rollout, 200 after, and
#      /readyz?release=v3 is 503 after the rolled-back reload, saying so;
#   d) running v2 again changes nothing (changed=0, no reload).
# Needs ansible-playbook in .build/venv (scripts/deps installs it; without it the test is skipped), the release
# builds of supervisor and demo-server, wrk and curl. KEEP=1 keeps the temporary directory (logs, play output).
set -eu
cd "$(dirname "$0")/../.."
repo=$(pwd)
venv=$repo/.build/venv
supervisor=$repo/.build/release/supervisor
demo=$repo/.build/release/demo-server

if [ ! -x "$venv/bin/ansible-playbook" ]; then
    reason="$venv/bin/ansible-playbook not found; scripts/deps installs it"
    [ -s "$venv/.ansible-unavailable" ] && reason=$(cat "$venv/.ansible-unavailable")
    echo "ansible test skipped: $reason"
    exit 0
fi
for binary in "$supervisor" "$demo"; do
    if [ ! -x "$binary" ]; then
        echo "error: $binary is missing; build it:" \
            "swift build -c release --static-swift-stdlib --product $(basename "$binary")" >&2
        exit 1
    fi
done
for tool in wrk curl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is missing; scripts/deps installs it" >&2; exit 1; }
done

started_at=$(date +%s)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/supervisor-ansible.XXXXXX")
hosts="host1 host2 host3"
load_pids=""
poll_pids=""

# Stops what this test started, each by its pid (only those not yet waited for, so never a reused one): load and
# pollers first, then each supervisor through its control socket (it drains its instances and exits), SIGKILL only
# for one that does not.
cleanup() {
    status=$?
    stop_polling
    stop_load
    for host in $hosts; do
        [ -e "$tmp/$host/pid" ] || continue
        pid=$(cat "$tmp/$host/pid")
        if ! "$supervisor" stop --control-socket "$tmp/$host/control.sock" --timeout 15s >/dev/null 2>&1; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [ "$status" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then
        rm -rf "$tmp"
    else
        echo "ansible test: kept $tmp (supervisor logs, play output, wrk output)"
    fi
}

passed=0
failed=0
failures=""
# check DESCRIPTION COMMAND…: one assertion; the test goes on either way and fails at the end.
check() {
    description=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "  ok: $description"
    else
        failed=$((failed + 1))
        failures="$failures
  - $description"
        echo "  FAIL: $description"
    fi
}

health_of() { cat "$tmp/$1/health"; }
port_of() { cat "$tmp/$1/port"; }

# gate HOST QUERY: prints "CODE BODY" of /readyz?QUERY.
gate() {
    out=$(curl -s -m 5 -w ' %{http_code}' "http://$(health_of "$1")/readyz?$2") || true
    printf '%s %s\n' "${out##* }" "${out% *}"
}

# gate_is HOST QUERY CODE [TEXT]: /readyz?QUERY answers CODE, its body containing TEXT.
gate_is() {
    answer=$(gate "$1" "$2")
    case "$answer" in
    "$3 "*"${4:-}"*) return 0 ;;
    esac
    echo "    $1 /readyz?$2 answered: $answer (expected $3${4:+ with \"$4\"})"
    return 1
}

# serves HOST VERSION: ten requests on new connections all answer with version=VERSION.
serves() {
    i=0
    while [ $i -lt 10 ]; do
        line=$(curl -s -m 5 "http://127.0.0.1:$(port_of "$1")/") || line="(no answer)"
        case "$line" in
        *" version=$2") ;;
        *)
            echo "    $1 answered: $line (expected version=$2)"
            return 1
            ;;
        esac
        i=$((i + 1))
    done
}

# points_at HOST VERSION: the host's current symlink names releases/VERSION.
points_at() {
    target=$(readlink "$tmp/$1/current") || target="(no link)"
    [ "$target" = "$tmp/$1/releases/$2" ] && return 0
    echo "    $1: current -> $target (expected $tmp/$1/releases/$2)"
    return 1
}

# serving_generation_is HOST VERSION: status --json names VERSION and releases/VERSION/bin/server (the command
# through current, resolved) for the generation that serves.
serving_generation_is() {
    "$supervisor" status --json --control-socket "$tmp/$1/control.sock" >"$tmp/$1/status.json" 2>&1 || true
    "$venv/bin/python" - "$tmp/$1/status.json" "$2" "$tmp/$1/releases/$2/bin/server" <<'EOF'
import json, sys
path, release, executable = sys.argv[1:]
try:
    status = json.load(open(path))
    serving = [g for g in status["generations"] if g["generation"] == status["generation"]][0]
except Exception as error:
    sys.exit(f"    status --json unreadable ({error!r}): {open(path).read()[:300]}")
if serving.get("release") != release or serving.get("executable") != executable:
    sys.exit(f"    serving generation {serving} (expected release {release}, executable {executable})")
EOF
}

# log_ms HOST PATTERN: the time of the supervisor's first log line matching PATTERN, in ms of the day.
log_ms() {
    awk -v pattern="$2" '
        $0 ~ pattern { split($1, t, /[:.]/); print ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + t[4]; exit }' \
        "$tmp/$1/supervisor.log"
}

# before A B: both times are known and A is earlier than B.
before() {
    [ -n "$1" ] && [ -n "$2" ] && [ "$1" -lt "$2" ] && return 0
    echo "    times: '$1' not before '$2'"
    return 1
}

# absent FILE TEXT: FILE does not contain TEXT.
absent() {
    if grep -q -- "$2" "$1"; then
        echo "    $1 has: $(grep -- "$2" "$1" | head -n 1)"
        return 1
    fi
}

# Load: wrk on every host, keep-alive, 8 connections at about 100 requests a second each (a delay per request, so
# that the load leaves the 2 cores to ansible and the starts). The Lua summary counts every kind of failure.
cat >"$tmp/count.lua" <<'EOF'
delay = function() return 10 end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("failures: requests=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
start_load() {
    for host in $hosts; do
        # -d bounds it should the test die; stop_load ends it earlier.
        wrk -t1 -c8 -d300s --timeout 5s -s "$tmp/count.lua" "http://127.0.0.1:$(port_of "$host")/" \
            >"$tmp/wrk-$1-$host.out" 2>&1 &
        load_pids="$load_pids $!"
    done
}
stop_load() {
    # wrk prints its summary on SIGINT.
    for pid in $load_pids; do kill -INT "$pid" 2>/dev/null || true; done
    for pid in $load_pids; do wait "$pid" 2>/dev/null || true; done
    load_pids=""
}
# no_failed_requests SCENARIO HOST: wrk counted requests, and none failed (status, socket errors, timeouts).
no_failed_requests() {
    out=$tmp/wrk-$1-$2.out
    if grep -Eq '^failures: requests=[1-9][0-9]* connect=0 read=0 write=0 status=0 timeout=0$' "$out" &&
        ! grep -Eq 'Non-2xx or 3xx responses|Socket errors' "$out"; then
        echo "    $2: $(grep '^failures:' "$out")"
        return 0
    fi
    sed 's/^/    | /' "$out"
    return 1
}

# Pollers: GET /readyz?QUERY on a host every 0.1 s, "MS CODE BODY" a line, until stop-polling exists (a file, as
# background subshells of a non-interactive shell ignore SIGINT).
start_polling() {
    rm -f "$tmp/stop-polling"
    for host in $hosts; do
        (
            while [ ! -e "$tmp/stop-polling" ]; do
                printf '%s %s\n' "$(date +%s%3N)" "$(gate "$host" "$1")" >>"$tmp/poll-$host.log"
                sleep 0.1
            done
        ) &
        poll_pids="$poll_pids $!"
    done
}
stop_polling() {
    touch "$tmp/stop-polling"
    for pid in $poll_pids; do wait "$pid" 2>/dev/null || true; done
    poll_pids=""
}
# gate_sequence_honest HOST: the poll saw 503 "release v1 serves", then 503 "in progress", and 200 from the first
# 200 on to the end: never ready for v2 before its rollout ended, nor closed again after.
gate_sequence_honest() {
    awk '
        $2 == 503 && /release v1 serves/ && !inprogress && !ready { v1++ }
        $2 == 503 && /in progress/ && !ready { inprogress++ }
        $2 == 200 { ready++; next }
        ready { flapped++ }
        END {
            printf "    %s polls: %d \"v1 serves\", then %d \"in progress\", then %d ready, %d not ready after\n",
                FILENAME, v1, inprogress, ready, flapped
            exit !(v1 > 0 && inprogress > 0 && ready > 0 && flapped == 0)
        }' "$tmp/poll-$1.log"
}

# play NAME ARGS…: runs deploy.yml (host1 first, then the other two together), output in play-NAME.out.
play() {
    name=$1
    shift
    ANSIBLE_CONFIG=$tmp/ansible.cfg ANSIBLE_HOME=$tmp/ansible-home \
        "$venv/bin/ansible-playbook" deploy/ansible/deploy.yml -e '{"deploy_serial": [1, "100%"]}' "$@" \
        >"$tmp/play-$name.out" 2>&1
}
# show_play_on_failure NAME FAILED-BEFORE: the play's output and the logs' ends, when the scenario had a failure.
show_play_on_failure() {
    [ "$failed" -gt "$2" ] || return 0
    echo "  output of the play ($tmp/play-$1.out):"
    sed 's/^/    | /' "$tmp/play-$1.out"
    for host in $hosts; do
        echo "  end of $host's supervisor log:"
        tail -n 15 "$tmp/$host/supervisor.log" | sed 's/^/    | /'
    done
}

# From here on every exit goes through cleanup (it uses the functions above).
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- three hosts ---------------------------------------------------------------------------------------------
# Free ports, from the kernel: the test may run beside anything.
# shellcheck disable=SC2046 # six numbers, split into $1…$6
set -- $("$venv/bin/python" -c '
import socket
sockets = [socket.socket() for _ in range(6)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))')

# release DIR VERSION SCRIPT-BODY: a release directory with bin/server.
release() {
    mkdir -p "$1/bin"
    printf '#!/bin/sh\n# release %s of the demo app\n%s\n' "$2" "$3" >"$1/bin/server"
    chmod 755 "$1/bin/server"
}
# v1 is there from the start, with a RELEASE in env-file style; v2 comes as an archive without RELEASE (the role
# writes it); v3 is unpacked on every host already, and fails at start as a missing database would.
good="exec '$demo' --version-string"
release "$tmp/v2-build" v2 "$good v2 --startup-delay 1500 \"\$@\""
tar -czf "$tmp/v2.tar.gz" -C "$tmp/v2-build" bin

for host in $hosts; do
    dir=$tmp/$host
    mkdir -p "$dir/releases"
    echo "$1" >"$dir/port"
    echo "127.0.0.1:$2" >"$dir/health"
    shift 2
    release "$dir/releases/v1" v1 "$good v1 \"\$@\""
    echo "RELEASE=v1" >"$dir/releases/v1/RELEASE"
    release "$dir/releases/v3" v3 'echo "v3: cannot open /srv/db: missing" >&2; exit 1'
    ln -s "$dir/releases/v1" "$dir/current"
    cat >"$dir/supervisor.toml" <<EOF
name = "ansible-test-$host"
instances = 2
listen = ["127.0.0.1:$(port_of "$host")"]
listen-mode = "shared"
health = "$(health_of "$host")"
control-socket = "$dir/control.sock"
release = "file:$dir/current/RELEASE"
ready-timeout = "20s"
drain-timeout = "5s"
command = ["$dir/current/bin/server"]
EOF
    "$supervisor" run --config "$dir/supervisor.toml" >"$dir/supervisor.log" 2>&1 &
    echo $! >"$dir/pid"
done

{
    echo "[app]"
    for host in $hosts; do
        echo "$host supervisor_release_dir=$tmp/$host/releases supervisor_release_current=$tmp/$host/current" \
            "supervisor_release_control_socket=$tmp/$host/control.sock supervisor_release_health=$(health_of "$host")"
    done
    echo "[app:vars]"
    echo "ansible_connection=local"
    echo "ansible_python_interpreter=$venv/bin/python"
    echo "supervisor_release_binary=$supervisor"
} >"$tmp/inventory.ini"
# Nothing of the user's Ansible configuration or home applies.
cat >"$tmp/ansible.cfg" <<EOF
[defaults]
inventory = $tmp/inventory.ini
roles_path = $repo/deploy/ansible/roles
local_tmp = $tmp/ansible-tmp/local
remote_tmp = $tmp/ansible-tmp/remote
nocolor = true
forks = 5
retry_files_enabled = false

[connection]
pipelining = true
EOF

echo "ansible test: three supervisors in $tmp"
for host in $hosts; do
    i=0
    until curl -fsS -m 2 -o /dev/null "http://$(health_of "$host")/readyz" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -ge 100 ] || ! kill -0 "$(cat "$tmp/$host/pid")" 2>/dev/null; then
            echo "error: the supervisor of $host is not ready after 10 s; its log:" >&2
            sed 's/^/  | /' "$tmp/$host/supervisor.log" >&2
            exit 1
        fi
        sleep 0.1
    done
done

# --- c) the gate while v1 serves -----------------------------------------------------------------------------
echo "c) the gate before the rollout"
for host in $hosts; do
    check "$host: /readyz?release=v2 is 503 while v1 serves" gate_is "$host" release=v2 503 "release v1 serves"
    check "$host: /readyz?release=v1 is 200" gate_is "$host" release=v1 200
    check "$host: /readyz?generation=1 is 200" gate_is "$host" generation=1 200
    check "$host: /readyz?generation=2 is 503 while generation 1 serves" gate_is "$host" generation=2 503
    check "$host: /readyz with an unknown parameter is 400" gate_is "$host" colour=blue 400
done

# --- a) a good release, batch by batch -----------------------------------------------------------------------
echo "a) v2 from an archive, host1 first, then host2 and host3"
failed_before=$failed
start_load a
start_polling release=v2
a_status=0
play a -e supervisor_release_version=v2 -e "supervisor_release_archive=$tmp/v2.tar.gz" || a_status=$?
stop_polling
stop_load
check "the play succeeded" [ "$a_status" -eq 0 ]
for host in $hosts; do
    check "$host: no failed request under wrk during the rollout" no_failed_requests a "$host"
    check "$host: /readyz?release=v2 is 200 afterwards" gate_is "$host" release=v2 200 "release v2 serves"
    check "$host: every response says v2" serves "$host" v2
    check "$host: current -> releases/v2" points_at "$host" v2
    check "$host: releases/v2/RELEASE says v2" [ "$(cat "$tmp/$host/releases/v2/RELEASE" 2>&1)" = v2 ]
    check "$host: status --json: the serving generation runs release v2, releases/v2/bin/server" \
        serving_generation_is "$host" v2
    check "$host (c): /readyz?release=v2 was 503 before and during the rollout, 200 from its end on" \
        gate_sequence_honest "$host"
done
r1=$(log_ms host1 "rolling out generation 2")
s1=$(log_ms host1 "generation 2 is serving")
r2=$(log_ms host2 "rolling out generation 2")
s2=$(log_ms host2 "generation 2 is serving")
r3=$(log_ms host3 "rolling out generation 2")
s3=$(log_ms host3 "generation 2 is serving")
echo "    rollouts (ms of the day, start-end): host1 $r1-$s1, host2 $r2-$s2, host3 $r3-$s3"
check "host1 served v2 before host2 started its rollout" before "$s1" "$r2"
check "host1 served v2 before host3 started its rollout" before "$s1" "$r3"
# shellcheck disable=SC2016 # the script's own $1…$4
check "host2 and host3 rolled out together (each started before the other ended)" \
    sh -c '[ -n "$1" ] && [ -n "$2" ] && [ -n "$3" ] && [ -n "$4" ] && [ "$1" -lt "$4" ] && [ "$3" -lt "$2" ]' \
    - "$r2" "$s2" "$r3" "$s3"
check "the play reported each host's rollout from the reload's JSON" \
    grep -q "release v2 serves on host1: generation 1 (v1) -> generation 2 (v2, $tmp/host1/releases/v2/bin/server)" \
    "$tmp/play-a.out"
show_play_on_failure a "$failed_before"

# --- b) a release that fails at start ------------------------------------------------------------------------
echo "b) v3, which fails at start: the play stops at host1"
failed_before=$failed
# A switch, even back to the same target, replaces the link: a new change time (the inode number may be reused).
for host in host2 host3; do stat -c "%i %z" "$tmp/$host/current" >"$tmp/$host/current-stat"; done
start_load b
b_status=0
play b -e supervisor_release_version=v3 || b_status=$?
stop_load
check "the play failed" [ "$b_status" -ne 0 ]
check "the play's output has the instance's reason" grep -q "v3: cannot open /srv/db: missing" "$tmp/play-b.out"
check "the play's output says host1 rolled back" \
    grep -q "release v3 on host1: the reload was rolled back" "$tmp/play-b.out"
check "host1: the supervisor rolled back" grep -q "rolled back to generation 2" "$tmp/host1/supervisor.log"
check "host1: current -> releases/v2 again" points_at host1 v2
check "host1: /readyz?release=v2 is 200" gate_is host1 release=v2 200
check "host1 (c): /readyz?release=v3 is 503 after the rolled-back reload, saying so" \
    gate_is host1 release=v3 503 "rolled back"
for host in host2 host3; do
    check "$host: current was not switched (the same link: inode, change time)" \
        [ "$(stat -c "%i %z" "$tmp/$host/current")" = "$(cat "$tmp/$host/current-stat")" ]
    check "$host: current -> releases/v2" points_at "$host" v2
    check "$host: no reload happened" absent "$tmp/$host/supervisor.log" "generation 3"
    check "$host: releases/v3 untouched (no RELEASE written)" [ ! -e "$tmp/$host/releases/v3/RELEASE" ]
    check "$host: /readyz?release=v2&generation=2 is 200" gate_is "$host" "release=v2&generation=2" 200
done
for host in $hosts; do
    check "$host: no failed request under wrk" no_failed_requests b "$host"
    check "$host: every response says v2" serves "$host" v2
done
show_play_on_failure b "$failed_before"

# --- d) the same release again -------------------------------------------------------------------------------
echo "d) v2 again: nothing to do"
failed_before=$failed
rollouts_before=$(cat "$tmp"/host*/supervisor.log | grep -c "rolling out")
d_status=0
play d -e supervisor_release_version=v2 -e "supervisor_release_archive=$tmp/v2.tar.gz" || d_status=$?
check "the play succeeded" [ "$d_status" -eq 0 ]
for host in $hosts; do
    check "$host: changed=0 failed=0" \
        grep -Eq "^$host +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0 " "$tmp/play-d.out"
done
check "no supervisor reloaded" [ "$(cat "$tmp"/host*/supervisor.log | grep -c "rolling out")" -eq "$rollouts_before" ]
show_play_on_failure d "$failed_before"

elapsed=$(($(date +%s) - started_at))
if [ "$failed" -gt 0 ]; then
    echo "ansible test failed:$failures"
fi
echo "ansible test: $passed passed, $failed failed (${elapsed} s)"
[ "$failed" -eq 0 ]
