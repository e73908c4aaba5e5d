#!/usr/bin/env bash
# Run the OTHER Debian release's libvirt + QEMU next to the host's, for stable_rescue's
# real-libvirt tests (project issue 10: every CI run tests Debian 12 and Debian 13's libvirt).
#
# On a Debian 12 "bookworm" host (libvirt 9.0 / QEMU 7.2) this builds a Debian 13 "trixie"
# root (libvirt 11.3 / QEMU 10.0) with debootstrap, and the other way round on a trixie host.
# It then starts virtlogd and libvirtd chrooted into it, without systemd, and prints on stdout
# exactly one line: the URI that reaches that libvirtd from the host's virsh,
#
#     qemu:///system?socket=ROOT/run/libvirt/libvirt-sock
#
# Everything else goes to stderr. Run as root:
#
#     URI=$(bash scripts/libvirt-other-root.sh /var/tmp/stable-rescue-libvirt)
#     STABLE_RESCUE_LIBVIRT_URI="$URI" STABLE_RESCUE_LIBVIRT_WORKDIR=/var/tmp/stable-rescue-libvirt \
#         STABLE_RESCUE_REQUIRE_LIBVIRT=1 python3 -m pytest -m libvirt
#     bash scripts/libvirt-other-root.sh --stop
#
# WORKDIR (argument, --workdir, or $STABLE_RESCUE_LIBVIRT_WORKDIR; default
# /var/tmp/stable-rescue-libvirt) is where the tests put every file QEMU opens: it is
# bind-mounted at the same path inside the root, so the chroot's QEMU finds them.
#
# The host is never changed beyond ROOT and WORKDIR (and installing debootstrap if missing):
#   * every mount the daemons need (/proc, /dev, /sys, WORKDIR) is made inside a private mount
#     namespace (unshare) that only the chroot's daemons and QEMUs live in; the host's mount
#     table never sees them, and they vanish with the last process in that namespace;
#   * package installs run in a namespace of their own, with the root's own /dev (the static
#     nodes debootstrap made), so no maintainer script can touch the host's /dev;
#   * the root's qemu.conf turns off QEMU's mount namespaces (cannot be built inside a chroot)
#     and cgroups (so its domains never meet the host libvirt's in /sys/fs/cgroup);
#   * daemons are recognised by their pid files under ROOT/run and by their root directory
#     (/proc/PID/root is ROOT), never by name: the host's own libvirtd and virtlogd, which
#     have the same names, are never looked at, stopped or restarted.
#
# Idempotent: a complete root is not bootstrapped again, installed packages are not installed
# again, running daemons are not started again. --stop stops only the daemons (and their QEMUs)
# that run in ROOT; ROOT itself stays, so the next start takes seconds.
#
# Cost, measured on 2 cores from nothing (Debian 12 host, trixie root, deb.debian.org):
# debootstrap ~22s, apt-get update ~1s, base packages ~8s, first daemon start ~8s (libvirtd
# probes QEMU's capabilities), ~40s in all; the root takes ~370 MB.
# --extra-arches adds ~10s of installs, ~700 MB (qemu-efi-aarch64 alone ~390 MB) and ~35s to the
# first daemon start (libvirtd probes every installed QEMU binary), so it is off by default.
#
# shellcheck disable=SC2016  # the single-quoted scripts run in other shells, on purpose
set -euo pipefail

