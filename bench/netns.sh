#!/bin/sh
# netns: bridge set-up plus teardown of one container with one published port: berth-netns
# against the CNI `bridge` + `portmap` plugins (Debian's containernetworking-plugins,
# /usr/lib/cni), both on subnet 10.214.0.0/24, alternating, median of $BENCH_RUNS runs
# (default 21). Each cycle makes a network namespace, a veth into the bridge, an address, the
# default route and a DNAT for host port 18080 -> 80, then removes them; the bridge and its
# outbound NAT are made by the warm-up and kept by both (berth's default bridge is kept as
# docker0 is; the CNI bridge plugin never deletes its bridge).
# Target: berth <= 0.5x CNI.
# peers: containernetworking-plugins iproute2 iptables
set -eu
: "${BENCH_RUNS:=21}"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cni=/usr/lib/cni
bin=$BERTH_BIN
if [ ! -x "$cni/bridge" ] || [ ! -x "$cni/portmap" ]; then
  echo "netns: install containernetworking-plugins" >&2
  exit 1
fi

# The CNI bridge plugin turns ip_forward on and never turns it off: put it back afterwards.
forward_before=$(cat /proc/sys/net/ipv4/ip_forward)
work=$(mktemp -d /tmp/berth-bench-netns.XXXXXX)  # short paths; not under BENCH_OUT
cleanup() {
  ip netns del berthbenchcni 2>/dev/null || true
  ip link del cnibench0 2>/dev/null || true
  # The portmap plugin leaves its top-level chains behind.
  cni_chains_clean
  BERTH_ROOT=$work/root BERTH_RUN_ROOT=$work/run "$bin/berth-netns" rm "$id" 2>/dev/null || true
  # The default bridge (berthbench0) and its base rules outlive the container, as docker0's do.
  BERTH_ROOT=$work/root BERTH_RUN_ROOT=$work/run "$bin/berth-netns" network prune -f >/dev/null 2>&1 || true
  grep -o "${work}[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
  echo "$forward_before" > /proc/sys/net/ipv4/ip_forward
}
cni_chains_mark
trap cleanup EXIT INT TERM

# berth: a container directory and record, as berth-unpack leaves them.
id=$(head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$work/root/networks" "$work/root/containers/$id/rootfs" "$work/run"
printf '{"bridge":"berthbench0","bip":"10.214.0.1/24"}\n' > "$work/root/networks/default.json"
cat > "$work/root/containers/$id/config.json" <<J
{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sh"],"env":["PATH=/bin"],"cwd":"/"},"root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"mount"}]}}
J
cat > "$work/record.json" <<J
{"berth":1,"id":"$id","name":"bench","bundle":{"path":"$work/root/containers/$id","rootfs":"$work/root/containers/$id/rootfs","driver":"dir","config":{}}}
J
cp "$work/record.json" "$work/root/containers/$id/record.json"
cat > "$work/berth-cycle.sh" <<S
#!/bin/sh
set -e
export BERTH_ROOT=$work/root BERTH_RUN_ROOT=$work/run
$bin/berth-netns - -p 18080:80 < $work/record.json > /dev/null
$bin/berth-netns rm $id
S

# CNI: the same through the plugins, driven as a runtime does (ADD bridge, ADD portmap with
# the bridge's result, DEL in reverse), with the namespace made and removed by ip netns.
cat > "$work/bridge.json" <<J
{"cniVersion":"1.0.0","name":"benchnet","type":"bridge","bridge":"cnibench0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.214.0.0/24","dataDir":"$work/cni-ipam"}}
J
cat > "$work/cni-cycle.sh" <<S
#!/bin/sh
set -e
export CNI_PATH=$cni CNI_CONTAINERID=berthbench CNI_NETNS=/run/netns/berthbenchcni CNI_IFNAME=eth0
ip netns add berthbenchcni
res=\$(CNI_COMMAND=ADD $cni/bridge < $work/bridge.json)
pm='{"cniVersion":"1.0.0","name":"benchnet","type":"portmap","capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[{"hostPort":18080,"containerPort":80,"protocol":"tcp"}]},"prevResult":'"\$res"'}'
echo "\$pm" | CNI_COMMAND=ADD $cni/portmap > /dev/null
echo "\$pm" | CNI_COMMAND=DEL $cni/portmap > /dev/null
CNI_COMMAND=DEL $cni/bridge < $work/bridge.json > /dev/null
ip netns del berthbenchcni
S
chmod +x "$work/berth-cycle.sh" "$work/cni-cycle.sh"

echo "netns: berth: $work/berth-cycle.sh" >&2
cat "$work/berth-cycle.sh" >&2
echo "netns: cni: $work/cni-cycle.sh" >&2
cat "$work/cni-cycle.sh" >&2
# Warm up both (page cache, first-time chain creation).
for _ in 1 2 3; do "$work/berth-cycle.sh" >/dev/null; "$work/cni-cycle.sh" >/dev/null; done
: > "$work/berth.times"
: > "$work/cni.times"
i=0
while [ $i -lt "$BENCH_RUNS" ]; do
  timed "$work/berth-cycle.sh" >> "$work/berth.times"
  timed "$work/cni-cycle.sh" >> "$work/cni.times"
  i=$((i + 1))
done
b=$(median < "$work/berth.times")
c=$(median < "$work/cni.times")
echo "netns: median of $BENCH_RUNS: berth-netns ${b}s, cni bridge+portmap ${c}s" >&2
result netns "$b" "$c" cni-bridge+portmap
