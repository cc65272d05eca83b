"""What packages are, as rpm says: identity (NEVRA), version order, headers read back, the rpm bindings,
the target's compatibility gate, createrepo_c metadata and the manifest that lists a release."""
