#!/bin/bash
# The real-systemd test (README.md, "Running under systemd"): boots systemd as PID 1 of new PID+mount+net+uts+cgroup namespaces, installs the
# package there and checks supervisor@.service against it: it installs and runs beside Debian's supervisor package
# (supervisord) and outlives its purge, start waits for readiness, reload under load loses nothing, a broken release
# is rolled back, `supervisor upgrade` and installing the next package (made from DEB, restamped) upgrade running
# units in place under load, the journal has priorities, the watchdog restarts a hung supervisor, a killed supervisor
# in shared mode takes its socket back from systemd's file descriptor store, socket activation into shared mode as an
# unprivileged user, instances run as www-data with sd_notify readiness, the Ansible role of deploy/ansible rolls out
# through `systemctl reload`, and stop leaves nothing behind.
#
# The namespace shares the host's filesystem. Inside it /run, /tmp, /var/tmp and the journal are tmpfs, and /usr,
# /etc and /var are overlays kept in that /run (systemd/test-boot.sh), so dpkg and systemd write nothing to the host;
# the last checks make sure of that.
#
# Debian's supervisor package, and those of its dependencies the host lacks, are downloaded on the host with apt-get
# (the namespace has no network) into the test's directory; where apt cannot get them, the checks that need them are
# skipped (SKIP, with the reason), not failed.
#
#   systemd/test.sh [DEB]      DEB defaults to packaging/out/swift-supervisor_*.deb (`make deb` builds it)
#   systemd/test.sh --can-run  exits 0 when this machine can run the test, else prints why not and exits 1
set -eu
set -o pipefail
cd "$(dirname "$0")/.."

can_run() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root (it boots systemd in new namespaces)"
        return 1
    fi
    local tool
    for tool in unshare nsenter setsid /lib/systemd/systemd dpkg wrk curl ip python3; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "$tool is not installed"
            return 1
        fi
    done
    if ! unshare --pid --fork --mount --net --uts true 2>/dev/null; then
        echo "unshare cannot create PID/mount/net/uts namespaces here"
        return 1
    fi
    if ! grep -qw overlay /proc/filesystems && ! modprobe overlay 2>/dev/null; then
        echo "overlayfs is not available (the package is installed into overlays)"
        return 1
    fi
}

if [ "${1-}" = "--can-run" ]; then
    can_run
    exit
fi
if ! reason=$(can_run); then
    echo "systemd test skipped: $reason"
    exit 0
fi

deb="${1-}"
if [ -z "$deb" ]; then
    for candidate in packaging/out/swift-supervisor_*.deb; do
        [ -f "$candidate" ] && deb="$candidate"
    done
fi
if [ -z "$deb" ] || [ ! -f "$deb" ]; then
    echo "error: no package; run \`make deb\` first or pass the .deb" >&2
    exit 2
fi
deb_version=$(dpkg-deb --field "$deb" Version)
# The version of the package made from it for the upgrade check (next_package).
next_version="$deb_version+next"

started=$SECONDS
work=$(mktemp -d /tmp/supervisor-systest.XXXXXX)
ns_pid=""
unshare_pid=""
check_pid=""
passed=0
failed=0
skipped=0
failures=""

# The host's state that must not change.
host_dpkg_status=$(md5sum /var/lib/dpkg/status)
host_supervisord_status=$(dpkg-query -W -f '${Status}' supervisor 2>/dev/null || true)
host_etc_supervisor=no
[ ! -e /etc/supervisor ] || host_etc_supervisor=yes
host_tmp_marker="$work/host-tmp-marker"
touch "$host_tmp_marker"

cleanup() {
    local status=$?
    # A check still running (interrupted): it and the commands it started.
    if [ -n "$check_pid" ]; then
        pkill -KILL -P "$check_pid" 2>/dev/null || true
        kill -KILL "$check_pid" 2>/dev/null || true
    fi
    if [ -n "$ns_pid" ] && kill -0 "$ns_pid" 2>/dev/null; then
        timeout 20 nsenter -t "$ns_pid" -m -p -n -u systemctl poweroff >/dev/null 2>&1 || true
        local waited=0
        while kill -0 "$ns_pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        # PID 1 of the namespace (systemd, or systemd-shutdown by now): killing it ends every process in it.
        if [ "$(awk '/^PPid:/ { print $2 }' "/proc/$ns_pid/status" 2>/dev/null)" = "$unshare_pid" ]; then
            kill -KILL "$ns_pid" 2>/dev/null || true
        fi
    fi
    if [ -n "$unshare_pid" ]; then
        kill -KILL "$unshare_pid" 2>/dev/null || true
        wait "$unshare_pid" 2>/dev/null || true
    fi
    remove_cgroups
    if [ "$status" -eq 0 ]; then
        rm -rf "$work"
    else
        echo "logs kept in $work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command inside the namespace.
in_ns() {
    nsenter -t "$ns_pid" -m -p -n -u -- "$@"
}

# check NAME FUNCTION...: runs FUNCTION in a subshell with errexit in force (a background job, so no `if` or `||`
# switches errexit off in it); PASS when it exits 0, SKIP when it exits 77 (`skip`), else FAIL. Either way what it
# printed follows, indented.
check() {
    local name="$1" rc=0
    shift
    ("$@") >"$work/check.out" 2>&1 &
    check_pid=$!
    wait "$check_pid" || rc=$?
    check_pid=""
    record "$name" "$rc" "$work/check.out"
}

# record NAME STATUS OUTPUT-FILE
record() {
    if [ "$2" -eq 0 ]; then
        echo "PASS: $1"
        passed=$((passed + 1))
    elif [ "$2" -eq 77 ]; then
        echo "SKIP: $1"
        skipped=$((skipped + 1))
    else
        echo "FAIL: $1"
        failed=$((failed + 1))
        failures="$failures
  $1"
    fi
    sed 's/^/      /' "$3"
}

# Ends the check that runs it, with a reason.
fail() {
    echo "$*"
    exit 1
}

# Ends the check that runs it as skipped, with a reason.
skip() {
    echo "skipped: $*"
    exit 77
}

# has PATTERN TEXT: prints the first line of TEXT that matches the extended regex PATTERN; fails when none does.
has() {
    grep -m 1 -E -- "$1" <<<"$2"
}

# Seconds (with fractions) since the epoch.
now() {
    date +%s.%N
}

# Milliseconds between two `now` values.
elapsed_ms() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'
}

# ---------------------------------------------------------------------------------------------------------------
# Boot. Runs in the test's own shell (not as a check), since it sets ns_pid and unshare_pid.

# The namespace's systemd gets cgroups of its own: a folder named $cgroup under this process's cgroup in every
# hierarchy, which a cgroup namespace makes the root it sees. Without them it would manage the host's cgroups (its
# init.scope and system.slice at their roots), shared with any other systemd booted the same way at the same time.
cgroup="supervisor-systest.$$"

# This test's cgroup folders, one per hierarchy this process is in (v1 controllers, name=systemd, unified).
cgroup_dirs() {
    local controllers path mount type
    while IFS=: read -r _ controllers path; do
        case "$controllers" in
        "") mount=/sys/fs/cgroup/unified ;;
        name=systemd) mount=/sys/fs/cgroup/systemd ;;
        name=*) continue ;;
        *) mount="/sys/fs/cgroup/$controllers" ;;
        esac
        [ -n "$controllers" ] || [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] || mount=/sys/fs/cgroup
        type=$(stat -fc %T "$mount" 2>/dev/null || true)
        [ "$type" = cgroupfs ] || [ "$type" = cgroup2fs ] || continue
        echo "$mount${path%/}/$cgroup"
    done </proc/self/cgroup
}

# Removes this test's cgroups, innermost first, once their processes are gone.
remove_cgroups() {
    local dir tries
    for dir in $(cgroup_dirs); do
        tries=0
        while [ -d "$dir" ] && [ "$tries" -lt 50 ]; do
            find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || sleep 0.1
            tries=$((tries + 1))
        done
        [ ! -d "$dir" ] || echo "warning: could not remove $dir" >&2
    done
}

boot() {
    local dir dirs
    dirs=$(cgroup_dirs)
    for dir in $dirs; do
        mkdir "$dir"
        # A new v1 cpuset has no CPUs nor memory nodes until it is given its parent's.
        if [ -e "$dir/cpuset.cpus" ]; then
            cat "${dir%/*}/cpuset.cpus" >"$dir/cpuset.cpus"
            cat "${dir%/*}/cpuset.mems" >"$dir/cpuset.mems"
        fi
    done
    (
        for dir in $dirs; do
            echo "$BASHPID" >"$dir/cgroup.procs"
        done
        exec setsid unshare --cgroup --pid --fork --mount-proc --mount --net --uts systemd/test-boot.sh
    ) </dev/null >"$work/boot.log" 2>&1 &
    unshare_pid=$!
    local tries=0 state
    while [ "$tries" -lt 300 ]; do
        if [ -z "$ns_pid" ]; then
            ns_pid=$(awk '{ print $1 }' "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null || true)
        fi
        if [ -n "$ns_pid" ] && [ "$(cat "/proc/$ns_pid/comm" 2>/dev/null)" = "systemd" ]; then
            state=$(in_ns systemctl is-system-running 2>/dev/null || true)
            case "$state" in
            running | degraded) return 0 ;;
            esac
        fi
        if ! kill -0 "$unshare_pid" 2>/dev/null; then
            echo "the namespace ended: $(cat "$work/boot.log")"
            return 1
        fi
        sleep 0.1
        tries=$((tries + 1))
    done
    echo "systemd did not come up in 30 s: state '${state-}'; $(tail -n 20 "$work/boot.log")"
    return 1
}

