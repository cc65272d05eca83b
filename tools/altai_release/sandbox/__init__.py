"""The one-way sandbox: bubblewrap as an unprivileged host uid, its process (rlimits, cgroup, scratch
quota, user namespace) and the only way results cross back to the host."""
