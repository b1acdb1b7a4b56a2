#!/bin/bash
# Records the real command outputs the Wi-Fi driver unit tests parse (tests/unit/wifi/).
#
# Runs as root inside the QEMU guest of harness.qemu (Debian kernel with mac80211_hwsim; the guest
# shares the host's /usr, so hostapd, wpa_supplicant, wpa_cli, hostapd_cli and iw are the host's).
# Re-run it from /work/main with:
#
#   python -c 'import pathlib; from harness.qemu import run_batch
#   r = run_batch(pathlib.Path("tests/data/wifi/record.sh").read_text(), timeout=400,
#                 workdir=pathlib.Path("/tmp/wifi-record")); print("rc", r.rc, r.duration)'
#
# then copy /tmp/wifi-record/results/{*.out,*.err,*.seconds,index.tsv,lab.env,wpa.log} into tests/data/wifi/
# (and update the values tests/unit/wifi/ pins: timestamps, link speeds, which AP came first).
# Each recorded command leaves NAME.out (stdout), NAME.err (stderr, when not empty) and a line
# "NAME<TAB>exit status<TAB>command" in index.tsv.  Nothing here is edited by hand.
#
# wpa_supplicant runs at its default debug level (no -d): the "SME: Trying to authenticate",
# "Trying to associate" and CTRL-EVENT-* lines harness.wifi.wpalog needs are INFO messages.
#
# Lab: 4 hwsim radios.  Namespace "ap": hostapd on wlan0 (channel 1) and wlan1 (channel 6), same
# open SSID.  Namespace "sta": wpa_supplicant on wlan2 (log with -t).  Namespace "iwsta": wlan3
# driven by iw alone.
set -u
OUT=${OUT:-$PWD}
SSID=hm6lab
CTRL_AP=/run/hostapd
CTRL_STA=/run/wpa_supplicant
: > "$OUT/index.tsv"

rec() {  # rec NAME NETNS COMMAND...
    local name=$1 ns=$2; shift 2
    ip netns exec "$ns" timeout 20 "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
    local rc=$?
    [ -s "$OUT/$name.err" ] || rm -f "$OUT/$name.err"
    printf '%s\t%s\t%s\n' "$name" "$rc" "$*" >> "$OUT/index.tsv"
    echo "== $name (rc $rc): $*"; cat "$OUT/$name.out"
    return 0
}
wpacli() { ip netns exec sta timeout 5 wpa_cli -p $CTRL_STA -i wlan2 "$@"; }
wait_state() {  # wait_state BSSID|any  (until wpa_state=COMPLETED on that BSS, 30 s)
    local i
    for i in $(seq 300); do
        local s; s=$(wpacli status 2>/dev/null)
        if echo "$s" | grep -q '^wpa_state=COMPLETED'; then
            [ "$1" = any ] && return 0
            echo "$s" | grep -q "^bssid=$1" && return 0
        fi
        sleep 0.1
    done
    echo "timeout waiting for COMPLETED on $1"; wpacli status; return 1
}
mac() { cat /sys/class/net/$1/address; }