install_package() {
    in_ns sh -c 'mkdir -p /var/lib/systest && cat >/var/lib/systest/swift-supervisor.deb' <"$deb"
    in_ns env DEBIAN_FRONTEND=noninteractive dpkg -i /var/lib/systest/swift-supervisor.deb >"$work/dpkg.log" 2>&1 ||
        fail "dpkg -i failed: $(tail -n 20 "$work/dpkg.log")"
    local version status
    status=$(in_ns dpkg-query -W -f '${Status}' swift-supervisor)
    [ "$status" = "install ok installed" ] || fail "dpkg says swift-supervisor is '$status'"
    version=$(in_ns supervisor --version)
    [ "$version" = "$deb_version" ] || fail "supervisor --version says '$version', the package is $deb_version"
    in_ns test -f /lib/systemd/system/supervisor@.service || fail "no /lib/systemd/system/supervisor@.service"
    in_ns test -x /usr/lib/supervisor/demo-server || fail "no /usr/lib/supervisor/demo-server"
    in_ns test -f /usr/share/man/man1/supervisor.1swift.gz || fail "no man page (supervisor.1swift)"
    in_ns test -s /usr/share/bash-completion/completions/supervisor || fail "no bash completion"
    in_ns test -f /usr/share/doc/swift-supervisor/examples/demo.toml ||
        fail "no examples in /usr/share/doc/swift-supervisor"
    in_ns test -f /usr/share/doc/swift-supervisor/copyright || fail "no /usr/share/doc/swift-supervisor/copyright"
    echo "installed swift-supervisor $version"
}

sysctl_applied() {
    local value
    value=$(in_ns cat /proc/sys/net/ipv4/tcp_migrate_req)
    [ "$value" = "1" ] || fail "net.ipv4.tcp_migrate_req is $value in the namespace after installation"
}

# ---------------------------------------------------------------------------------------------------------------
# Debian's supervisor package (supervisord 4.x) beside ours: both install, both run, and purging Debian's leaves ours.

debian_debs="$work/debian-supervisor"
debian_skip="$work/debian-supervisor.skip"

# On the host, before the boot: Debian's supervisor package and those of its dependencies the host lacks (the
# namespace's /usr, /etc and /var start as the host's), into $debian_debs. Installs nothing on the host. Where apt
# cannot download the package, a copy in apt's cache will do; without either the checks that need it are skipped.
fetch_debian_supervisor() {
    local log="$work/apt-get.log" cached
    mkdir -p "$debian_debs/partial"
    # The package itself even when the host has it installed (then `install --download-only` fetches nothing).
    if ! (cd "$debian_debs" && apt-get download -o APT::Sandbox::User=root supervisor) >"$log" 2>&1; then
        cached=$(find /var/cache/apt/archives -maxdepth 1 -name 'supervisor_*_all.deb' 2>/dev/null | sort | tail -n 1)
        if [ -z "$cached" ]; then
            echo "cannot get Debian's supervisor package: apt-get download supervisor: $(tail -n 2 "$log")" \
                >"$debian_skip"
            skip "$(cat "$debian_skip")"
        fi
        cp "$cached" "$debian_debs/"
    fi
    if ! apt-get install --download-only --yes --no-install-recommends -o APT::Sandbox::User=root \
        -o Dir::Cache::archives="$debian_debs" supervisor >>"$log" 2>&1; then
        echo "cannot get the dependencies of Debian's supervisor package: $(tail -n 2 "$log")" >"$debian_skip"
        skip "$(cat "$debian_skip")"
    fi
    find "$debian_debs" -maxdepth 1 -name '*.deb' -printf '%f\n' | sort
}

needrestart_debs="$work/needrestart"
needrestart_skip="$work/needrestart.skip"

# On the host, before the boot: Debian's needrestart package and those of its dependencies the host lacks, into
# $needrestart_debs, as for Debian's supervisor above. Installs nothing on the host.
fetch_needrestart() {
    local log="$work/apt-get-needrestart.log"
    mkdir -p "$needrestart_debs/partial"
    if ! (cd "$needrestart_debs" && apt-get download -o APT::Sandbox::User=root needrestart) >"$log" 2>&1 ||
        ! apt-get install --download-only --yes --no-install-recommends -o APT::Sandbox::User=root \
            -o Dir::Cache::archives="$needrestart_debs" needrestart >>"$log" 2>&1; then
        echo "cannot get Debian's needrestart package: $(tail -n 2 "$log")" >"$needrestart_skip"
        skip "$(cat "$needrestart_skip")"
    fi
    find "$needrestart_debs" -maxdepth 1 -name '*.deb' -printf '%f\n' | sort
}

# Skips the check that runs it when Debian's supervisor package could not be obtained.
needs_debian_supervisor() {
    [ ! -s "$debian_skip" ] || skip "$(cat "$debian_skip")"
    [ -n "$(find "$debian_debs" -maxdepth 1 -name '*.deb' 2>/dev/null)" ] || skip "Debian's supervisor was not fetched"
}

# Debian's supervisor, as apt would install it: its postinst starts supervisor.service. A program for it to run
# (conf.d/sleeper.conf) shows that supervisord works, not only that its unit is active.
install_debian_supervisor() {
    needs_debian_supervisor
    tar -C "$debian_debs" -cf - --exclude partial --exclude lock . |
        in_ns sh -c 'mkdir -p /var/lib/systest/debian && tar -C /var/lib/systest/debian -xf -'
    # The host is a container image whose policy-rc.d forbids starting services (exit 101); a Debian system has none,
    # and without it the maintainer scripts start and stop supervisor.service as they would there.
    in_ns rm -f /usr/sbin/policy-rc.d
    in_ns sh -c 'DEBIAN_FRONTEND=noninteractive dpkg -i /var/lib/systest/debian/*.deb' >"$work/dpkg-debian.log" 2>&1 ||
        fail "dpkg -i of Debian's supervisor failed: $(tail -n 20 "$work/dpkg-debian.log")"
    [ "$(show -p ActiveState supervisor.service)" = active ] || fail "the package did not start supervisor.service:
$(in_ns systemctl status --no-pager supervisor.service 2>&1 || true)"
    in_ns sh -c 'cat >/etc/supervisor/conf.d/sleeper.conf' <<'EOF'
[program:sleeper]
command=/bin/sleep infinity
EOF
    in_ns systemctl restart supervisor.service
    wait_for_supervisord_program
    echo "installed $(in_ns dpkg-query -W -f '${Package} ${Version}' supervisor);" \
        "supervisor.service $(show -p ActiveState supervisor.service); supervisorctl status: $(in_ns supervisorctl status)"
}

# Waits (at most 10 s) until supervisord says its program sleeper is RUNNING (after its startsecs, 1 s).
wait_for_supervisord_program() {
    local waited=0
    while [ "$waited" -lt 100 ]; do
        case "$(in_ns supervisorctl status sleeper 2>&1 || true)" in *RUNNING*) return 0 ;; esac
        sleep 0.1
        waited=$((waited + 1))
    done
    fail "supervisorctl status: $(in_ns supervisorctl status 2>&1 || true);" \
        "$(in_ns systemctl status --no-pager supervisor.service 2>&1 || true)"
}

# No file is in both packages, and ours has nothing under /etc/supervisor (Debian's owns it and conf.d/).
no_shared_files() {
    local ours theirs shared
    # shellcheck disable=SC2016 # expanded by the shell in the namespace
    ours=$(in_ns sh -c 'dpkg-query -L swift-supervisor | while read -r f; do [ -d "$f" ] || echo "$f"; done' | sort)
    [ -n "$ours" ] || fail "dpkg-query -L swift-supervisor lists no files"
    ! has '^/etc/supervisor' "$(in_ns dpkg-query -L swift-supervisor)" || fail "swift-supervisor ships /etc/supervisor"
    needs_debian_supervisor
    # shellcheck disable=SC2016
    theirs=$(in_ns sh -c 'dpkg-query -L supervisor | while read -r f; do [ -d "$f" ] || echo "$f"; done' | sort)
    shared=$(comm -12 <(printf '%s\n' "$ours") <(printf '%s\n' "$theirs"))
    echo "$(wc -l <<<"$ours") files in swift-supervisor, $(wc -l <<<"$theirs") in supervisor; in both: ${shared:-none}"
    [ -z "$shared" ] || fail "files in both packages: $shared"
}

# Debian's supervisord and supervisor@demo, both running at once.
side_by_side() {
    needs_debian_supervisor
    [ "$(show -p ActiveState supervisor.service)" = active ] || fail "supervisor.service is not active"
    wait_for_supervisord_program
    local body
    body=$(demo_body) || fail "supervisor@demo does not answer"
    [ "$(show -p ActiveState supervisor@demo)" = active ] || fail "supervisor@demo is not active"
    echo "supervisor.service active, supervisorctl: $(in_ns supervisorctl status sleeper | tr -s ' ');" \
        "supervisor@demo active, GET / -> $body"
}

