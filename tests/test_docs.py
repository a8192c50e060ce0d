"""The documentation: the site in docs/ builds with warnings as errors, and the README leads into it.

``mkdocs build --strict`` with mkdocs.yml's ``validation`` settings fails on a link to a page or
file that is not in docs/, an anchor no heading makes, and a page left out of the nav; this test
builds it as ``make docs`` does, so ``make test`` (and CI) does too.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
# A Markdown link or image target: [text](target) or ![alt](target).
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def mkdocs_build(site_dir: Path, config: Path = ROOT / "mkdocs.yml") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300)


def nav_pages(nav: list) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    built = mkdocs_build(tmp_path / "site")
    assert built.returncode == 0, f"mkdocs build --strict failed (run `make docs`):\n{built.stderr}"
    assert "WARNING" not in built.stderr, built.stderr
    for page in sorted(DOCS.glob("*.md")):
        assert (tmp_path / "site" / page.with_suffix(".html").name).is_file(), f"{page.name} was not built"


def test_a_broken_link_or_anchor_fails_the_build(tmp_path):
    """The check above can fail: the same config over a copy of docs/ with one bad link, then one bad anchor."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    for n, (bad, named) in enumerate([("[gone](no-such-page.md)", "no-such-page.md"),
                                      ("[gone](students.md#no-such-heading)", "no-such-heading")]):
        docs = tmp_path / str(n) / "docs"
        shutil.copytree(DOCS, docs)
        (docs / "index.md").write_text((DOCS / "index.md").read_text() + f"\n{bad}\n")
        variant = docs.parent / "mkdocs.yml"
        variant.write_text(yaml.safe_dump({**config, "docs_dir": str(docs)}))
        built = mkdocs_build(docs.parent / "site", variant)
        assert built.returncode != 0, f"a page with {bad} built without error"
        assert named in built.stderr, built.stderr


def test_every_page_is_in_the_nav_once():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = nav_pages(config["nav"])
    assert len(pages) == len(set(pages)), f"a page is in the nav twice: {pages}"
    assert sorted(pages) == sorted(p.name for p in DOCS.glob("*.md")), "docs/*.md and mkdocs.yml's nav differ"


def test_the_readmes_links_into_docs_lead_to_files_that_exist():
    targets = [t.split("#", 1)[0] for t in LINK.findall(README.read_text()) if t.startswith("docs/")]
    assert {"docs/index.md", "docs/students.md", "docs/instructors.md"} <= set(targets)
    missing = [t for t in targets if not (ROOT / t).is_file()]
    assert not missing, f"the README links to {missing}, which are not in the repository"


def test_the_readmes_anchors_into_docs_are_headings_of_those_pages():
    for target in LINK.findall(README.read_text()):
        if target.startswith("docs/") and "#" in target:
            page, anchor = target.split("#", 1)
            headings = re.findall(r"^#{1,6} (.+)$", (ROOT / page).read_text(), flags=re.M)
            slugs = {slugify(heading, "-") for heading in headings}
            assert anchor in slugs, f"README links to {target}: no such heading in {page}"


def test_the_readmes_commands_and_demo_are_the_docs_home_pages():
    """The landing page and the site's home page show the same commands and demo output."""
    blocks = re.findall(r"^```.*?^```$", README.read_text(), flags=re.M | re.S)
    home = (DOCS / "index.md").read_text()
    assert blocks[0].startswith("```bash\nmake demo") and "make test" in blocks[0]
    for block in blocks[:2]:
        assert block in home, f"docs/index.md lacks the README's\n{block}"
