"""What mock's build roots are made from: one module per kind of base (`[buildroot] base`)."""

from altai_release.builders.bases.rootbase import RootBase, root_base

__all__ = ["RootBase", "root_base"]
