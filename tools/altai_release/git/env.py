"""How every git command of the tooling runs: no prompt, literal paths, replace refs ignored, and none of
the programs a repository's config may name."""

GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "/bin/false",
    "SSH_ASKPASS": "/bin/false",
    "GIT_LITERAL_PATHSPECS": "1",  # a path named ':(glob)*' is that path
    "GIT_NO_REPLACE_OBJECTS": "1",  # refs/replace/* would change what a commit id packs
}
# a repository's own config must not make git run a program of its choosing while we read it
SAFE = (
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "gpg.program=/bin/false",
    "-c",
    "gpg.ssh.program=/bin/false",
    "-c",
    "gpg.x509.program=/bin/false",
)
