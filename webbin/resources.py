"""Where ``templates/`` and ``static/`` are, in a source checkout and after ``pip install .``.

In the repository they sit beside the package; an installed wheel carries them inside it
(pyproject maps them to ``webbin.templates`` and ``webbin.static``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"webbin cannot find its {name}/ folder")
