"""What a repository says beyond its objects: the attributes `git archive` applies to a commit's tree, a
commit formatted as export-subst expands it, and whether the work tree has uncommitted changes."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from altai_release.core import runner
from altai_release.core.errors import GitError
from altai_release.git.attributes import Attributes, parse_rules
from altai_release.git.env import GIT_ENV, SAFE
from altai_release.git.index import Conversions, WorktreeState, attribute_files, parse_index, worktree_state
from altai_release.git.objects import Commit, Tree, TreeEntry

_FORMATS_PER_GIT = 500  # formats in one `git log` (its argument list stays far below ARG_MAX)


class Checkout:
    """Mixed into GitSource: these read its objects (walk, read_file) and run its git."""

    git_dir: Path
    work_tree: Path | None
    location: str
    is_local: bool

    def git(self, *args: str, what: str, check: bool = True) -> str:
        raise NotImplementedError

    def tree(self, commit: Commit, path: PurePosixPath) -> Tree:
        raise NotImplementedError

    def walk(self, tree: Tree) -> Iterator[TreeEntry]:
        raise NotImplementedError

    def read_file(self, commit: Commit, path: PurePosixPath) -> bytes | None:
        raise NotImplementedError

    def archive_attributes(self, commit: Commit, packed: PurePosixPath) -> Attributes:
        """The attributes `git archive` applies to the commit's tree: `.gitattributes` of the root, of each
        directory down to `packed` and within it, then `$GIT_DIR/info/attributes`."""
        rules = []
        directories = [PurePosixPath(*packed.parts[:i]) for i in range(len(packed.parts))]
        files = [d / ".gitattributes" for d in directories]
        files += [packed / e.path for e in self.walk(self.tree(commit, packed)) if e.path.name == ".gitattributes"]
        for file in files:
            content = self.read_file(commit, file)
            if content is not None:
                rules += parse_rules(content.decode("utf-8", "replace"), file.parent)
        info = self.git_dir / "info" / "attributes"
        if info.is_file():
            rules += parse_rules(info.read_text(encoding="utf-8", errors="replace"), PurePosixPath())
        return Attributes(rules)

    def pretty(self, commit: Commit, formats: Sequence[str], limit: int) -> list[bytes]:
        """`git log --format=FMT` of one commit for each of `formats` (one git per batch, the results apart by
        a random separator), as export-subst expands `$Format:FMT$` (signature placeholders run no program:
        gpg is /bin/false here); at most `limit` bytes in all, or one error."""
        results: list[bytes] = []
        separator = f"%x00{secrets.token_hex(16)}%x00"
        said = separator.replace("%x00", "\0").encode().decode("unicode_escape").encode()
        for start in range(0, len(formats), _FORMATS_PER_GIT):
            batch = formats[start : start + _FORMATS_PER_GIT]
            argv = ["git", *SAFE, "--git-dir", str(self.git_dir), "log", "-1", "--no-show-signature"]
            argv += [f"--format={separator.join(batch)}", commit.hexsha]
            what = f"{self.location}: export-subst of {commit.hexsha[:12]}"
            out = runner.run_bounded(argv, GitError, what, limit - sum(map(len, results)), env=GIT_ENV)
            parts = out.removesuffix(b"\n").split(said)
            if len(parts) != len(batch):
                raise GitError(f"{what}: git gave {len(parts)} results for {len(batch)} formats", argv)
            results += parts
        return results

    def worktree_state(self) -> WorktreeState:
        """Whether tracked files differ from the commit checked out, as `git status --untracked-files=no`."""
        if not self.is_local or self.work_tree is None:
            return WorktreeState(False)
        if self._index_differs_from_head():
            return WorktreeState(True, "changes are staged")
        return worktree_state(self.git_dir / "index", self.work_tree, self._conversions)

    def _index_differs_from_head(self) -> bool:
        argv = ["git", *SAFE, "--git-dir", str(self.git_dir), "diff-index", "--cached", "--quiet", "HEAD", "--"]
        proc = runner.run(argv, GitError, f"{self.location}: compare the index with HEAD", env=GIT_ENV, check=False)
        return proc.returncode != 0

    def _conversions(self) -> Conversions:
        """What of the configuration can make a file's bytes differ from its blob while git calls it clean."""
        said = self.git(
            "config",
            "--get-regexp",
            r"^core\.(autocrlf|eol|filemode|attributesfile)$",
            what="read the configuration",
            check=False,
        )
        config = dict(line.partition(" ")[::2] for line in said.lower().splitlines())
        texts = []
        try:
            index = parse_index((self.git_dir / "index").read_bytes())
            texts += [(self.work_tree or self.git_dir) / p for p in attribute_files(index)]
        except (OSError, ValueError, IndexError):
            pass
        texts.append(self.git_dir / "info" / "attributes")
        attributes_file = config.get("core.attributesfile")
        global_default = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "git" / "attributes"
        texts.append(Path(os.path.expanduser(attributes_file)) if attributes_file else global_default)
        words = " ".join(p.read_text(errors="replace") for p in texts if p.is_file())
        eol = config.get("core.autocrlf", "false") in ("true", "input") or config.get("core.eol") == "crlf"
        return Conversions(
            filemode=config.get("core.filemode", "true") not in ("false", "no", "off", "0"),
            line_endings=eol or any(w in words for w in ("eol", "text", "crlf")),
            filters=any(w in words for w in ("filter", "ident", "working-tree-encoding")),
        )
