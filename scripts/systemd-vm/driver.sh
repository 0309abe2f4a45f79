#!/bin/bash
# The checks of scripts/systemd-vm/run.sh, run inside the VM by systemd (anpr-test-driver.service,
# as root, unconfined) once the broker is started. Prints "SYSTEMDTEST ok|fail NAME detail" per
# check, the journal of the unit ("SYSTEMDJOURNAL ..."), "SYSTEMDTEST exit N" (N failed
# checks), then powers the VM off.
P=$(dirname "$(realpath "$0")")
# WATCHDOG_S (the drop-in's WatchdogSec while the unit's own timing is measured) and EXPECTED
# (the plates of the video, O folded to 0).
. "$P/driver.env"
UNIT=anpr-edge.service
T=/run/anpr-test
mkdir -p "$T"
failures=0
ok() { echo "SYSTEMDTEST ok $*"; }
fail() { echo "SYSTEMDTEST fail $*"; failures=$((failures + 1)); }
verdict() { if [ "$1" = 0 ]; then shift; ok "$@"; else shift; fail "$@"; fi; }
prop() { systemctl show -P "$1" "$UNIT"; }
now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# wait_for SECONDS COMMAND...: true once COMMAND succeeds, false after SECONDS.
wait_for() {
  local end=$(( $(cut -d. -f1 /proc/uptime) + $1 )); shift
  until "$@"; do
    [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ] || return 1
    sleep 0.5
  done
}
journal() { journalctl -b -u "$UNIT" --no-pager -o cat 2>/dev/null; }
uid_of() { awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# A timespan as systemctl show prints it (20s, 1min 30s, 5min).
span() { if [ "$1" -lt 60 ]; then echo "${1}s"; elif [ $(($1 % 60)) = 0 ]; then echo "$(($1 / 60))min"; else echo "$(($1 / 60))min $(($1 % 60))s"; fi; }
# Whether the unit is still the process the checks below look at: a check that reads /proc/$PID
# or enters its namespace must not judge a process that is gone (a restart on a slow host).
same_process() { [ "$(prop MainPID)" = "$PID" ] && [ "$(prop NRestarts)" = "$RESTARTS" ]; }
gone() { echo "NOT CHECKED: the unit is no longer the process started (MainPID $PID -> $(prop MainPID), NRestarts $RESTARTS -> $(prop NRestarts))"; }

echo "SYSTEMDTEST info $(systemctl --version | head -1), up $(now) s, system $(systemctl is-system-running 2>&1)"
[ "$(cat /proc/1/comm)" = systemd ]
verdict $? systemd-pid1 "PID 1 is $(readlink /proc/1/exe), $(findmnt -n -o FSTYPE /) root"

# The broker, and subscribers to everything the unit publishes (before the unit starts).
wait_for 30 mosquitto_pub -h 127.0.0.1 -t anpr-test/ping -m up 2> /dev/null
verdict $? broker "mosquitto on 127.0.0.1:1883"
mosquitto_sub -h 127.0.0.1 -t anpr/box-001/reads -t anpr/box-001/hits -F '%t %p' > "$T/reads" 2>&1 &
mosquitto_sub -h 127.0.0.1 -t 'anpr/#' -F '%t %l' > "$T/all" 2>&1 &
mosquitto_sub -h 127.0.0.1 -t anpr/box-001/status -F '%p' > "$T/status" 2>&1 &
sleep 1

# Type=notify: `systemctl start` returns once READY=1 arrived (the unit is "activating" until then).
t0=$(now)
systemctl start "$UNIT" 2> "$T/start.err"
start_rc=$?
took=$(since "$t0")
state="$(prop ActiveState)/$(prop SubState)"
if [ "$start_rc" = 0 ]; then ready="READY=1 ${took} s after systemctl start"; else ready="systemctl start failed after ${took} s: $(tr '\n' ' ' < "$T/start.err")"; fi
[ "$start_rc" = 0 ] && [ "$state" = active/running ]
verdict $? ready "Type=$(prop Type) NotifyAccess=$(prop NotifyAccess): $state, $ready"
PID=$(prop MainPID)
RESTARTS=$(prop NRestarts)
t_ready=$(now)
# Every watchdog ping the unit sends, as systemd saw it (monotonic µs), sampled faster than the
# daemon pings (every 2 s): the host's real frame cost in this VM, measured before it is judged.
( while :; do prop WatchdogTimestampMonotonic; sleep 0.5; done ) > "$T/pings" 2> /dev/null &
sampler=$!
# ping_gap: the longest wait between two pings seen so far, in whole seconds (rounded up). The
# first value may be the start of the unit rather than a ping (model loading is not a frame):
# gaps are counted from the second value on.
ping_gap() { uniq "$T/pings" | awk '$1 > 0 { if (n++ >= 2) { g = $1 - last; if (g > max) max = g } last = $1 } END { printf "%d", (max + 999999) / 1000000 }'; }
pings() { uniq "$T/pings" | awk '$1 > 0' | wc -l; }
if [ "$start_rc" != 0 ]; then
  # Nothing else can be checked; Restart=always would only repeat the failure.
  systemctl stop "$UNIT"
  journalctl -b -k --no-pager -o cat | grep -E 'type=1326|seccomp' | sed 's/^/SYSTEMDJOURNAL kernel: /'
  journal | sed 's/^/SYSTEMDJOURNAL /'
  echo "SYSTEMDTEST exit $failures"
  sync
  systemctl poweroff --force --force
fi

# The unit as shipped, plus the test's watchdog drop-in (WatchdogUSec is read at the start).
fragment=$(prop FragmentPath); dropins=$(prop DropInPaths)
[ "$(prop WatchdogUSec)" = "$(span "$WATCHDOG_S")" ] && cmp -s "$fragment" "$P/anpr-edge.service"
verdict $? unit-installed "$fragment (the shipped file), drop-in $dropins: WatchdogUSec=$(prop WatchdogUSec) (shipped: 30s)"

# The dynamic user and what the sandbox took away, read from the kernel's view of the process.
status=$(cat "/proc/$PID/status" 2>/dev/null)
uid=$(uid_of "$PID"); video=$(getent group video | cut -d: -f3)
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' <<< "$status")
groups=$(awk '/^Groups:/ { $1 = ""; print }' <<< "$status")
if same_process; then
  [ -n "$uid" ] && [ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] && [ "$uids" = "$uid $uid $uid $uid" ] &&
    [ "$(prop UID)" = "$uid" ] && [[ " $groups " == *" $video "* ]]
  verdict $? dynamic-user "uid $uids (DynamicUser range 61184-65519, systemctl UID=$(prop UID)), groups$groups (video=$video)"
else fail dynamic-user "$(gone)"; fi
caps=$(awk '/^(CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):/ { printf "%s%s ", $1, $2 }' <<< "$status")
if same_process; then
  [ "$caps" = "CapEff:0000000000000000 CapBnd:0000000000000000 CapAmb:0000000000000000 NoNewPrivs:1 Seccomp:2 " ]
  verdict $? sandbox "$caps(seccomp filters: $(awk '/^Seccomp_filters:/ { print $2 }' <<< "$status"))"
else fail sandbox "$(gone)"; fi
# ProtectSystem=strict: in the unit's mount namespace (entered by nsenter, without the unit's
# seccomp filter or capabilities) the system is read-only even for root, and the dynamic user
# writes only to its StateDirectory and private /tmp. ns_write USER DIR: "rw" or touch's error.
ns_write() {
  local as=(); [ "$1" = root ] || as=(-S "$1" -G "$1")
  nsenter -t "$PID" -m "${as[@]}" sh -c "touch '$2/.anpr-test' 2>&1 && rm -f '$2/.anpr-test' && echo rw" | tail -1 | sed 's/^.*: //'
}
r_usr=$(ns_write root /usr); r_etc=$(ns_write root /etc); r_conf=$(ns_write root /etc/anpr-edge)
u_conf=$(ns_write "$uid" /etc/anpr-edge); u_state=$(ns_write "$uid" /var/lib/anpr-edge); u_tmp=$(ns_write "$uid" /tmp)
# Judged only if the process was there throughout: an empty answer from a vanished namespace
# is not an open sandbox.
if same_process; then
  [[ "$r_usr" == *Read-only* ]] && [[ "$r_etc" == *Read-only* ]] && [[ "$r_conf" == *Read-only* ]] && [ "$u_conf" != rw ] && [ "$u_state" = rw ] && [ "$u_tmp" = rw ]
  verdict $? protect-system "writes in the unit's namespace: root: /usr $r_usr, /etc $r_etc, /etc/anpr-edge $r_conf; uid $uid: /etc/anpr-edge $u_conf, /var/lib/anpr-edge $u_state, /tmp $u_tmp"
else fail protect-system "$(gone)"; fi

# StateDirectory=anpr-edge with DynamicUser: /var/lib/private/anpr-edge (as the postinst lays it
# out), handed to the dynamic user with StateDirectoryMode=0700.
link=$(readlink /var/lib/anpr-edge)
priv=$(stat -c '%a %u' /var/lib/private); dir=$(stat -c '%a %u' /var/lib/private/anpr-edge)
[ "$link" = private/anpr-edge ] && [ "$priv" = "700 0" ] && [ "$dir" = "700 $uid" ]
verdict $? state-directory "/var/lib/anpr-edge -> $link, /var/lib/private mode/owner $priv, /var/lib/private/anpr-edge $dir"

# Reads: ONNX Runtime and OpenCV ran inside the sandbox (a system call outside the filter or a
# refused W+X mapping would have killed the daemon or failed the models).
has_read() {
  local t
  for t in $EXPECTED; do grep -q "\"text\":\"$t\"" <(tr O 0 < "$T/reads") && return 0; done
  return 1
}
wait_for 150 has_read
rc=$?
first=$(grep -m1 -o '"text":"[^"]*"' "$T/reads")
verdict $rc reads "$(grep -c . "$T/reads") read records on anpr/box-001/reads $(since "$t_ready") s after READY (first $first; expected one of: $EXPECTED)"
grep -m1 ' {' "$T/reads" | grep -q '"schema":"anpr-edge/read/3"' && grep -q '/images/.*/overview [0-9]\{4,\}$' "$T/all"
verdict $? read-record "schema anpr-edge/read/3, overview image published: $(grep -c '/images/' "$T/all") image messages"
grep -q '"state":"online"' "$T/status" && ! grep -q '"clock":{"state":"unknown"' "$T/status"
verdict $? clock-adjtimex "status heartbeat $(grep -m1 -o '"clock":{[^}]*}' "$T/status") (not unknown: adjtimex passed the filter)"

spool=/var/lib/private/anpr-edge/spool
files=$(find "$spool" -type f 2> /dev/null | wc -l); bytes=$(du -sb "$spool" 2> /dev/null | cut -f1)
owner=$(stat -c %u "$spool" 2> /dev/null)
[ "$files" -gt 0 ] && [ "${bytes:-0}" -gt 0 ] && [ "$owner" = "$uid" ]
verdict $? spool "$spool: $files files, $bytes bytes, owner $owner"

# The watchdog is fed from the pipeline loop: over at least 30 s of running the pings keep
# coming, from the same process, and the longest gap between them is this host's frame cost.
# Four pings are waited for, not counted in a fixed span: on a starved host one frame took
# 12 s, and three pings in 30 s were a slow pipeline, not a hung one (the gap is what judges).
fed_long_enough() { awk -v a="$t_ready" '{ exit !($1 - a > 30) }' /proc/uptime && [ "$(pings)" -ge 4 ]; }
wait_for $((WATCHDOG_S / 2)) fed_long_enough
gap=$(ping_gap); count=$(pings)
same_process && [ "$count" -ge 4 ] && [ "$gap" -lt "$WATCHDOG_S" ] && ! journal | grep -q 'Watchdog timeout'
verdict $? watchdog-fed "active $(since "$t_ready") s: $count pings, at most $gap s apart (WatchdogSec=${WATCHDOG_S}s while measuring), NRestarts=$(prop NRestarts), no timeout"
kill "$sampler" 2> /dev/null

# From the measured gap, the watchdog the freeze is judged against: three times the slowest
# frame seen and a margin, never under 20 s, so a slow host is not taken for a hung daemon.
WATCHDOG_S=$(( 3 * gap + 10 )); [ "$WATCHDOG_S" -ge 20 ] || WATCHDOG_S=20
printf '[Service]\nWatchdogSec=%ss\n' "$WATCHDOG_S" > /etc/systemd/system/anpr-edge.service.d/test-watchdog.conf
systemctl daemon-reload
t0=$(now)
systemctl restart "$UNIT"
PID=$(prop MainPID); RESTARTS=$(prop NRestarts)
[ "$(prop ActiveState)/$(prop SubState)" = active/running ] && [ "$(prop WatchdogUSec)" = "$(span "$WATCHDOG_S")" ]
verdict $? watchdog-set "WatchdogSec=${WATCHDOG_S}s from a longest ping gap of $gap s; restarted in $(since "$t0") s, MainPID $PID"

# Frozen (every process of the unit stopped), the pipeline stops feeding the watchdog: systemd
# must kill the unit (SIGABRT) and Restart=always start it again.
restarts=$(prop NRestarts)
t0=$(now)
systemctl kill --signal=SIGSTOP "$UNIT"
sleep 0.5
frozen=$(awk '/^State:/ { print $2 }' "/proc/$PID/status")
restarted() { [ "$(prop NRestarts)" -gt "$restarts" ]; }
wait_for $((WATCHDOG_S + 30)) restarted
rc=$?
[ "$rc" = 0 ] && [ "$frozen" = T ] && journal | grep -q 'Watchdog timeout'
verdict $? watchdog-fires "frozen (state $frozen) at +0 s; $(journal | grep -m1 -o 'Watchdog timeout.*'); $(journal | grep -o "Failed with result '[a-z-]*'" | tail -1); NRestarts $restarts -> $(prop NRestarts) after $(since "$t0") s"
running_again() { [ "$(prop ActiveState)/$(prop SubState)" = active/running ] && [ "$(prop MainPID)" != "$PID" ]; }
wait_for 180 running_again
verdict $? watchdog-restart "$(prop ActiveState)/$(prop SubState) again, MainPID $PID -> $(prop MainPID), uid $(uid_of "$(prop MainPID)"), READY $(since "$t0") s after the freeze"

# A clean stop: SIGTERM, exit 0 within TimeoutStopSec, "offline" published.
limit=$(prop TimeoutStopUSec)
t0=$(now)
systemctl stop "$UNIT"
took=$(since "$t0")
result="ExecMainCode=$(prop ExecMainCode) ExecMainStatus=$(prop ExecMainStatus) Result=$(prop Result) $(prop ActiveState)"
[ "$result" = "ExecMainCode=1 ExecMainStatus=0 Result=success inactive" ] && awk -v t="$took" -v l="${limit%s}" 'BEGIN { exit !(t < l) }'
verdict $? stop-clean "$result (exited, status 0) in $took s (TimeoutStopSec=$limit)"
wait_for 10 sh -c "tail -1 '$T/status' | grep -q '\"state\":\"offline\"'"
verdict $? offline "last status: $(tail -1 "$T/status" | grep -o '"reason":"[a-z ]*"\|"state":"[a-z]*"' | tr '\n' ' ')"

# No process of the unit killed by a seccomp filter: no SIGSYS (status 31/SYS), no seccomp audit
# record (the unit's SystemCallErrorNumber=EPERM makes its filter refuse rather than kill; this
# catches a unit without it, and any other filter).
sigsys=$( { journal; journalctl -b -k --no-pager -o cat; } | grep -E 'status=31/SYS|SIGSYS|type=1326|seccomp' | sort -u | tr '\n' '|' )
[ -z "$sigsys" ]
verdict $? no-sigsys "${sigsys:-the journal of the unit and the kernel log name no SIGSYS or seccomp kill}"

journal | sed 's/^/SYSTEMDJOURNAL /'
echo "SYSTEMDTEST exit $failures"
sync
systemctl poweroff --force --force
