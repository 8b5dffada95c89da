"""The tests the README and docs/ name as proof exist, under the names they give."""

from __future__ import annotations

import re

from testkit import REPO

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