# dpkg --purge supervisor (Debian's): our package, /etc/supervisor/demo.toml and the running supervisor@demo with its
# instances are left as they were; Debian's files, its conffiles and its service are gone.
purge_debian_keeps_ours() {
    needs_debian_supervisor
    local config main instances
    config=$(in_ns md5sum /etc/supervisor/demo.toml)
    main=$(show -p MainPID supervisor@demo)
    instances=$(instance_pids)
    # A file dpkg does not know keeps its directory (dpkg warns and leaves conf.d/): the test's own goes first.
    in_ns rm /etc/supervisor/conf.d/sleeper.conf
    in_ns env DEBIAN_FRONTEND=noninteractive dpkg --purge supervisor >"$work/dpkg-purge.log" 2>&1 ||
        fail "dpkg --purge supervisor failed: $(tail -n 20 "$work/dpkg-purge.log")"
    grep -v '^(Reading database' "$work/dpkg-purge.log" || true
    local status
    status=$(in_ns dpkg-query -W -f '${Status}' supervisor 2>/dev/null || true)
    case "$status" in "" | *" not-installed") ;; *) fail "dpkg says supervisor is '$status' after the purge" ;; esac
    ! in_ns test -e /usr/bin/supervisord || fail "/usr/bin/supervisord is still there"
    ! in_ns test -e /etc/supervisor/supervisord.conf || fail "/etc/supervisor/supervisord.conf is still there"
    ! in_ns test -e /etc/supervisor/conf.d || fail "/etc/supervisor/conf.d is still there"
    [ "$(show -p ActiveState supervisor.service)" != active ] || fail "supervisor.service is still active"
    [ "$(in_ns dpkg-query -W -f '${Status}' swift-supervisor)" = "install ok installed" ] ||
        fail "swift-supervisor is not installed any more"
    in_ns test -x /usr/bin/supervisor || fail "/usr/bin/supervisor is gone"
    in_ns test -f /lib/systemd/system/supervisor@.service || fail "supervisor@.service is gone"
    [ "$(in_ns md5sum /etc/supervisor/demo.toml)" = "$config" ] || fail "/etc/supervisor/demo.toml changed"
    [ "$(show -p ActiveState supervisor@demo)" = active ] || fail "supervisor@demo is not active"
    [ "$(show -p MainPID supervisor@demo)" = "$main" ] || fail "supervisor@demo was restarted"
    [ "$(instance_pids)" = "$instances" ] || fail "the instances changed: $instances -> $(instance_pids)"
    demo_body >/dev/null || fail "supervisor@demo stopped serving"
    echo "supervisor@demo still active, main pid $main, instances $instances; /etc/supervisor has:" \
        "$(in_ns ls /etc/supervisor | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------------------------------
# supervisor@demo: two demo servers on 127.0.0.1:8080, deployed as releases behind a `current` symlink.

# release NAME ARGS...: /var/lib/demo/releases/NAME/server runs the demo server with ARGS.
release() {
    local name="$1"
    shift
    in_ns sh -c "mkdir -p /var/lib/demo/releases/$name && cat >/var/lib/demo/releases/$name/server &&
        chmod 0755 /var/lib/demo/releases/$name/server" <<EOF
#!/bin/sh
exec /usr/lib/supervisor/demo-server --version-string $name $*
EOF
}

switch_to() {
    in_ns ln -sfn "/var/lib/demo/releases/$1" /var/lib/demo/current
}

setup_demo() {
    release v1 --startup-delay 1500
    release v2 --startup-delay 1500
    release v3-broken --fail-start
    release v4-ignores-sigterm --ignore-sigterm
    switch_to v1
    in_ns sh -c 'mkdir -p /etc/supervisor && cat >/etc/supervisor/demo.toml' <<'EOF'
instances = 2
listen = ["127.0.0.1:8080"]
drain-timeout = "4s"
command = ["/var/lib/demo/current/server"]
EOF
}

demo_body() {
    in_ns curl -sS --max-time 5 http://127.0.0.1:8080/
}

show() {
    in_ns systemctl show "$@" --value
}

start_waits_for_readiness() {
    local before after took body active_ms
    before=$(now)
    # As the README says: enable --now starts the unit and returns once it is active.
    in_ns systemctl enable --now supervisor@demo 2>&1 ||
        fail "systemctl enable --now failed: $(in_ns systemctl status supervisor@demo)"
    body=$(demo_body) || fail "the port did not answer right after start returned"
    after=$(now)
    took=$(elapsed_ms "$before" "$after")
    [ "$(show -p ActiveState supervisor@demo)" = active ] || fail "not active after start"
    [ "$(in_ns systemctl is-enabled supervisor@demo)" = enabled ] || fail "not enabled"
    # ExecMainStartTimestamp: the supervisor was started; ActiveEnterTimestamp: it said READY=1.
    active_ms=$((($(show -p ActiveEnterTimestampMonotonic supervisor@demo) - \
        $(show -p ExecMainStartTimestampMonotonic supervisor@demo)) / 1000))
    echo "start took ${took} ms, active ${active_ms} ms after the supervisor started; GET / -> $body"
    [ "$took" -ge 1500 ] || fail "start returned after $took ms, before the instances' 1500 ms start-up delay"
    [ "$active_ms" -ge 1500 ] || fail "the unit was active ${active_ms} ms after its start: before the instances"
    case "$body" in *version=v1*) ;; *) fail "unexpected answer: $body" ;; esac
    has '2/2 ready' "$(show -p StatusText supervisor@demo)" >/dev/null ||
        fail "STATUS= is '$(show -p StatusText supervisor@demo)', not N/N ready"
}

# supervisor@NAME without /etc/supervisor/NAME.toml fails at once (AssertPathExists=) instead of a restart loop.
missing_config_fails_at_once() {
    ! in_ns systemctl start supervisor@missing 2>&1 || fail "supervisor@missing started"
    local assert
    assert=$(show -p AssertResult supervisor@missing)
    echo "AssertResult=$assert, NRestarts=$(show -p NRestarts supervisor@missing)"
    [ "$assert" = no ] || fail "the unit's AssertPathExists= did not stop it"
}

# The pids of the instances of supervisor@$1 (demo), from `supervisor status --json`.
instance_pids() {
    in_ns supervisor status --name "${1:-demo}" --json | grep -o '"pid" *: *[0-9]*' | grep -o '[0-9]*$' | sort -n |
        tr '\n' ' '
}

reload_under_load_loses_nothing() {
    local before after rc=0 body
    before=$(instance_pids)
    in_ns wrk -t 2 -c 16 -d 6s --timeout 5s http://127.0.0.1:8080/ >"$work/wrk-reload.txt" 2>&1 &
    local wrk=$!
    sleep 1
    switch_to v2
    in_ns systemctl reload supervisor@demo || rc=$?
    wait "$wrk" || fail "wrk failed: $(cat "$work/wrk-reload.txt")"
    after=$(instance_pids)
    body=$(demo_body)
    grep -E 'requests in|Socket errors|Non-2xx' "$work/wrk-reload.txt" | sed 's/^ *//'
    echo "pids before: $before; after: $after; GET / -> $body"
    [ "$rc" -eq 0 ] || fail "systemctl reload exited $rc"
    [ -n "$before" ] || fail "no instance pids from supervisor status before the reload"
    [ -n "$after" ] || fail "no instance pids from supervisor status after the reload"
    local pid
    for pid in $after; do
        case " $before " in *" $pid "*) fail "instance pid $pid did not change" ;; esac
    done
    case "$body" in *version=v2*) ;; *) fail "the new release does not answer: $body" ;; esac
    ! grep -qE 'Socket errors|Non-2xx' "$work/wrk-reload.txt" || fail "the load client saw failed requests"
    local requests
    requests=$(awk '/requests in/ { print $1 }' "$work/wrk-reload.txt")
    [ "${requests:-0}" -ge 100 ] || fail "only ${requests:-0} requests: the load did not run"
}

broken_release_is_rolled_back() {
    local rc=0 body status
    switch_to v3-broken
    in_ns systemctl reload supervisor@demo >"$work/reload-broken.txt" 2>&1 || rc=$?
    switch_to v2
    body=$(demo_body) || fail "the old release stopped serving after the failed reload"
    status=$(in_ns systemctl status --no-pager --full --lines 30 supervisor@demo || true)
    printf '%s\n' "$status" | sed -n 's/^ *\(Active\|Status\):/\1:/p'
    echo "systemctl reload exited $rc; GET / -> $body"
    [ "$rc" -ne 0 ] || fail "systemctl reload succeeded for a release that fails at start"
    [ "$(show -p ActiveState supervisor@demo)" = active ] || fail "the unit is not active after the failed reload"
    case "$body" in *version=v2*) ;; *) fail "unexpected answer: $body" ;; esac
    has 'exited with status 2 before it was ready; rolled back to generation 2' "$status" ||
        fail "systemctl status does not show why the reload failed:
$status"
}

