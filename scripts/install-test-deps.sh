#!/usr/bin/env bash
# Install the Debian packages berth's tests need (as root, Debian 12).
# Skips apt entirely when everything is already installed.
set -euo pipefail

packages=(
  nftables        # nft, for the daemon's NAT/filter rules
  conntrack       # forget UDP flows of unpublished ports
  busybox-static  # /bin/busybox: the test image's rootfs
  iproute2        # ip: test topologies (network namespaces, veth)
  util-linux      # nsenter, unshare, mount
  docker-registry # a local OCI registry for the image pull/push tests
  etcd-server     # etcd: the cluster store of the overlay-network tests
  docker-compose  # Compose 1.29 (docker-py), a client of berthd in tests/compose.rs
  # iperf3        # later: throughput tests
  # dnsperf       # later: embedded DNS load tests
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: must run as root" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-test-deps: all of ${packages[*]} already installed"
fi
