"""The documentation a clone carries: every link in the README and docs/ leads to a file in the repository,
and the import format and API pages cover what the code reads and serves."""

from __future__ import annotations

import re
from pathlib import Path

from django.urls import get_resolver

from channels.models import Network
from inbox import lines

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_docs_pages_exist_and_the_readme_links_them() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert [page.name for page in PAGES[1:]] == ["api.md", "architecture.md", "import-format.md"]
    assert "DESIGN.md" not in readme
    assert "(docs/import-format.md)" in readme
    assert "(docs/api.md)" in readme
    assert "(docs/architecture.md)" in readme


def test_every_link_leads_to_a_file_in_the_repository() -> None:
    broken = [
        f"{page.relative_to(ROOT)}: {target}"
        for page in PAGES
        for target in LINK.findall(page.read_text(encoding="utf-8"))
        if "://" not in target and not (page.parent / target).resolve().is_file()
    ]

    assert broken == []


def test_the_import_format_page_names_every_field_the_parser_reads() -> None:
    source = Path(lines.__file__).read_text(encoding="utf-8")
    read = set(lines.REQUIRED_FIELDS) | set(
        re.findall(r"""(?:string|item\.get|item)\(?\[?"(\w+)"[\],]""", source)
    )
    page = (ROOT / "docs" / "import-format.md").read_text(encoding="utf-8")

    assert {"external_id", "author_followers", "created_at", "kind", "network"} <= read
    assert sorted(field for field in read if f"| `{field}` |" not in page) == []


def test_the_api_page_names_every_endpoint() -> None:
    api_patterns = get_resolver().url_patterns
    prefix = next(p for p in api_patterns if str(p.pattern) == "api/v1/")
    endpoints = [str(p.pattern) for p in prefix.url_patterns if str(p.pattern) not in ("schema/", "docs/")]
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    documented = re.sub(r"<int:\w+>", "{id}", "\n".join(endpoints))

    missing = [
        endpoint
        for endpoint in documented.splitlines()
        if f"`GET {endpoint}`" not in page
        and f"`POST {endpoint}`" not in page
        and f"`{endpoint.rstrip('/').rsplit('/', 1)[-1]}/`" not in page
    ]
    assert "mentions/{id}/escalation/bounce/" in documented.splitlines()
    assert missing == []


def test_the_api_and_import_pages_name_every_network() -> None:
    rows = [
        line
        for page in ("api.md", "import-format.md")
        for line in (ROOT / "docs" / page).read_text(encoding="utf-8").splitlines()
        if line.startswith("| `network` |")
    ]

    assert len(rows) == 2
    assert [sorted(set(Network.values) - set(re.findall(r"`(\w+)`", row))) for row in rows] == [[], []]