# The Ansible role of deploy/ansible on a host whose supervisor is a unit: it reloads with `systemctl reload
# supervisor@fleet`; a good release opens /readyz?release=, a broken one fails the play with the reason the
# supervisor's status gives, and current points at the previous release again.
ansible_role_reloads_through_systemd() {
    local repo playbook out rc=0 body
    repo=$(pwd)
    playbook="$repo/.build/venv/bin/ansible-playbook"
    [ -x "$playbook" ] || skip "no $playbook (scripts/deps installs ansible-core into .build/venv)"
    # The namespace has its own /tmp, /run and /var/tmp, which may hide this clone (CI's is under /tmp): the
    # environment and the role are copied in, and run with the copy's python (a venv is found from its python's path).
    tar -C "$repo/.build" -cf - venv | in_ns sh -c 'mkdir -p /var/lib/fleet && tar -C /var/lib/fleet -xf -'
    tar -C "$repo/deploy" -cf - ansible | in_ns tar -C /var/lib/fleet -xf -
    in_ns sh -e -c '
        mkdir -p /var/lib/fleet/releases/v1 /var/lib/fleet/releases/v2 /var/lib/fleet/releases/v3 /var/lib/fleet/tmp
        for v in v1 v2; do
            printf "#!/bin/sh\nexec /usr/lib/supervisor/demo-server --version-string %s --startup-delay 500\n" "$v" \
                >"/var/lib/fleet/releases/$v/server"
        done
        printf "#!/bin/sh\necho \"v3: cannot open /srv/db: missing\" >&2\nexit 1\n" >/var/lib/fleet/releases/v3/server
        chmod 0755 /var/lib/fleet/releases/*/server
        echo v1 >/var/lib/fleet/releases/v1/RELEASE
        ln -sfn /var/lib/fleet/releases/v1 /var/lib/fleet/current'
    in_ns sh -c 'cat >/etc/supervisor/fleet.toml' <<'EOF'
instances = 2
listen = ["127.0.0.1:8090"]
health = "127.0.0.1:8091"
release = "file:/var/lib/fleet/current/RELEASE"
command = ["/var/lib/fleet/current/server"]
EOF
    in_ns sh -c 'cat >/var/lib/fleet/inventory.ini' <<EOF
[app]
fleet1 ansible_connection=local ansible_python_interpreter=/var/lib/fleet/venv/bin/python supervisor_release_unit=supervisor@fleet supervisor_release_dir=/var/lib/fleet/releases supervisor_release_current=/var/lib/fleet/current supervisor_release_health=127.0.0.1:8091
EOF
    # Stopped however the checks end (this runs in a subshell of its own), so the later tests find only theirs.
    trap 'in_ns systemctl stop supervisor@fleet' EXIT
    in_ns systemctl start supervisor@fleet || fail "supervisor@fleet did not start: $(in_ns systemctl status supervisor@fleet)"
    play() {
        in_ns env HOME=/var/lib/fleet ANSIBLE_LOCAL_TEMP=/var/lib/fleet/tmp ANSIBLE_REMOTE_TEMP=/var/lib/fleet/tmp \
            ANSIBLE_NOCOLOR=1 /var/lib/fleet/venv/bin/python /var/lib/fleet/venv/bin/ansible-playbook \
            -i /var/lib/fleet/inventory.ini /var/lib/fleet/ansible/deploy.yml \
            -e "supervisor_release_version=$1"
    }
    out="$work/ansible-v2.txt"
    play v2 >"$out" 2>&1 || fail "the play of v2 failed: $(tail -n 30 "$out")"
    grep -A1 'Reload the unit (systemctl reload)' "$out" | grep -q '^changed: \[fleet1\]' ||
        fail "the role did not reload through systemctl: $(grep -A1 'Reload' "$out")"
    in_ns curl -fsS --max-time 5 'http://127.0.0.1:8091/readyz?release=v2' || fail "the gate for v2 is not open"
    body=$(in_ns curl -sS --max-time 5 http://127.0.0.1:8090/)
    echo "GET / -> $body"
    case "$body" in *version=v2*) ;; *) fail "v2 does not answer: $body" ;; esac

    out="$work/ansible-v3.txt"
    play v3 >"$out" 2>&1 || rc=$?
    grep -o 'release v3 on fleet1: [^"]*' "$out" | head -n 1
    [ "$rc" -ne 0 ] || fail "the play of the broken v3 succeeded"
    # The reason comes from the supervisor's status (systemctl says only that ExecReload= failed).
    grep -q 'the reload was rolled back: systemctl reload supervisor@fleet failed (exit status 1); the supervisor says: instance #[0-9]* (pid [0-9]*, generation 3) exited with status 1 before it was ready' "$out" ||
        fail "the play does not say why v3 failed: $(tail -n 30 "$out")"
    [ "$(in_ns readlink /var/lib/fleet/current)" = /var/lib/fleet/releases/v2 ] ||
        fail "current points at $(in_ns readlink /var/lib/fleet/current), not v2 again"
    [ "$(show -p ActiveState supervisor@fleet)" = active ] || fail "supervisor@fleet is not active after v3"
    in_ns curl -fsS --max-time 5 'http://127.0.0.1:8091/readyz?release=v2' || fail "v2 no longer serves after v3"
    ! in_ns curl -fsS --max-time 5 'http://127.0.0.1:8091/readyz?release=v3' >/dev/null 2>&1 ||
        fail "the gate for v3 opened"
}

# supervisor upgrade under load, to the debug build and back to the package's: systemd's MainPID, the instances and
# the generation stay, `supervisor status` shows each binary's version, and no request fails.
upgrade_in_place_under_load() {
    [ -x .build/debug/supervisor ] || skip "no debug build of the supervisor (.build/debug/supervisor) to upgrade to"
    in_ns sh -c 'cat >/var/lib/demo/supervisor-next && chmod 0755 /var/lib/demo/supervisor-next' \
        <.build/debug/supervisor
    local main_before main_after pids_before pids_after generation_before generation_after rc=0 version
    main_before=$(show -p MainPID supervisor@demo)
    pids_before=$(instance_pids)
    generation_before=$(in_ns supervisor status --name demo --json | grep -o '"generation" *: *[0-9]*' | head -1)
    in_ns wrk -t 2 -c 16 -d 5s --timeout 5s http://127.0.0.1:8080/ >"$work/wrk-upgrade.txt" 2>&1 &
    local wrk=$!
    sleep 1
    in_ns supervisor upgrade --name demo --binary /var/lib/demo/supervisor-next >"$work/upgrade.txt" 2>&1 || rc=$?
    version=$(running_version demo || true)
    [ "$rc" -eq 0 ] && { in_ns supervisor upgrade --name demo >>"$work/upgrade.txt" 2>&1 || rc=$?; }
    wait "$wrk" || fail "wrk failed: $(cat "$work/wrk-upgrade.txt")"
    main_after=$(show -p MainPID supervisor@demo)
    pids_after=$(instance_pids)
    generation_after=$(in_ns supervisor status --name demo --json | grep -o '"generation" *: *[0-9]*' | head -1)
    cat "$work/upgrade.txt"
    grep -E 'requests in|Socket errors|Non-2xx' "$work/wrk-upgrade.txt" | sed 's/^ *//'
    echo "MainPID $main_before -> $main_after; instances $pids_before-> $pids_after; between: $version"
    [ "$rc" -eq 0 ] || fail "supervisor upgrade exited $rc"
    [ "$main_before" = "$main_after" ] || fail "systemd's MainPID changed"
    [ "$pids_before" = "$pids_after" ] || fail "the instances changed"
    [ "$generation_before" = "$generation_after" ] || fail "the generation changed"
    [ "$version" = "0.1.0-debug" ] || fail "status between the upgrades shows supervisor '$version'"
    has 'upgraded 0.1.0-debug -> 0.1.0' "$(cat "$work/upgrade.txt")" >/dev/null || fail "no second upgrade"
    [ "$(show -p ActiveState supervisor@demo)" = active ] || fail "the unit is not active after the upgrades"
    ! grep -qE 'Socket errors|Non-2xx' "$work/wrk-upgrade.txt" || fail "the load client saw failed requests"
    local requests
    requests=$(awk '/requests in/ { print $1 }' "$work/wrk-upgrade.txt")
    [ "${requests:-0}" -ge 100 ] || fail "only ${requests:-0} requests: the load did not run"
}

# A package of the next version made from $deb without a rebuild: the same files, the supervisor binary stamped
# with the new release (packaging/stamp-release), Version: raised; into $1.
next_package() {
    local dir="$work/next-package"
    rm -rf "$dir"
    dpkg-deb -R "$deb" "$dir" || return 1
    packaging/stamp-release "$dir/usr/bin/supervisor" "$next_version" || return 1
    sed -i "s/^Version: .*/Version: $next_version/" "$dir/DEBIAN/control" || return 1
    sed -i '\| usr/bin/supervisor$|d' "$dir/DEBIAN/md5sums" || return 1
    (cd "$dir" && md5sum usr/bin/supervisor) >>"$dir/DEBIAN/md5sums" || return 1
    dpkg-deb --root-owner-group -b "$dir" "$1" >/dev/null
}

# The running supervisor's version, from the line of `supervisor status --name $1` that names it.
running_version() {
    in_ns supervisor status --name "$1" | sed -n 's/^supervisor \([^;]*\).*/\1/p' | head -n 1
}

