#!/usr/bin/env bash
# Make this machine a libvirt + QEMU host for stable_rescue's real-libvirt tests.
#
# Run as root on a plain Debian 12 machine where systemd is not running (containers, CI
# runners): installs the packages, does by hand what the packages' systemd units would do,
# starts virtlogd and libvirtd, and waits until qemu:///system answers.
# Idempotent: safe to run again; never stops or restarts daemons that are already running.
set -euo pipefail

PACKAGES=(
    libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
    qemu-system-x86 qemu-utils ovmf xorriso nasm
    # The golden cases of arm virt, pseries and s390x guests (and arm's UEFI firmware).
    qemu-system-arm qemu-system-ppc qemu-system-misc qemu-efi-aarch64
    # virt-xml, whose output docs/comparison.md shows and the docs test checks.
    virtinst
)
QEMU_CONF=/etc/libvirt/qemu.conf
URI=qemu:///system
WAIT_SECONDS=30

log() { printf 'libvirt-test-host: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (libvirtd needs it to manage qemu:///system)"

# 1. Packages. dpkg -s fails if any one is missing or only half installed; skipping
#    apt-get update then keeps repeated runs fast and offline.
if dpkg -s "${PACKAGES[@]}" >/dev/null 2>&1; then
    log "packages already installed"
else
    log "installing: ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${PACKAGES[@]}"
fi

# 2. What the packages' postinst normally does, which can be skipped or fail without systemd.
#    libvirt refers to the kvm group and the libvirt-qemu user even when QEMU runs as root.
getent group kvm >/dev/null || groupadd --system kvm
getent passwd libvirt-qemu >/dev/null ||
    useradd --system --no-create-home --home-dir /var/lib/libvirt \
        --shell /usr/sbin/nologin --gid kvm libvirt-qemu
# /run is a tmpfs (empty after every boot) and nothing else creates these without systemd.
mkdir -p /var/log/libvirt /var/lib/libvirt /var/cache/libvirt /run/libvirt

# 3. Run QEMU as root: without systemd/udev nobody fixes permissions on /dev or on images.
#    An active (uncommented) setting is rewritten in place; otherwise a marked block is
#    appended once, so re-runs never add duplicates.
[ -f "$QEMU_CONF" ] || die "$QEMU_CONF missing although libvirt-daemon-driver-qemu is installed"
conf_changed=0
set_conf() { # set_conf KEY VALUE
    local key=$1 value=$2 line
    line="$key = \"$value\""
    if grep -Eq "^[[:space:]]*$key[[:space:]]*=" "$QEMU_CONF"; then
        if ! grep -Eq "^[[:space:]]*$key[[:space:]]*=[[:space:]]*\"$value\"[[:space:]]*$" "$QEMU_CONF"; then
            sed -i -E "s|^[[:space:]]*$key[[:space:]]*=.*$|$line|" "$QEMU_CONF"
            conf_changed=1
        fi
    else
        printf '# stable_rescue test host: %s\n%s\n' "$key" "$line" >>"$QEMU_CONF"
        conf_changed=1
    fi
}
set_conf user root
set_conf group root

# 4. Daemons, virtlogd first (libvirtd sends QEMU's output to it). Both daemonize with -d.
#    Never touch a daemon we did not start: someone may be using it.
host_pids() { # host_pids NAME: the pids of NAME running in the host's root, not in a chroot
    local pid
    for pid in $(pgrep -x "$1" || true); do
        [ "$(readlink "/proc/$pid/root")" = / ] && echo "$pid"
    done
    return 0
}
start_daemon() { # start_daemon NAME
    local pids
    pids=$(host_pids "$1" | paste -sd " ")
    if [ -n "$pids" ]; then
        log "$1 already running (pid $pids), leaving it alone"
        return 1
    fi
    log "starting $1"
    "$1" -d || die "$1 -d failed (see /var/log/libvirt/ or run '$1 -v' in the foreground)"
}
start_daemon virtlogd || true
if start_daemon libvirtd; then
    :
elif [ "$conf_changed" -eq 1 ]; then
    # A running libvirtd read qemu.conf at startup; it will not see the change until restarted.
    log "warning: $QEMU_CONF changed but libvirtd was already running; restart it yourself to apply"
fi

# 5. Wait, bounded, until the driver answers: libvirtd -d returns before its socket is ready.
deadline=$((SECONDS + WAIT_SECONDS))
until out=$(virsh -c "$URI" version 2>&1); do
    if [ "$SECONDS" -ge "$deadline" ]; then
        pgrep -x libvirtd >/dev/null || log "libvirtd is not running (crashed at startup?)"
        die "no answer from '$URI' after ${WAIT_SECONDS}s; last error: $out"
    fi
    sleep 1
done
log "ready: $(printf '%s\n' "$out" | grep -i 'running hypervisor' || echo "$URI answers")"
exit 0
