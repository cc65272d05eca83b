"""One release from built packages: the pipeline and its builds, the policy, the tree, its outputs,
notes and metadata, the atomic store, acceptance with dnf, upstream imports, key rotation and --verify."""