# Installing the next package under wrk load upgrades the running units in place from its postinst: supervisor@demo
# keeps its MainPID and instances and runs the new version. supervisor@other is in the middle of a rollout (a reload
# to a release that takes 60 s to start), so its upgrade is refused: the postinst says so, and it keeps running its
# old binary with its instance.
package_upgrade_in_place_under_load() {
    local next="$work/swift-supervisor_next.deb"
    next_package "$next" || fail "cannot make the next package from $deb"
    release slow --startup-delay 60000
    in_ns ln -sfn /var/lib/demo/releases/v1 /var/lib/demo/other-current
    in_ns sh -c 'cat >/etc/supervisor/other.toml' <<'TOML'
instances = 1
listen = ["127.0.0.1:8083"]
ready-timeout = "90s"
command = ["/var/lib/demo/other-current/server"]
TOML
    in_ns systemctl start supervisor@other || fail "supervisor@other did not start"
    # Its one instance, before the reload starts another.
    local other_pid
    other_pid=$(instance_pids other)
    in_ns ln -sfn /var/lib/demo/releases/slow /var/lib/demo/other-current
    in_ns systemctl reload --no-block supervisor@other
    local demo_main demo_pids other_main rc=0 waited=0
    while ! in_ns supervisor status --name other | grep -q '^rollout:' && [ "$waited" -lt 100 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    demo_main=$(show -p MainPID supervisor@demo)
    demo_pids=$(instance_pids)
    other_main=$(show -p MainPID supervisor@other)
    in_ns wrk -t 2 -c 16 -d 5s --timeout 5s http://127.0.0.1:8080/ >"$work/wrk-package.txt" 2>&1 &
    local wrk=$!
    sleep 1
    in_ns sh -c 'cat >/var/lib/systest/swift-supervisor-next.deb' <"$next"
    in_ns env DEBIAN_FRONTEND=noninteractive dpkg -i /var/lib/systest/swift-supervisor-next.deb \
        >"$work/dpkg-next.log" 2>&1 || rc=$?
    wait "$wrk" || fail "wrk failed: $(cat "$work/wrk-package.txt")"
    local demo_version other_version other_exe other_active other_alive=no installed lifeline_exe
    demo_version=$(running_version demo)
    # The upgrade replaced the lifeline too: nothing of supervisor@demo runs the deleted binary any more.
    lifeline_exe=$(in_ns sh -c "readlink /proc/\$(pgrep -P $demo_main -f 'supervisor lifeline')/exe" || true)
    other_version=$(running_version other)
    other_exe=$(in_ns readlink "/proc/$other_main/exe")
    other_active=$(show -p ActiveState supervisor@other)
    # shellcheck disable=SC2086 # one pid, with instance_pids' trailing space
    ! in_ns kill -0 $other_pid 2>/dev/null || other_alive=yes
    installed=$(in_ns dpkg-query -W -f '${Version}' swift-supervisor)
    in_ns systemctl stop supervisor@other
    in_ns rm /etc/supervisor/other.toml /var/lib/demo/other-current
    grep -E '^supervisor |not upgraded' "$work/dpkg-next.log" || true
    grep -E 'requests in|Socket errors|Non-2xx' "$work/wrk-package.txt" | sed 's/^ *//'
    echo "supervisor@demo: MainPID $demo_main -> $(show -p MainPID supervisor@demo), runs $demo_version," \
        "its lifeline runs $lifeline_exe;" \
        "supervisor@other: MainPID $other_main, $other_active, runs $other_version ($other_exe)," \
        "instance $other_pid alive: $other_alive"
    [ "$rc" -eq 0 ] || fail "dpkg -i of the next package exited $rc: $(tail -n 20 "$work/dpkg-next.log")"
    [ "$installed" = "$next_version" ] || fail "dpkg says $installed is installed, not $next_version"
    grep -qF "supervisor demo: upgraded $deb_version -> $next_version in " "$work/dpkg-next.log" ||
        fail "the postinst did not report supervisor@demo's upgrade"
    grep -qF "supervisor other: upgrade refused: " "$work/dpkg-next.log" ||
        fail "the postinst did not say why supervisor@other was not upgraded"
    grep -qF "supervisor@other.service was not upgraded in place: it keeps running its old binary" \
        "$work/dpkg-next.log" || fail "the postinst did not report that supervisor@other keeps its binary"
    [ "$(show -p MainPID supervisor@demo)" = "$demo_main" ] || fail "supervisor@demo's MainPID changed"
    [ "$(instance_pids)" = "$demo_pids" ] || fail "supervisor@demo's instances changed"
    [ "$demo_version" = "$next_version" ] || fail "supervisor@demo runs '$demo_version', not $next_version"
    [ "$lifeline_exe" = /usr/bin/supervisor ] || fail "supervisor@demo's lifeline runs '$lifeline_exe'"
    [ "$other_active" = reloading ] || [ "$other_active" = active ] || fail "supervisor@other is $other_active"
    [ "$other_alive" = yes ] || fail "supervisor@other's instance $other_pid is gone"
    [ "$other_version" = "$deb_version" ] || fail "supervisor@other runs '$other_version', not its old $deb_version"
    in_ns test -f /etc/needrestart/conf.d/swift-supervisor.conf || fail "no needrestart override"
    ! grep -qE 'Socket errors|Non-2xx' "$work/wrk-package.txt" || fail "the load client saw failed requests"
    local requests
    requests=$(awk '/requests in/ { print $1 }' "$work/wrk-package.txt")
    [ "${requests:-0}" -ge 100 ] || fail "only ${requests:-0} requests: the load did not run"
}

# A unit whose in-place upgrade failed runs a deleted binary, which needrestart (Debian's, installed here) would
# restart, stopping its instances; the package's override keeps it from doing so. Shown on supervisor@stale, started
# from a copy of the binary that is then deleted: with the override needrestart lists the unit and leaves it; without
# it (moved aside for a moment), it restarts it, which shows that the check can fail.
needrestart_leaves_units() {
    [ ! -s "$needrestart_skip" ] || skip "$(cat "$needrestart_skip")"
    tar -C "$needrestart_debs" -cf - --exclude partial --exclude lock . |
        in_ns sh -c 'mkdir -p /var/lib/systest/needrestart && tar -C /var/lib/systest/needrestart -xf -'
    in_ns sh -c 'DEBIAN_FRONTEND=noninteractive dpkg -i /var/lib/systest/needrestart/*.deb' \
        >"$work/dpkg-needrestart.log" 2>&1 ||
        fail "dpkg -i of needrestart failed: $(tail -n 20 "$work/dpkg-needrestart.log")"
    release fast
    in_ns cp /usr/bin/supervisor /var/lib/demo/supervisor-stale
    in_ns sh -c 'cat >/etc/supervisor/stale.toml' <<'TOML'
instances = 1
listen = ["127.0.0.1:8085"]
command = ["/var/lib/demo/releases/fast/server"]
TOML
    in_ns sh -c 'mkdir -p /run/systemd/system/supervisor@stale.service.d &&
        cat >/run/systemd/system/supervisor@stale.service.d/stale.conf' <<'UNIT'
[Service]
ExecStart=
ExecStart=/var/lib/demo/supervisor-stale run --name %i --config /etc/supervisor/%i.toml
UNIT
    in_ns systemctl daemon-reload
    in_ns systemctl start supervisor@stale || fail "supervisor@stale did not start"
    in_ns rm /var/lib/demo/supervisor-stale
    local main listed with without
    main=$(show -p MainPID supervisor@stale)
    listed=$(in_ns needrestart -b -r l 2>&1 | grep '^NEEDRESTART-SVC:' || true)
    in_ns env DEBIAN_FRONTEND=noninteractive needrestart -r a >"$work/needrestart.log" 2>&1 || true
    with=$(show -p MainPID supervisor@stale)
    in_ns mv /etc/needrestart/conf.d/swift-supervisor.conf /etc/needrestart/swift-supervisor.conf.aside
    in_ns env DEBIAN_FRONTEND=noninteractive needrestart -r a >"$work/needrestart-without.log" 2>&1 || true
    without=$(show -p MainPID supervisor@stale)
    in_ns mv /etc/needrestart/swift-supervisor.conf.aside /etc/needrestart/conf.d/swift-supervisor.conf
    in_ns systemctl stop supervisor@stale
    in_ns rm -r /run/systemd/system/supervisor@stale.service.d /etc/supervisor/stale.toml
    in_ns systemctl daemon-reload
    in_ns systemctl reset-failed supervisor@stale 2>/dev/null || true
    echo "needrestart -b lists:" $listed
    echo "supervisor@stale: MainPID $main; after needrestart -r a: $with; without the override: $without"
    has 'supervisor@stale.service' "$listed" >/dev/null ||
        fail "needrestart did not see that supervisor@stale runs a deleted binary: $(cat "$work/needrestart.log")"
    [ "$with" = "$main" ] || fail "needrestart restarted supervisor@stale despite the override"
    [ "$without" != "$main" ] || fail "without the override needrestart did not restart it either: nothing is shown"
}

# The supervisor's STATUS= (the "Status:" line of systemctl status) after a rolled-back reload.
status_line_names_rollback() {
    local text
    text=$(show -p StatusText supervisor@demo)
    echo "StatusText=$text"
    has 'last reload rolled back: .*exited with status 2 before it was ready' "$text" >/dev/null ||
        fail "STATUS= does not say why the last reload failed"
}

journal_has_priorities() {
    local warnings all
    warnings=$(in_ns journalctl --no-pager -o cat -u supervisor@demo -p warning)
    all=$(in_ns journalctl --no-pager -o cat -u supervisor@demo)
    has 'failing at start as asked' "$warnings" || fail "no instance error under -p warning:
$warnings"
    has 'rolled back to generation' "$warnings" || fail "no supervisor error under -p warning"
    has 'started instance #0' "$all" || fail "no info line 'started instance' in the journal"
    has 'demo#0 g1 pid' "$all" || fail "instance output is not labelled in the journal"
    ! has 'started instance' "$warnings" || fail "an info line shows under -p warning"
    # The priority journald stored, not only the filter: an instance's <3> line is PRIORITY=3.
    has 'PRIORITY=3' "$(in_ns journalctl --no-pager -o verbose -u supervisor@demo -p err -g 'failing at start')" ||
        fail "the instance's error line was not stored with PRIORITY=3"
}

# Waits (at most 30 s) until supervisor@demo has restarted more than $1 times and is active again.
# wait_for_restart RESTARTS [UNIT]: waits up to 30 s for UNIT (supervisor@demo) to be active again after more than
# RESTARTS restarts.
wait_for_restart() {
    local waited=0 unit="${2:-supervisor@demo}"
    while [ "$waited" -lt 300 ]; do
        if [ "$(show -p NRestarts "$unit")" -gt "$1" ] && [ "$(show -p ActiveState "$unit")" = active ]; then
            return 0
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

watchdog_restarts_hung_supervisor() {
    in_ns sh -c 'mkdir -p /run/systemd/system/supervisor@demo.service.d &&
        cat >/run/systemd/system/supervisor@demo.service.d/watchdog.conf' <<'EOF'
[Service]
WatchdogSec=2s
# SIGABRT waits while the process is stopped: SIGKILL soon after.
TimeoutAbortSec=3s
EOF
    in_ns systemctl daemon-reload
    in_ns systemctl restart supervisor@demo
    local pid restarts
    pid=$(show -p MainPID supervisor@demo)
    restarts=$(show -p NRestarts supervisor@demo)
    sleep 7
    [ "$(show -p ActiveState supervisor@demo)" = active ] ||
        fail "not active after 3 watchdog periods: $(in_ns systemctl status --no-pager supervisor@demo)"
    [ "$(show -p MainPID supervisor@demo)" = "$pid" ] || fail "the supervisor was restarted while it was healthy"
    [ "$(show -p NRestarts supervisor@demo)" = "$restarts" ] || fail "NRestarts changed while healthy"
    echo "active for 7 s (WatchdogSec=2s) with main pid $pid"
    # Upgrades in place, to another build and back, do not miss the watchdog: the loop pings up to the exec and the
    # new program pings on its first turn.
    if in_ns test -x /var/lib/demo/supervisor-next; then
        in_ns supervisor upgrade --name demo --binary /var/lib/demo/supervisor-next >"$work/upgrade-watchdog.txt" 2>&1 ||
            fail "upgrade with the watchdog on failed: $(cat "$work/upgrade-watchdog.txt")"
        in_ns supervisor upgrade --name demo >>"$work/upgrade-watchdog.txt" 2>&1 ||
            fail "upgrade back with the watchdog on failed: $(cat "$work/upgrade-watchdog.txt")"
        sleep 3
        [ "$(show -p MainPID supervisor@demo)" = "$pid" ] || fail "the watchdog restarted the supervisor at an upgrade"
        [ "$(show -p NRestarts supervisor@demo)" = "$restarts" ] || fail "NRestarts changed across the upgrades"
        grep -h '^supervisor demo: upgraded' "$work/upgrade-watchdog.txt"
        echo "two upgrades in place and 3 s more: main pid $pid, NRestarts $restarts, no watchdog timeout"
    fi
    in_ns kill -STOP "$pid"
    local stopped
    stopped=$(now)
    wait_for_restart "$restarts"
    local new_pid
    new_pid=$(show -p MainPID supervisor@demo)
    echo "$(elapsed_ms "$stopped" "$(now)") ms after SIGSTOP: main pid $new_pid," \
        "NRestarts $(show -p NRestarts supervisor@demo)"
    [ "$(show -p NRestarts supervisor@demo)" -gt "$restarts" ] || fail "not restarted within 30 s of SIGSTOP"
    [ "$new_pid" != "$pid" ] || fail "the main pid did not change"
    has 'Watchdog timeout' "$(in_ns journalctl --no-pager -o cat -u supervisor@demo)" ||
        fail "the journal has no watchdog timeout"
    demo_body >/dev/null || fail "not serving after the restart"
    in_ns rm -r /run/systemd/system/supervisor@demo.service.d
    in_ns systemctl daemon-reload
}

# SIGKILL to the supervisor: KillMode=mixed kills what is left in the unit's cgroup (and the supervisor's lifeline
# would stop the instances anyway); Restart=on-failure starts a new supervisor with new instances.
sigkill_leaves_no_instance() {
    local pid restarts old
    pid=$(show -p MainPID supervisor@demo)
    restarts=$(show -p NRestarts supervisor@demo)
    old=$(instance_pids)
    [ -n "$old" ] || fail "no instance pids before the kill"
    in_ns kill -KILL "$pid"
    wait_for_restart "$restarts"
    [ "$(show -p NRestarts supervisor@demo)" -gt "$restarts" ] || fail "not restarted within 30 s of SIGKILL"
    local new survivor=""
    new=$(instance_pids)
    local instance
    for instance in $old; do
        if in_ns kill -0 "$instance" 2>/dev/null; then survivor="$survivor $instance"; fi
    done
    echo "instances before: $old; after the restart: $new; main pid $pid -> $(show -p MainPID supervisor@demo)"
    [ -z "$survivor" ] || fail "instances of the killed supervisor survived:$survivor"
    [ -n "$new" ] || fail "no instances after the restart"
    demo_body >/dev/null || fail "not serving after the restart"
}

# The inode of the socket listening on 127.0.0.1:$1, from ss.
listener_inode() {
    in_ns ss -Hltne "sport = :$1" 2>/dev/null | grep -o 'ino:[0-9]*' | head -n 1
}

# wrk's count of one kind of socket error (connect, read, write, timeout) in the output file $1; 0 when it saw none.
socket_errors() {
    sed -n "s/.*Socket errors:.* $2 \([0-9]*\).*/\1/p" "$1" | grep . || echo 0
}

# SIGKILL to a supervisor in shared mode under new-connection load: systemd kills its instances (KillMode=mixed) and
# starts it again (Restart=on-failure); the new supervisor takes the listening socket back from systemd's file
# descriptor store, so no connection is refused meanwhile: they wait in its accept queue. Requests the killed
# instances had accepted and not answered are lost, counted apart (wrk's read errors). With FileDescriptorStoreMax=0
# in a drop-in the same run had 5,458 connections refused and a new socket.
sigkill_in_shared_mode_refuses_nothing() {
    release fast
    in_ns sh -c 'cat >/etc/supervisor/backstop.toml' <<'TOML'
instances = 2
listen = ["127.0.0.1:8084"]
listen-mode = "shared"
command = ["/var/lib/demo/releases/fast/server"]
TOML
    in_ns systemctl start supervisor@backstop || fail "supervisor@backstop did not start"
    local main restarts inode_before inode_after took
    main=$(show -p MainPID supervisor@backstop)
    restarts=$(show -p NRestarts supervisor@backstop)
    inode_before=$(listener_inode 8084)
    in_ns wrk -t 2 -c 16 -d 8s --timeout 10s -H 'Connection: close' http://127.0.0.1:8084/ \
        >"$work/wrk-backstop.txt" 2>&1 &
    local wrk=$!
    sleep 2
    local killed
    killed=$(now)
    in_ns kill -KILL "$main"
    wait_for_restart "$restarts" supervisor@backstop
    took=$(elapsed_ms "$killed" "$(now)")
    wait "$wrk" || fail "wrk failed: $(cat "$work/wrk-backstop.txt")"
    inode_after=$(listener_inode 8084)
    local new_main journal refused timeouts in_flight requests
    new_main=$(show -p MainPID supervisor@backstop)
    journal=$(in_ns journalctl --no-pager -o cat -u supervisor@backstop)
    # wrk connects without blocking, so a refused connection fails its first write: connect and write errors are
    # connections refused; a read error is a request that was sent and never answered.
    refused=$(($(socket_errors "$work/wrk-backstop.txt" connect) + $(socket_errors "$work/wrk-backstop.txt" write)))
    timeouts=$(socket_errors "$work/wrk-backstop.txt" timeout)
    in_flight=$(socket_errors "$work/wrk-backstop.txt" read)
    requests=$(awk '/requests in/ { print $1 }' "$work/wrk-backstop.txt")
    in_ns systemctl stop supervisor@backstop
    in_ns rm /etc/supervisor/backstop.toml
    grep -E 'requests in|Socket errors|Non-2xx' "$work/wrk-backstop.txt" | sed 's/^ *//'
    has 'file descriptor store' "$journal" || true
    echo "main pid $main -> $new_main, active again $took ms after SIGKILL; listening socket $inode_before ->" \
        "$inode_after; refused $refused, timed out $timeouts, lost in flight on the killed instances $in_flight"
    [ "$new_main" != "$main" ] || fail "the supervisor was not restarted"
    [ -n "$inode_before" ] && [ "$inode_before" = "$inode_after" ] ||
        fail "the listening socket changed ($inode_before -> $inode_after): it was not kept in the store"
    [ "$refused" -eq 0 ] || fail "$refused connections were refused"
    [ "$timeouts" -eq 0 ] || fail "$timeouts requests timed out"
    [ "$in_flight" -le 16 ] || fail "$in_flight requests failed: more than the 16 connections could have in flight"
    ! grep -q 'Non-2xx' "$work/wrk-backstop.txt" || fail "non-2xx answers"
    [ "${requests:-0}" -ge 100 ] || fail "only ${requests:-0} requests: the load did not run"
    has "serving 127.0.0.1:8084 on the socket an earlier supervisor kept in systemd's file descriptor store" \
        "$journal" >/dev/null || fail "the restarted supervisor did not say it took the stored socket"
}

# One datagram to the UDP echo on 127.0.0.1:$1; prints the answer ("pid=PID hello").
udp_echo() {
    in_ns python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"hello", ("127.0.0.1", int(sys.argv[1])))
print(s.recv(512).decode())' "$1"
}

# The socket:[INODE] of descriptor $2 of process $1.
fd_socket() {
    in_ns readlink "/proc/$1/fd/$2"
}

# A Unix socket (in the unit's RuntimeDirectory, for nginx or another local proxy) and a UDP socket in shared mode:
# the Unix socket file gets socket-mode and socket-group; after SIGKILL to the supervisor, the restarted one takes
# both sockets back from the file descriptor store (the instances' fd 3 and 4 are the same sockets, the path the same
# file: RuntimeDirectoryPreserve=restart keeps it), and both serve; at stop the path is removed.
unix_and_udp_sockets_survive_sigkill() {
    release echo --udp-echo
    in_ns sh -c 'cat >/etc/supervisor/kinds.toml' <<'TOML'
instances = 2
listen = ["api=unix:/run/supervisor/kinds/app.sock", "udp:127.0.0.1:8085"]
listen-mode = "shared"
socket-group = "www-data"
command = ["/var/lib/demo/releases/echo/server"]
TOML
    local path=/run/supervisor/kinds/app.sock
    in_ns systemctl start supervisor@kinds || fail "supervisor@kinds did not start"
    local pid file_before unix_before udp_before body answer
    pid=$(instance_pids kinds | cut -d ' ' -f 1)
    file_before=$(in_ns stat -c '%i %a %G' "$path") || fail "no socket file at $path"
    unix_before=$(fd_socket "$pid" 3)
    udp_before=$(fd_socket "$pid" 4)
    body=$(in_ns curl -sS --max-time 5 --unix-socket "$path" http://localhost/) || fail "$path did not answer"
    answer=$(udp_echo 8085) || fail "no answer on udp:127.0.0.1:8085"
    echo "file (inode, mode, group) $file_before; fd 3 $unix_before, fd 4 $udp_before; '$body'; '$answer'"
    case "$file_before" in *" 660 www-data") ;; *) fail "socket file is not 0660 www-data: $file_before" ;; esac
    case "$answer" in "pid="*" hello") ;; *) fail "unexpected UDP answer '$answer'" ;; esac
    local main restarts
    main=$(show -p MainPID supervisor@kinds)
    restarts=$(show -p NRestarts supervisor@kinds)
    in_ns kill -KILL "$main"
    wait_for_restart "$restarts" supervisor@kinds
    pid=$(instance_pids kinds | cut -d ' ' -f 1)
    local file_after unix_after udp_after journal
    file_after=$(in_ns stat -c '%i %a %G' "$path") || fail "the socket file is gone after the restart"
    unix_after=$(fd_socket "$pid" 3)
    udp_after=$(fd_socket "$pid" 4)
    journal=$(in_ns journalctl --no-pager -o cat -u supervisor@kinds)
    echo "after SIGKILL: main pid $main -> $(show -p MainPID supervisor@kinds); file $file_after; fd 3 $unix_after," \
        "fd 4 $udp_after"
    [ "$file_after" = "$file_before" ] || fail "the socket file changed: $file_before -> $file_after"
    [ "$unix_after" = "$unix_before" ] || fail "the Unix socket changed: $unix_before -> $unix_after"
    [ "$udp_after" = "$udp_before" ] || fail "the UDP socket changed: $udp_before -> $udp_after"
    has "serving unix:$path on the socket an earlier supervisor kept" "$journal" >/dev/null ||
        fail "the restarted supervisor did not say it took the stored Unix socket"
    in_ns curl -sS --max-time 5 --unix-socket "$path" http://localhost/ >/dev/null || fail "$path did not answer"
    udp_echo 8085 >/dev/null || fail "no UDP answer after the restart"
    in_ns systemctl stop supervisor@kinds
    in_ns rm /etc/supervisor/kinds.toml
    ! in_ns test -e "$path" || fail "$path is left after stop"
}