modprobe mac80211_hwsim radios=4 || exit 2
for i in $(seq 50); do [ -e /sys/class/net/wlan3 ] && break; sleep 0.1; done
iw dev > "$OUT/iw_dev.txt"
for ns in ap sta iwsta; do ip netns add $ns; done
for pair in wlan0:ap wlan1:ap wlan2:sta wlan3:iwsta; do
    ifc=${pair%%:*}; ns=${pair##*:}
    iw phy "$(cat /sys/class/net/$ifc/phy80211/name)" set netns name $ns
done
AP1=$(ip netns exec ap cat /sys/class/net/wlan0/address)
AP2=$(ip netns exec ap cat /sys/class/net/wlan1/address)
STA=$(ip netns exec sta cat /sys/class/net/wlan2/address)
IWSTA=$(ip netns exec iwsta cat /sys/class/net/wlan3/address)
printf 'AP1=%s\nAP2=%s\nSTA=%s\nIWSTA=%s\nSSID=%s\n' "$AP1" "$AP2" "$STA" "$IWSTA" "$SSID" > "$OUT/lab.env"

for n in 0 1; do
    ch=$([ $n = 0 ] && echo 1 || echo 6)
    cat > /tmp/hostapd$n.conf <<EOF
interface=wlan$n
driver=nl80211
ctrl_interface=$CTRL_AP
ssid=$SSID
hw_mode=g
channel=$ch
EOF
    ip netns exec ap hostapd -B -P /run/hostapd$n.pid -t -f "$OUT/hostapd$n.log" /tmp/hostapd$n.conf || exit 3
done
for i in $(seq 100); do
    ip netns exec ap timeout 5 hostapd_cli -p $CTRL_AP -i wlan1 status 2>/dev/null | grep -q state=ENABLED && break
    sleep 0.1
done
rec hostapd_cli_status ap hostapd_cli -p $CTRL_AP -i wlan0 status
rec hostapd_cli_all_sta_empty ap hostapd_cli -p $CTRL_AP -i wlan0 all_sta

# --- iw-only station on wlan3 -------------------------------------------------------------------
ip netns exec iwsta ip link set wlan3 up
rec iw_link_not_connected iwsta iw dev wlan3 link
for i in $(seq 20); do
    ip netns exec iwsta iw dev wlan3 scan > /tmp/iwscan 2>&1
    grep -q "^BSS $AP1" /tmp/iwscan && grep -q "^BSS $AP2" /tmp/iwscan && break
    sleep 0.3
done
rec iw_scan iwsta iw dev wlan3 scan
rec iw_scan_dump iwsta iw dev wlan3 scan dump
rec iw_info iwsta iw dev wlan3 info
rec iw_connect iwsta iw dev wlan3 connect $SSID 2412 $AP1
for i in $(seq 100); do ip netns exec iwsta iw dev wlan3 link | grep -q "^Connected to $AP1" && break; sleep 0.1; done
rec iw_link_connected iwsta iw dev wlan3 link
rec iw_connect_while_connected iwsta iw dev wlan3 connect $SSID 2437 $AP2
rec hostapd_cli_all_sta_iw ap hostapd_cli -p $CTRL_AP -i wlan0 all_sta
rec iw_disconnect iwsta iw dev wlan3 disconnect
rec iw_disconnect_not_connected iwsta iw dev wlan3 disconnect
rec iw_connect_ap2 iwsta iw dev wlan3 connect $SSID 2437 $AP2
for i in $(seq 100); do ip netns exec iwsta iw dev wlan3 link | grep -q "^Connected to $AP2" && break; sleep 0.1; done
rec iw_link_connected_ap2 iwsta iw dev wlan3 link
rec iw_scan_busy_or_ok iwsta iw dev wlan3 scan trigger
rec iw_no_such_dev iwsta iw dev wlan9 link
ip netns exec iwsta iw dev wlan3 disconnect
ip netns exec iwsta ip link set wlan3 down
rec iw_scan_trigger_down iwsta iw dev wlan3 scan trigger
ip netns exec iwsta ip link set wlan3 up

# --- wpa_supplicant station on wlan2 ------------------------------------------------------------
cat > /tmp/wpa.conf <<EOF
ctrl_interface=$CTRL_STA
network={
    ssid="$SSID"
    key_mgmt=NONE
}
EOF
ip netns exec sta wpa_supplicant -B -i wlan2 -c /tmp/wpa.conf -t -f "$OUT/wpa.log" -P /run/wpa.pid || exit 4
for i in $(seq 50); do [ -S $CTRL_STA/wlan2 ] && break; sleep 0.1; done
rec wpa_cli_status_early sta wpa_cli -p $CTRL_STA -i wlan2 status
wait_state any || exit 5
rec wpa_cli_status_completed sta wpa_cli -p $CTRL_STA -i wlan2 status
CUR=$(wpacli status | sed -n 's/^bssid=//p')
if [ "$CUR" = "$AP1" ]; then OTHER=$AP2; else OTHER=$AP1; fi
rec wpa_cli_signal_poll sta wpa_cli -p $CTRL_STA -i wlan2 signal_poll
rec wpa_cli_scan sta wpa_cli -p $CTRL_STA -i wlan2 scan
rec wpa_cli_scan_again sta wpa_cli -p $CTRL_STA -i wlan2 scan
for i in $(seq 100); do
    r=$(wpacli scan_results)
    echo "$r" | grep -q "^$AP1" && echo "$r" | grep -q "^$AP2" && break
    sleep 0.1
done
rec wpa_cli_scan_results sta wpa_cli -p $CTRL_STA -i wlan2 scan_results
APIF=$([ "$CUR" = "$AP1" ] && echo wlan0 || echo wlan1)
OTHERIF=$([ "$CUR" = "$AP1" ] && echo wlan1 || echo wlan0)
rec hostapd_cli_all_sta ap hostapd_cli -p $CTRL_AP -i $APIF all_sta
rec hostapd_cli_status_sta ap hostapd_cli -p $CTRL_AP -i $APIF status
CURFREQ=$([ "$CUR" = "$AP1" ] && echo 2412 || echo 2437)
ip netns exec iwsta iw dev wlan3 connect $SSID $CURFREQ $CUR
for i in $(seq 100); do ip netns exec iwsta iw dev wlan3 link | grep -q "^Connected to $CUR" && break; sleep 0.1; done
rec hostapd_cli_all_sta_two ap hostapd_cli -p $CTRL_AP -i $APIF all_sta
ip netns exec iwsta iw dev wlan3 disconnect
ip netns exec iwsta ip link set wlan3 down
# a stopped hostapd: does hostapd_cli hang?  (seconds in hostapd_cli_stopped.seconds)
kill -STOP "$(cat /run/hostapd$([ "$APIF" = wlan0 ] && echo 1 || echo 0).pid)"
t0=$(date +%s.%N)
rec hostapd_cli_stopped ap hostapd_cli -p $CTRL_AP -i $OTHERIF status
t1=$(date +%s.%N)
echo "$t0 $t1" | awk '{printf "%.2f\n", $2 - $1}' > "$OUT/hostapd_cli_stopped.seconds"
kill -CONT "$(cat /run/hostapd$([ "$APIF" = wlan0 ] && echo 1 || echo 0).pid)"

# roams: to OTHER, back, and once more
rec wpa_cli_roam sta wpa_cli -p $CTRL_STA -i wlan2 roam $OTHER
wait_state $OTHER || exit 6
rec wpa_cli_status_roamed sta wpa_cli -p $CTRL_STA -i wlan2 status
sleep 1
wpacli roam $CUR; wait_state $CUR || exit 7
sleep 1
wpacli roam $OTHER; wait_state $OTHER || exit 8
rec wpa_cli_roam_unknown sta wpa_cli -p $CTRL_STA -i wlan2 roam 02:00:00:00:99:00
rec wpa_cli_no_such_iface sta wpa_cli -p $CTRL_STA -i wlan9 status

# AP side: deauthenticate the station (it is on OTHER now), it comes back
OTHERIF_NOW=$OTHERIF
rec hostapd_cli_deauthenticate ap hostapd_cli -p $CTRL_AP -i $OTHERIF_NOW deauthenticate $STA
sleep 0.3
wait_state any || exit 9
rec wpa_cli_status_after_deauth sta wpa_cli -p $CTRL_STA -i wlan2 status

# disable / enable the AP the station is on
NOW=$(wpacli status | sed -n 's/^bssid=//p')
NOWIF=$([ "$NOW" = "$AP1" ] && echo wlan0 || echo wlan1)
rec hostapd_cli_disable ap hostapd_cli -p $CTRL_AP -i $NOWIF disable
rec hostapd_cli_status_disabled ap hostapd_cli -p $CTRL_AP -i $NOWIF status
rec hostapd_cli_disable_again ap hostapd_cli -p $CTRL_AP -i $NOWIF disable
sleep 0.5
wait_state any || exit 10
rec hostapd_cli_enable ap hostapd_cli -p $CTRL_AP -i $NOWIF enable
for i in $(seq 100); do
    ip netns exec ap timeout 5 hostapd_cli -p $CTRL_AP -i $NOWIF status 2>/dev/null | grep -q state=ENABLED && break
    sleep 0.1
done
rec hostapd_cli_status_reenabled ap hostapd_cli -p $CTRL_AP -i $NOWIF status

# station-side disconnect / reassociate
rec wpa_cli_disconnect sta wpa_cli -p $CTRL_STA -i wlan2 disconnect
rec wpa_cli_status_disconnected sta wpa_cli -p $CTRL_STA -i wlan2 status
rec wpa_cli_signal_poll_disconnected sta wpa_cli -p $CTRL_STA -i wlan2 signal_poll
rec wpa_cli_reassociate sta wpa_cli -p $CTRL_STA -i wlan2 reassociate
wait_state any || exit 11
rec wpa_cli_status_reassociated sta wpa_cli -p $CTRL_STA -i wlan2 status

# kill the hostapd serving the station: it reconnects to the other AP
NOW=$(wpacli status | sed -n 's/^bssid=//p')
N=$([ "$NOW" = "$AP1" ] && echo 0 || echo 1)
kill "$(cat /run/hostapd$N.pid)"
sleep 0.5
wait_state any || exit 12
rec wpa_cli_status_after_ap_kill sta wpa_cli -p $CTRL_STA -i wlan2 status
rec hostapd_cli_no_daemon ap hostapd_cli -p $CTRL_AP -i wlan$N status
rec wpa_cli_signal_poll_2 sta wpa_cli -p $CTRL_STA -i wlan2 signal_poll

# a stopped wpa_supplicant: does wpa_cli hang?  (seconds in wpa_cli_stopped.seconds)
kill -STOP "$(cat /run/wpa.pid)"
t0=$(date +%s.%N)
rec wpa_cli_stopped sta wpa_cli -p $CTRL_STA -i wlan2 status
t1=$(date +%s.%N)
echo "$t0 $t1" | awk '{printf "%.2f\n", $2 - $1}' > "$OUT/wpa_cli_stopped.seconds"
kill -CONT "$(cat /run/wpa.pid)"

sleep 0.5
kill "$(cat /run/wpa.pid)" "$(cat /run/hostapd$((1 - N)).pid)" 2>/dev/null
sleep 0.5
echo "done"
