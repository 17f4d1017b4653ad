"""docs/architecture.md names every module and package under sendemodul/ in its module map, and no other."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_module_map_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"^\| `([\w/.]+)` \|", text, flags=re.MULTILINE))
    package = ROOT / "sendemodul"
    modules = set()
    for path in package.rglob("*.py"):
        relative = path.relative_to(package)
        if relative.name == "__init__.py" and relative.parent != Path("."):
            modules.add(f"{relative.parent.as_posix()}/")
        else:
            modules.add(relative.as_posix())
    assert sorted(modules - named) == []
    assert sorted(name for name in named - modules if name.endswith((".py", "/"))) == []