stop_leaves_nothing() {
    local before after took left
    before=$(now)
    in_ns systemctl stop supervisor@demo || fail "systemctl stop failed"
    after=$(now)
    took=$(elapsed_ms "$before" "$after")
    echo "stop took $took ms; result $(show -p Result supervisor@demo)"
    [ "$(show -p ActiveState supervisor@demo)" = inactive ] || fail "not inactive after stop"
    [ "$(show -p Result supervisor@demo)" = success ] || fail "result is not success"
    # The supervisor, its lifeline child and the instances.
    left=$(in_ns ps -eo pid=,args= | grep -E 'demo-server|/usr/bin/supervisor' | grep -v grep || true)
    [ -z "$left" ] || fail "processes left: $left"
    local journal
    journal=$(in_ns journalctl --no-pager -o cat -u supervisor@demo)
    has 'stopping: draining' "$journal" || fail "the supervisor did not drain its instances"
    ! has 'sending SIGKILL' "$journal" || fail "an instance had to be killed"
}

# With TimeoutStopSec=2s and instances that ignore SIGTERM, the supervisor's drain lasts its drain-timeout (4 s), then
# it SIGKILLs them and exits 0: systemd must wait for that (EXTEND_TIMEOUT_USEC=), not kill everything at 2 s.
stop_timeout_extended_for_drain() {
    in_ns sh -c 'mkdir -p /run/systemd/system/supervisor@demo.service.d &&
        printf "[Service]\nTimeoutStopSec=2s\n" >/run/systemd/system/supervisor@demo.service.d/stop.conf'
    in_ns systemctl daemon-reload
    switch_to v4-ignores-sigterm
    in_ns systemctl start supervisor@demo
    local before after took result
    before=$(now)
    in_ns systemctl stop supervisor@demo || fail "systemctl stop failed"
    after=$(now)
    took=$(elapsed_ms "$before" "$after")
    result=$(show -p Result supervisor@demo)
    echo "stop took $took ms with TimeoutStopSec=2s; result $result"
    local journal
    journal=$(in_ns journalctl --no-pager -o cat -u supervisor@demo)
    has 'did not exit within 4 s of SIGTERM' "$journal" ||
        fail "the supervisor did not kill the instances that ignore SIGTERM"
    [ "$result" = success ] || fail "systemd ended the stop with result '$result'"
    [ "$took" -ge 3500 ] || fail "the stop took $took ms: the drain timeout (4 s) was not waited for"
    in_ns rm -r /run/systemd/system/supervisor@demo.service.d
    in_ns systemctl daemon-reload
    switch_to v2
}