PROG=libvirt-other-root
MIRROR=${STABLE_RESCUE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=${STABLE_RESCUE_OTHER_ROOT:-}
WORKDIR=${STABLE_RESCUE_LIBVIRT_WORKDIR:-}
RELEASE=${STABLE_RESCUE_OTHER_RELEASE:-}
EXTRA_ARCHES=${STABLE_RESCUE_OTHER_EXTRA_ARCHES:-0}
DEFAULT_WORKDIR=/var/tmp/stable-rescue-libvirt
STATE_BASE=/var/lib/stable-rescue
WAIT_SECONDS=60
MODE=start

# QEMU and the libvirt pieces the tests use. libvirt-daemon-driver-secret (rbd/iscsi secrets)
# is its own package from Debian 13 on; in Debian 12 the secret driver is in libvirt-daemon.
BASE_PACKAGES=(
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
    qemu-system-x86 qemu-utils ovmf
)
EXTRA_PACKAGES=(qemu-system-arm qemu-system-ppc qemu-system-misc qemu-efi-aarch64)
CHROOT_PATH=/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    cat >&2 <<EOF
usage: $0 [options] [WORKDIR]
       $0 --stop [--root DIR]
       $0 --status [--root DIR]

Builds (once) a debootstrap root of the other Debian release than the host's, starts its
virtlogd and libvirtd, and prints the URI that reaches them (the only line on stdout).

  WORKDIR, --workdir DIR  directory for the tests' files, seen at the same path inside the
                          root (default: \$STABLE_RESCUE_LIBVIRT_WORKDIR, else $DEFAULT_WORKDIR)
  --root DIR              the root (default: \$STABLE_RESCUE_OTHER_ROOT, else
                          $STATE_BASE/RELEASE)
  --release NAME          the release to build (default: \$STABLE_RESCUE_OTHER_RELEASE, else
                          trixie on a bookworm host, bookworm on a trixie host)
  --mirror URL            Debian mirror (default: \$STABLE_RESCUE_DEBIAN_MIRROR, else
                          http://deb.debian.org/debian)
  --extra-arches          also install ${EXTRA_PACKAGES[*]}
                          (or \$STABLE_RESCUE_OTHER_EXTRA_ARCHES=1)
  --stop                  stop the daemons (and their QEMUs) running in the root
  --status                print the URI and exit 0 if the root's libvirtd runs, else exit 3
EOF
}

# ---------------------------------------------------------------------------------------------
# Arguments.
while [ $# -gt 0 ]; do
    case $1 in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --root=*) ROOT=${1#*=}; shift ;;
    --workdir) WORKDIR=${2:?--workdir needs a directory}; shift 2 ;;
    --workdir=*) WORKDIR=${1#*=}; shift ;;
    --release) RELEASE=${2:?--release needs a name}; shift 2 ;;
    --release=*) RELEASE=${1#*=}; shift ;;
    --mirror) MIRROR=${2:?--mirror needs a URL}; shift 2 ;;
    --mirror=*) MIRROR=${1#*=}; shift ;;
    --extra-arches) EXTRA_ARCHES=1; shift ;;
    --no-extra-arches) EXTRA_ARCHES=0; shift ;;
    --stop) MODE=stop; shift ;;
    --status) MODE=status; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) usage; die "unknown option: $1" ;;
    *) break ;;
    esac
done
if [ $# -gt 0 ]; then
    WORKDIR=$1
    shift
fi
[ $# -eq 0 ] || { usage; die "too many arguments: $*"; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mounts, libvirtd)"

if [ -z "$RELEASE" ]; then
    # shellcheck disable=SC1091
    host_release=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
    case $host_release in
    bookworm) RELEASE=trixie ;;
    trixie) RELEASE=bookworm ;;
    *) die "host release '${host_release:-unknown}' is neither bookworm nor trixie; give --release" ;;
    esac
fi
case $RELEASE in
*[!a-z]* | '') die "bad release name: $RELEASE" ;;
esac
# Debian 12 has the secret driver inside libvirt-daemon; later releases split it out.
if [ "$RELEASE" != bookworm ]; then
    BASE_PACKAGES+=(libvirt-daemon-driver-secret)
fi

