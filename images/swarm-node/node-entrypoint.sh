#!/usr/bin/env bash
# Entrypoint of a swarm test node: makes the cgroup tree writable, clears what a killed run left in
# /run, then becomes dockerd (pid 1), listening on its socket and, unauthenticated, on tcp :2375
# (only the test host reaches the node's network).
set -euo pipefail

# Without --privileged Docker mounts /sys/fs/cgroup and every v1 controller read-only, and the inner
# runc fails with "mkdir /sys/fs/cgroup/cpuset/docker: read-only file system". CAP_SYS_ADMIN may
# remount them read-write; the controllers are bind mounts of this container's own cgroups, so the
# inner engine's cgroups nest under the node's.
mount -o remount,rw /sys/fs/cgroup
for d in /sys/fs/cgroup/*/; do
  # Symlinks such as cpu -> cpu,cpuacct point at a controller remounted on its own iteration.
  if [ -L "${d%/}" ]; then continue; fi
  mount -o remount,bind,rw "$d"
done

# After `docker kill` and start the container's /run is as the killed run left it: the pid files of
# dockerd and its containerd name pids that the new pid namespace may reuse (dockerd refuses to
# start, or containerd is taken for alive), and the sockets and netns files are dead. All of it is
# runtime state; what must survive (images, swarm raft) lives in /var/lib/docker.
rm -rf /var/run/docker.pid /var/run/docker.sock /var/run/docker /run/containerd

# --tls=false says the plain tcp listener is meant: without it dockerd 20.10 sleeps 15 s at startup
# to warn about it, on every start of every node.
args=(--host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 --tls=false)
# The harness's subnet, so the nodes pull over plain HTTP from the test registry at <manager-ip>:5000.
if [ -n "${PGFORT_NODE_INSECURE_REGISTRY:-}" ]; then
  args+=(--insecure-registry "$PGFORT_NODE_INSECURE_REGISTRY")
fi
exec dockerd "${args[@]}" "$@"