# ---------------------------------------------------------------------------------------------------------------
# Socket activation: the example units of the package, port 80, an unprivileged (dynamic) user, shared mode.

# The real uid of a process in the namespace.
uid_of() {
    in_ns sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"
}

socket_activation_unprivileged() {
    # shellcheck disable=SC2016 # expanded by the shell in the namespace
    in_ns sh -c 'examples=/usr/share/doc/swift-supervisor/examples &&
        cp "$examples/supervisor@web.socket" /etc/systemd/system/ &&
        cp -R "$examples/supervisor@web.service.d" /etc/systemd/system/ &&
        cp "$examples/web.toml" /etc/supervisor/web.toml'
    in_ns systemctl daemon-reload
    in_ns systemctl start supervisor@web.socket
    [ "$(show -p ActiveState supervisor@web.service)" = inactive ] || fail "the service started before a connection"
    local body pid uid
    body=$(in_ns curl -sS --max-time 20 http://127.0.0.1:80/) || fail "port 80 did not answer"
    echo "GET http://127.0.0.1:80/ -> $body"
    # The first instance may answer before the second is ready, and so before the supervisor says READY=1.
    local waited=0
    while [ "$(show -p ActiveState supervisor@web.service)" = activating ] && [ "$waited" -lt 100 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    [ "$(show -p ActiveState supervisor@web.service)" = active ] ||
        fail "the connection did not start the service: $(show -p ActiveState supervisor@web.service)"
    pid=$(show -p MainPID supervisor@web.service)
    uid=$(uid_of "$pid")
    echo "supervisor pid $pid runs as uid $uid"
    [ "$uid" -ne 0 ] || fail "the supervisor runs as root"
    local instance
    instance=$(printf '%s\n' "$body" | sed -n 's/^pid=\([0-9]*\).*/\1/p')
    [ "$(uid_of "$instance")" -ne 0 ] || fail "the instance runs as root"
    has 'on the socket systemd passed' "$(in_ns journalctl --no-pager -o cat -u supervisor@web.service)" ||
        fail "the supervisor did not take systemd's socket"
}

socket_activation_reload_keeps_serving() {
    local rc=0 body
    in_ns wrk -t 2 -c 16 -d 5s --timeout 5s http://127.0.0.1:80/ >"$work/wrk-web.txt" 2>&1 &
    local wrk=$!
    sleep 1
    in_ns systemctl reload supervisor@web || rc=$?
    wait "$wrk" || fail "wrk failed: $(cat "$work/wrk-web.txt")"
    body=$(in_ns curl -sS --max-time 5 http://127.0.0.1:80/) || fail "port 80 stopped answering"
    grep -E 'requests in|Socket errors|Non-2xx' "$work/wrk-web.txt" | sed 's/^ *//'
    echo "systemctl reload exited $rc; GET / -> $body"
    [ "$rc" -eq 0 ] || fail "systemctl reload exited $rc"
    case "$body" in *generation=2*) ;; *) fail "the reload did not roll out generation 2: $body" ;; esac
    ! grep -qE 'Socket errors|Non-2xx' "$work/wrk-web.txt" || fail "the load client saw failed requests"
    in_ns systemctl stop supervisor@web.service supervisor@web.socket
}

# ---------------------------------------------------------------------------------------------------------------
# supervisor@www: the packaged unit with instances as www-data (user = and group = in the config), ready over sd_notify.
# The supervisor runs as root and makes each instance's notify socket below the unit's RuntimeDirectory=
# (/run/supervisor/www/www.notify/N.sock, chowned to the instance's user): the instance must be able to reach it.

setup_www() {
    in_ns sh -c 'cat >/etc/supervisor/www.toml' <<'EOF'
instances = 2
listen = ["127.0.0.1:8081"]
ready = "notify"
ready-timeout = "10s"
user = "www-data"
group = "www-data"
command = ["/usr/lib/supervisor/demo-server"]
EOF
}

www_body() {
    in_ns curl -sS --max-time 5 http://127.0.0.1:8081/
}

# The modes along the notify directory's path, and whether www-data may reach it, while the unit is starting (each
# attempt of a failing start gets a new runtime directory, which systemd removes when the attempt fails).
diagnose_www() {
    local waited=0
    while [ "$waited" -lt 50 ] && ! in_ns test -d /run/supervisor/www/www.notify; do
        sleep 0.1
        waited=$((waited + 1))
    done
    in_ns namei -l /run/supervisor/www/www.notify/ 2>&1 || true
    echo "as www-data: $(in_ns setpriv --reuid=www-data --regid=www-data --init-groups \
        stat -c '%A %U:%G %n' /run/supervisor/www/www.notify/ 2>&1 || true)"
    echo "RuntimeDirectoryMode=$(show -p RuntimeDirectoryMode supervisor@www)"
    in_ns journalctl --no-pager -o cat -u supervisor@www -n 12 2>&1 || true
}

# The uids of supervisor@www's instances.
www_instance_uids() {
    local pid
    for pid in $(in_ns supervisor status --name www --json | grep -o '"pid" *: *[0-9]*' | grep -o '[0-9]*$'); do
        uid_of "$pid"
    done | sort -u | tr '\n' ' '
}

www_data_notify_ready() {
    local rc=0 body status uids
    setup_www
    in_ns systemctl start supervisor@www >"$work/start-www.txt" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] || [ "$(show -p ActiveState supervisor@www)" != active ]; then
        local diagnosis
        diagnosis=$(diagnose_www)
        in_ns systemctl stop supervisor@www || true
        fail "systemctl start supervisor@www exited $rc ($(cat "$work/start-www.txt")), state" \
            "$(show -p ActiveState supervisor@www):
$diagnosis"
    fi
    status=$(show -p StatusText supervisor@www)
    body=$(www_body) || fail "port 8081 does not answer"
    uids=$(www_instance_uids)
    echo "StatusText=$status; instances run as uid $uids; GET / -> $body"
    has '2/2 ready' "$status" >/dev/null || fail "STATUS= is '$status', not 2/2 ready"
    [ "$uids" = "$(in_ns id -u www-data) " ] || fail "the instances run as uid $uids, not www-data's"
    # The directory lets www-data through to its notify socket; the control socket (0600 root, and the peer's
    # credentials checked) still refuses it.
    ! in_ns setpriv --reuid=www-data --regid=www-data --init-groups \
        supervisor status --control-socket /run/supervisor/www/www.sock >"$work/www-status.txt" 2>&1 ||
        fail "www-data may use the control socket: $(cat "$work/www-status.txt")"
    echo "www-data is refused by the control socket: $(head -n 1 "$work/www-status.txt")"
}

