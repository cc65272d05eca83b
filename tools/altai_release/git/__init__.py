"""git, read as git reads it: the `cat-file --batch` protocol, objects, refs, the index and attributes, and
the repository facade the rest of the tooling uses."""

from altai_release.git.index import WorktreeState
from altai_release.git.objects import MODE_DIR, MODE_GITLINK, MODE_LINK, Commit, Tree, TreeEntry
from altai_release.git.refs import peek_ref
from altai_release.git.repository import GitSource

__all__ = [
    "MODE_DIR",
    "MODE_GITLINK",
    "MODE_LINK",
    "Commit",
    "GitSource",
    "Tree",
    "TreeEntry",
    "WorktreeState",
    "peek_ref",
]