ROOT=${ROOT:-$STATE_BASE/$RELEASE}
case $ROOT in /*) ;; *) die "--root must be an absolute path: $ROOT" ;; esac
ROOT=$(realpath -m -- "$ROOT")
[ "$ROOT" != / ] || die "--root must not be /"
URI="qemu:///system?socket=$ROOT/run/libvirt/libvirt-sock"
MARKER=$ROOT/.stable-rescue-root

# ---------------------------------------------------------------------------------------------
# Processes and mounts of the root.

# The device:inode of a directory; two paths with the same one are the same directory.
dir_id() { stat -L -c '%d:%i' -- "$1" 2>/dev/null; }

# True if PID is alive, runs chrooted in ROOT, and its command name is NAME (if given).
pid_in_root() { # pid_in_root PID [NAME]
    local pid=$1 name=${2:-} root_id
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    [ -d "/proc/$pid" ] || return 1
    root_id=$(dir_id "$ROOT") || return 1
    [ "$(dir_id "/proc/$pid/root")" = "$root_id" ] || return 1
    [ -z "$name" ] || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]
}

# The pid of the root's daemon NAME (from ROOT/run/NAME.pid) if it is running, else nothing.
daemon_pid() { # daemon_pid NAME
    local pid
    pid=$(head -n1 "$ROOT/run/$1.pid" 2>/dev/null | tr -dc 0-9) || true
    if pid_in_root "$pid" "$1"; then printf '%s\n' "$pid"; fi
}

# Every process whose root directory is ROOT (the daemons, their QEMUs, chroot shells).
pids_in_root() {
    local dir pid
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        if pid_in_root "$pid"; then printf '%s\n' "$pid"; fi
    done
}

# Mount points at or below ROOT in this (the host's) mount namespace, deepest first.
host_mounts_under_root() {
    awk -v root="$ROOT" '{
        path = $5; gsub(/\\040/, " ", path)
        if (path == root || index(path, root "/") == 1) print length(path) "\t" path
    }' /proc/self/mountinfo | sort -rn | cut -f2-
}

virsh_cmd() { # virsh_cmd ARGS...: the host's virsh, else the root's (same socket either way)
    if command -v virsh >/dev/null 2>&1; then
        LC_ALL=C timeout 30 virsh -c "$URI" "$@"
    else
        timeout 30 chroot "$ROOT" /usr/bin/env -i PATH=$CHROOT_PATH LC_ALL=C virsh -c qemu:///system "$@"
    fi
}

stop_pid() { # stop_pid PID WHAT: TERM, wait up to 20s, then KILL
    local pid=$1 what=$2 i
    log "stopping $what (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 40; i++)); do
        [ -d "/proc/$pid" ] || return 0
        sleep 0.5
    done
    log "warning: $what (pid $pid) ignored SIGTERM for 20s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# Modes that only look at or stop what runs in ROOT.

if [ "$MODE" = status ]; then
    if [ -n "$(daemon_pid libvirtd)" ] && virsh_cmd version >/dev/null 2>&1; then
        printf '%s\n' "$URI"
        exit 0
    fi
    log "no libvirtd of $ROOT is running"
    exit 3
fi

if [ "$MODE" = stop ]; then
    if [ ! -d "$ROOT" ]; then
        log "$ROOT does not exist; nothing to stop"
        exit 0
    fi
    pid=$(daemon_pid libvirtd)
    if [ -n "$pid" ]; then
        # Its domains first: a QEMU outlives libvirtd and would keep the namespace alive.
        if running=$(virsh_cmd list --name 2>/dev/null); then
            for name in $running; do
                log "destroying domain $name of the root's libvirtd"
                virsh_cmd destroy "$name" >&2 || log "warning: could not destroy $name"
            done
        fi
        stop_pid "$pid" "the root's libvirtd"
    fi
    pid=$(daemon_pid virtlogd)
    if [ -n "$pid" ]; then stop_pid "$pid" "the root's virtlogd"; fi
    # QEMUs the root's libvirtd left running (it was killed, or a destroy failed).
    for pid in $(pids_in_root); do
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
        case $comm in
        qemu-* | libvirtd | virtlogd) stop_pid "$pid" "leftover $comm of the root" ;;
        *) log "warning: pid $pid ($comm) still runs in $ROOT; not ours to stop, leaving it" ;;
        esac
    done
    # This script mounts nothing in the host's namespace; these are leftovers of a crashed
    # debootstrap or of someone's manual chroot work. Unmount them deepest first.
    while IFS= read -r mnt; do
        [ -n "$mnt" ] || continue
        log "unmounting $mnt"
        umount "$mnt" 2>/dev/null || umount -l "$mnt" || log "warning: could not unmount $mnt"
    done < <(host_mounts_under_root)
    log "stopped; $ROOT is kept (remove it with: rm -rf --one-file-system $ROOT)"
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# Start mode: check the work directory.

WORKDIR=${WORKDIR:-$DEFAULT_WORKDIR}
case $WORKDIR in /*) ;; *) die "the work directory must be an absolute path: $WORKDIR" ;; esac
WORKDIR=${WORKDIR%/}
# realpath -m resolves the symlinks of the part that exists and tidies the rest (//, /./, /../).
real_workdir=$(realpath -m -- "$WORKDIR")
[ "$real_workdir" = "$WORKDIR" ] ||
    die "the work directory must be given by its real path ($real_workdir, not $WORKDIR): the root sees only that one"
case $WORKDIR in
/*/*) ;;
*) die "refusing work directory $WORKDIR: give a directory at least two levels deep" ;;
esac
case ${WORKDIR#/} in
bin/* | boot/* | dev/* | etc/* | lib/* | lib32/* | lib64/* | libx32/* | proc/* | run/* | sbin/* | sys/* | usr/*)
    die "refusing work directory $WORKDIR: it would hide part of the root's system" ;;
var/lib | var/log | var/cache | var/run | var/lib/dpkg* | var/lib/apt* | var/lib/libvirt | var/log/libvirt | var/cache/libvirt | var/lib/libvirt/qemu*)
    die "refusing work directory $WORKDIR: it would hide part of the root's system" ;;
esac
case $ROOT/ in "$WORKDIR"/*) die "the root $ROOT must not lie inside the work directory $WORKDIR" ;; esac
case $WORKDIR/ in "$ROOT"/*) die "the work directory $WORKDIR must not lie inside the root $ROOT" ;; esac
mkdir -p -- "$WORKDIR"

start_total=$SECONDS
timings=()

# ---------------------------------------------------------------------------------------------
# 1. The root, made once with debootstrap.

root_complete() {
    [ -f "$MARKER" ] && [ ! -e "$ROOT/debootstrap" ] && [ -x "$ROOT/usr/bin/apt-get" ]
}

if root_complete; then
    log "root $ROOT ($RELEASE) already bootstrapped"
else
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap on the host"
        t=$SECONDS
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2 || {
            DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2
        }
        timings+=("host debootstrap package $((SECONDS - t))s")
    fi
    [ -z "$(host_mounts_under_root)" ] ||
        die "something is mounted under the incomplete root $ROOT; run '$0 --stop --root $ROOT' first"
    [ -z "$(pids_in_root)" ] || die "processes run inside the incomplete root $ROOT; stop them first"
    if [ -e "$ROOT" ]; then
        # Only a failed run of ours (debootstrap leaves ROOT/debootstrap behind) or an empty
        # directory is removed; anything else may be someone's data.
        if [ -d "$ROOT/debootstrap" ] || [ -f "$MARKER" ] || [ -z "$(ls -A -- "$ROOT")" ]; then
            log "removing the incomplete root $ROOT"
            rm -rf --one-file-system -- "$ROOT"
        else
            die "$ROOT exists but is not a root made by this script; move it away or give --root"
        fi
    fi
    mkdir -p -- "$ROOT"
    log "debootstrap $RELEASE (minbase) into $ROOT from $MIRROR"
    t=$SECONDS
    bootstrap_log=$(mktemp /tmp/stable-rescue-debootstrap.XXXXXX)
    # In a mount namespace of its own: the /proc and /sys debootstrap mounts in the target
    # never show in the host's mount table, even if it dies half way.
    if ! unshare --mount --propagation slave \
        debootstrap --variant=minbase "$RELEASE" "$ROOT" "$MIRROR" >"$bootstrap_log" 2>&1; then
        tail -n 30 "$bootstrap_log" >&2
        log "the whole debootstrap log: $bootstrap_log"
        die "debootstrap failed"
    fi
    rm -f -- "$bootstrap_log"
    printf 'release=%s\nmirror=%s\n' "$RELEASE" "$MIRROR" >"$MARKER"
    timings+=("debootstrap $((SECONDS - t))s")
    log "debootstrap done in $((SECONDS - t))s"
fi

# ---------------------------------------------------------------------------------------------
# 2. Packages inside the root.

# Run a command chrooted into ROOT in a private mount namespace with a fresh /proc and the
# root's own /dev: whatever a maintainer script does, the host's /dev and mounts stay as they are.
in_root() {
    unshare --mount --propagation slave /bin/sh -euc '
        root=$1
        shift
        for m in dev sys proc; do
            if mountpoint -q "$root/$m"; then umount -R "$root/$m"; fi
        done
        mount -t proc proc "$root/proc"
        exec chroot "$root" /usr/bin/env -i PATH='"$CHROOT_PATH"' LANG=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive "$@"
    ' in_root "$ROOT" "$@"
}

# Write stdin to FILE inside the root (resolved inside the root, so symlinks cannot escape it)
# unless it already holds exactly that.
put_file() { # put_file FILE MODE < content
    local content
    content=$(cat)
    if [ "$(chroot "$ROOT" /bin/cat "$1" 2>/dev/null || true)" != "$content" ]; then
        printf '%s\n' "$content" | chroot "$ROOT" /bin/sh -c 'rm -f "$1" && cat >"$1" && chmod "$2" "$1"' put_file "$1" "$2"
    fi
}

put_file /usr/sbin/policy-rc.d 0755 <<'EOF'
#!/bin/sh
# stable_rescue: no maintainer script may start a service in this root.
exit 101
EOF
put_file /etc/apt/apt.conf.d/90stable-rescue 0644 <<'EOF'
// stable_rescue: small, quiet and fast installs.
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Acquire::PDiffs "false";
Acquire::Retries "3";
Dpkg::Use-Pty "false";
EOF
put_file /etc/dpkg/dpkg.cfg.d/90stable-rescue 0644 <<'EOF'
# stable_rescue: no documentation or translations; no fsync (a throwaway root).
force-unsafe-io
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
EOF
# Name resolution for apt (debootstrap copied it once; the host's may have changed since).
if [ -f /etc/resolv.conf ]; then
    # shellcheck disable=SC2094  # reads the host's file, writes the root's
    put_file /etc/resolv.conf 0644 </etc/resolv.conf
fi

packages_installed() { # packages_installed PACKAGES...: all of them fully installed?
    local status
    status=$(in_root dpkg-query -W -f='${db:Status-Abbrev}\n' "$@" 2>/dev/null) || return 1
    [ "$(printf '%s\n' "$status" | grep -c '^ii ')" -eq $# ]
}

APT_LOG=/var/log/stable-rescue-apt.log
apt_updated=0
install_packages() { # install_packages LABEL PACKAGES...
    local label=$1 t
    shift
    if packages_installed "$@"; then
        log "$label packages already installed"
        return 0
    fi
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update in the root"
        t=$SECONDS
        in_root /bin/sh -c 'apt-get -q update >>"$1" 2>&1' sh "$APT_LOG" ||
            { tail -n 30 "$ROOT$APT_LOG" >&2; die "apt-get update failed in $ROOT"; }
        timings+=("apt-get update $((SECONDS - t))s")
        apt_updated=1
    fi
    log "installing $label packages in the root: $*"
    t=$SECONDS
    in_root /bin/sh -c 'log=$1; shift; apt-get -q -y install "$@" >>"$log" 2>&1 && apt-get clean' \
        sh "$APT_LOG" "$@" ||
        { tail -n 30 "$ROOT$APT_LOG" >&2; die "installing $label packages failed in $ROOT (log: $ROOT$APT_LOG)"; }
    timings+=("install $label $((SECONDS - t))s")
    log "$label packages installed in $((SECONDS - t))s"
}

install_packages base "${BASE_PACKAGES[@]}"
if [ "$EXTRA_ARCHES" = 1 ]; then
    install_packages extra-arches "${EXTRA_PACKAGES[@]}"
fi

# ---------------------------------------------------------------------------------------------
# 3. What the packages' systemd units and postinst would do (see libvirt-test-host.sh):
#    the kvm group, the libvirt-qemu user, libvirt's directories, QEMU as root.
#    Debian 12's libvirtd refuses to start without a libvirt-qemu group (its
#    libvirt-daemon-system postinst, not installed here, makes one); Debian 13's packages make
#    both themselves. Debian's ids (64055) where they are free.
chroot "$ROOT" /usr/bin/env -i PATH=$CHROOT_PATH /bin/sh -euc '
    free_id() { ! getent "$1" 64055 >/dev/null; }
    getent group kvm >/dev/null || groupadd --system kvm
    if ! getent group libvirt-qemu >/dev/null; then
        if free_id group; then groupadd --system --gid 64055 libvirt-qemu
        else groupadd --system libvirt-qemu; fi
    fi
    if ! getent passwd libvirt-qemu >/dev/null; then
        uid=
        if free_id passwd; then uid=64055; fi
        useradd --system ${uid:+--uid "$uid"} --no-create-home --home-dir /var/lib/libvirt \
            --shell /usr/sbin/nologin --gid kvm --groups libvirt-qemu libvirt-qemu
    fi
    mkdir -p /var/log/libvirt /var/lib/libvirt /var/cache/libvirt /run/libvirt "$1"
' sh "$WORKDIR"

QEMU_CONF=/etc/libvirt/qemu.conf
conf_changed=0
set_conf() { # set_conf KEY VALUE (VALUE as written in qemu.conf: "root", [ ])
    local out
    out=$(chroot "$ROOT" /usr/bin/env -i PATH=$CHROOT_PATH /bin/sh -euc '
        conf=$1 key=$2 value=$3
        line="$key = $value"
        [ -e "$conf" ] || { mkdir -p "${conf%/*}"; : >"$conf"; }
        if grep -Eq "^[[:space:]]*$key[[:space:]]*=" "$conf"; then
            if ! grep -Fxq "$line" "$conf"; then
                sed -i -E "s|^[[:space:]]*$key[[:space:]]*=.*\$|$line|" "$conf"
                echo changed
            fi
        else
            printf "# stable_rescue other-release root: %s\n%s\n" "$key" "$line" >>"$conf"
            echo changed
        fi
    ' sh "$QEMU_CONF" "$1" "$2")
    if [ -n "$out" ]; then conf_changed=1; fi
}
set_conf user '"root"'
set_conf group '"root"'
# QEMU's private /dev needs a mount namespace of its own, which cannot be built in a chroot.
set_conf namespaces '[ ]'
# Keep this libvirt's domains out of the cgroup tree the host's libvirt manages.
set_conf cgroup_controllers '[ ]'

# ---------------------------------------------------------------------------------------------
# 4. The daemons, virtlogd first, each in the root's private mount namespace.
t=$SECONDS
need=()
pid=$(daemon_pid virtlogd)
if [ -n "$pid" ]; then
    log "the root's virtlogd already runs (pid $pid), leaving it alone"
else
    need+=(virtlogd)
fi
pid=$(daemon_pid libvirtd)
if [ -n "$pid" ]; then
    log "the root's libvirtd already runs (pid $pid), leaving it alone"
    if [ "$conf_changed" -eq 1 ]; then
        log "warning: $ROOT$QEMU_CONF changed but that libvirtd was already running; '$0 --stop' and start again to apply"
    fi
elif virsh_cmd version >/dev/null 2>&1; then
    log "something already answers on $URI without a libvirtd pid file of the root; leaving it alone"
else
    need+=(libvirtd)
fi

if [ ${#need[@]} -gt 0 ]; then
    log "starting in $ROOT: ${need[*]}"
    # The namespace lives as long as a process in it: the daemons and the QEMUs they start.
    # /dev, /sys and the work directory are recursive binds made slaves, so nothing done in
    # the root propagates back to the host. The root's /tmp stays its own.
    unshare --mount --propagation slave /bin/sh -euc '
        root=$1 workdir=$2
        shift 2
        for m in dev sys proc; do
            if mountpoint -q "$root/$m"; then umount -R "$root/$m"; fi
        done
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mount --make-rslave "$root/dev"
        mount --rbind /sys "$root/sys"
        mount --make-rslave "$root/sys"
        mount --rbind "$workdir" "$root$workdir"
        mount --make-rslave "$root$workdir"
        for daemon in "$@"; do
            chroot "$root" /usr/bin/env -i PATH='"$CHROOT_PATH"' LC_ALL=C "/usr/sbin/$daemon" -d \
                || { echo "$daemon -d failed in $root (see $root/var/log/libvirt/)" >&2; exit 1; }
        done
    ' start "$ROOT" "$WORKDIR" "${need[@]}" </dev/null >&2
fi

# libvirtd -d returns before its socket answers.
deadline=$((SECONDS + WAIT_SECONDS))
until out=$(virsh_cmd version 2>&1); do
    if [ -z "$(daemon_pid libvirtd)" ] && [[ " ${need[*]-} " == *" libvirtd "* ]] &&
        [ "$SECONDS" -ge $((t + 5)) ]; then
        tail -n 15 "$ROOT/var/log/libvirt/libvirtd.log" >&2 || true
        die "the root's libvirtd died at startup (above: the end of $ROOT/var/log/libvirt/libvirtd.log)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        die "no answer from '$URI' after ${WAIT_SECONDS}s; last error: $out"
    fi
    sleep 0.5
done
if [ ${#need[@]} -gt 0 ]; then timings+=("start ${need[*]} $((SECONDS - t))s"); fi
log "ready: $(printf '%s\n' "$out" | grep -i 'running hypervisor' || echo "$URI answers")"
if [ ${#timings[@]} -gt 0 ]; then
    log "timings: $(printf '%s, ' "${timings[@]}")total $((SECONDS - start_total))s"
    log "disk use of $ROOT: $(du -sxh -- "$ROOT" | cut -f1)"
fi
log "use: STABLE_RESCUE_LIBVIRT_URI='$URI' STABLE_RESCUE_LIBVIRT_WORKDIR='$WORKDIR'"
printf '%s\n' "$URI"
