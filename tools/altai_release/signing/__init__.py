"""Who signs what: the key the layout assigns to each repository, gpg keyrings, and signature checks
against exactly one public key."""
