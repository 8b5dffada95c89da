"""The tests the README and docs/ name as proof exist, under the names they give."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from testkit import REPO

if TYPE_CHECKING:
    from pathlib import Path

REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")


def referenced_tests() -> set[tuple[str, str | None]]:
    documents = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    return {
        (match.group(1), match.group(2))
        for document in documents
        for match in REFERENCE.finditer(document.read_text(encoding="utf-8"))
    }


def test_every_test_the_docs_name_exists():
    references = referenced_tests()
    assert references  # the README cites its proofs
    missing = []
    for path, name in sorted(references, key=str):
        source = REPO / path
        if not source.is_file():
            missing.append(path)
        elif name and not re.search(rf"^def {name}\(", source.read_text(), flags=re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert not missing, f"named in the docs but not found: {missing}"


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(document: Path) -> set[str]:
    """GitHub's anchors of `document`'s headings (those outside code blocks)."""
    text = re.sub(
        r"^```.*?^```", "", document.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE
    )
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_link_between_the_docs_resolves():
    documents = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = []
    for document in documents:
        for target in LINK.findall(document.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            if not linked.exists() or (anchor and anchor not in anchors(linked)):
                broken.append(f"{document.name}: {target}")
    assert not broken, f"links to no file or heading: {broken}"