www_data_reload() {
    local rc=0 body status uids
    [ "$(show -p ActiveState supervisor@www)" = active ] || fail "supervisor@www is not running"
    in_ns systemctl reload supervisor@www >"$work/reload-www.txt" 2>&1 || rc=$?
    status=$(show -p StatusText supervisor@www)
    body=$(www_body) || fail "port 8081 does not answer after the reload"
    uids=$(www_instance_uids)
    echo "systemctl reload exited $rc; StatusText=$status; instances run as uid $uids; GET / -> $body"
    [ "$rc" -eq 0 ] || fail "systemctl reload supervisor@www exited $rc: $(cat "$work/reload-www.txt")"
    case "$body" in *generation=2*) ;; *) fail "the reload did not roll out generation 2: $body" ;; esac
    has '2/2 ready' "$status" >/dev/null || fail "STATUS= is '$status', not 2/2 ready"
    [ "$uids" = "$(in_ns id -u www-data) " ] || fail "the instances run as uid $uids, not www-data's"
    in_ns systemctl stop supervisor@www
}

# ---------------------------------------------------------------------------------------------------------------
# The host after the namespace is gone.

host_untouched() {
    [ ! -e /usr/bin/supervisor ] || fail "/usr/bin/supervisor exists on the host"
    [ "$host_etc_supervisor" = yes ] || [ ! -e /etc/supervisor ] || fail "/etc/supervisor exists on the host"
    [ ! -e /etc/supervisor/demo.toml ] || fail "/etc/supervisor/demo.toml exists on the host"
    [ ! -e /etc/supervisor/www.toml ] || fail "/etc/supervisor/www.toml exists on the host"
    [ ! -e /lib/systemd/system/supervisor@.service ] || fail "the unit file exists on the host"
    [ ! -e /etc/systemd/system/supervisor@web.socket ] || fail "the socket unit exists on the host"
    [ ! -e /var/lib/demo ] || fail "/var/lib/demo exists on the host"
    [ -e /usr/sbin/policy-rc.d ] || [ ! -e "$work/host-policy-rc.d" ] || fail "the host's policy-rc.d is gone"
    local status
    status=$(dpkg-query -W -f '${Status}' swift-supervisor 2>/dev/null || true)
    case "$status" in
    *" installed" | *unpacked | *half-*) fail "dpkg says swift-supervisor is '$status' on the host" ;;
    esac
    [ ! -e /var/lib/dpkg/info/swift-supervisor.list ] || fail "the host's dpkg database lists swift-supervisor's files"
    status=$(dpkg-query -W -f '${Status}' supervisor 2>/dev/null || true)
    [ "$status" = "$host_supervisord_status" ] ||
        fail "dpkg's status of Debian's supervisor on the host changed: '$host_supervisord_status' -> '$status'"
    if [ "$(md5sum /var/lib/dpkg/status)" != "$host_dpkg_status" ]; then
        # Someone else may have installed a package meanwhile; ours must not be what changed.
        ! grep -qx 'Package: swift-supervisor' /var/lib/dpkg/status ||
            fail "the host's dpkg status names swift-supervisor"
        echo "note: the host's dpkg status changed during the test, but not for swift-supervisor nor supervisor"
    fi
    [ -e "$host_tmp_marker" ] || fail "a file in the host's /tmp disappeared"
    local dir
    for dir in $(cgroup_dirs); do
        [ ! -e "$dir" ] || fail "the test's cgroup $dir is still there"
        [ ! -e "${dir%/*}/system.slice/system-supervisor.slice" ] || fail "the host's ${dir%/*} has supervisor slices"
    done
    echo "no supervisor files on the host, nor in its dpkg database; host /tmp intact"
}

echo "systemd test: package $deb ($deb_version)"
[ ! -e /usr/sbin/policy-rc.d ] || touch "$work/host-policy-rc.d"
check "Debian's supervisor package and the dependencies the host lacks, downloaded on the host" \
    fetch_debian_supervisor
check "Debian's needrestart package and the dependencies the host lacks, downloaded on the host" fetch_needrestart
boot_status=0
boot >"$work/boot-check.out" 2>&1 || boot_status=$?
record "systemd boots in PID+mount+net+uts+cgroup namespaces" "$boot_status" "$work/boot-check.out"
if [ "$boot_status" -eq 0 ]; then
    check "Debian's supervisor (supervisord) installs first and runs a program" install_debian_supervisor
    check "the package installs into the namespace's overlays, beside Debian's supervisor" install_package
    check "no file is in both packages; swift-supervisor has nothing under /etc/supervisor" no_shared_files
    check "the sysctl.d drop-in is applied: net.ipv4.tcp_migrate_req=1" sysctl_applied
    check "the demo's releases (v1, v2, v3-broken) and /etc/supervisor/demo.toml" setup_demo
    check "enable --now blocks until the instances are ready, then serves" start_waits_for_readiness
    check "supervisord (supervisor.service) and supervisor@demo run side by side" side_by_side
    check "dpkg --purge supervisor (Debian's) leaves swift-supervisor, demo.toml and supervisor@demo as they were" \
        purge_debian_keeps_ours
    check "supervisor@NAME without /etc/supervisor/NAME.toml fails at once" missing_config_fails_at_once
    check "reload under wrk load: new pids, no failed request" reload_under_load_loses_nothing
    check "reload to a broken release fails, the unit stays active and serving, status says why" \
        broken_release_is_rolled_back
    check "STATUS= (the Status: line) names the rolled-back reload" status_line_names_rollback
    check "the Ansible role through systemctl reload: v2 opens its gate, a broken v3 fails the play with the reason" \
        ansible_role_reloads_through_systemd
    check "supervisor upgrade under wrk load, to another build and back: same MainPID and instances, no failed request" \
        upgrade_in_place_under_load
    check "installing the next package under wrk load upgrades running units in place; a failed one keeps its binary" \
        package_upgrade_in_place_under_load
    check "needrestart restarts no supervisor@ unit that runs a deleted binary (the package's override)" \
        needrestart_leaves_units
    check "journal: instance and supervisor output with priorities (-p warning)" journal_has_priorities
    check "watchdog: active across periods and two upgrades in place; a SIGSTOPped supervisor is killed and restarted" \
        watchdog_restarts_hung_supervisor
    check "SIGKILL to the supervisor: no instance of it survives, the unit restarts" sigkill_leaves_no_instance
    check "SIGKILL to a supervisor in shared mode under new-connection load: its socket is kept, nothing refused" \
        sigkill_in_shared_mode_refuses_nothing
    check "a Unix and a UDP socket in shared mode: socket-group applied, both kept across SIGKILL, the path removed at stop" \
        unix_and_udp_sockets_survive_sigkill
    check "stop drains and leaves no process" stop_leaves_nothing
    check "stop: EXTEND_TIMEOUT_USEC lets a drain outlast TimeoutStopSec=" stop_timeout_extended_for_drain
    check "socket activation on port 80 into shared mode, as an unprivileged user" socket_activation_unprivileged
    check "socket activation: reload under load keeps serving" socket_activation_reload_keeps_serving
    check "user = \"www-data\", ready = \"notify\": start is active with 2/2 ready and serves" www_data_notify_ready
    check "user = \"www-data\": systemctl reload rolls out generation 2, 2/2 ready" www_data_reload
fi

in_ns journalctl --no-pager -o short-monotonic >"$work/journal.txt" 2>&1 || true
timeout 20 nsenter -t "$ns_pid" -m -p -n -u systemctl poweroff >/dev/null 2>&1 || true
waited=0
while kill -0 "$ns_pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
    sleep 0.1
    waited=$((waited + 1))
done
check "the namespace powered off" test ! -e "/proc/$ns_pid"
wait "$unshare_pid" 2>/dev/null || true
remove_cgroups
check "the host is untouched: no files, dpkg database unchanged" host_untouched

echo "systemd test took $((SECONDS - started)) s"
if [ "$failed" -ne 0 ]; then
    echo "failed:$failures"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
