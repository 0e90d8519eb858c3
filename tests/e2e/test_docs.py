"""The project's documents stand alone and agree with the binary: README.md and docs/ send
no reader outside the repository, README links the product description, and every flag the
product description lists is one `postern serve` accepts (and the other way round)."""

from __future__ import annotations

import re
import subprocess

from conftest import REPO, postern_bin


def documents():
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_documents_link_nothing_outside_the_repository():
    for path in documents():
        text = path.read_text()
        assert "../shared" not in text, f"{path} points outside the repository"
        for link in re.findall(r"\]\(([^)#]+)", text):
            if "://" in link:
                continue
            target = (path.parent / link).resolve()
            assert target.exists(), f"{path}: link to {link} which does not exist"
            assert REPO in target.parents or target == REPO, f"{path}: link {link} leaves the repository"


def test_readme_links_the_product_description():
    assert "(docs/PRODUCT.md)" in (REPO / "README.md").read_text()


def test_the_documented_serve_flags_are_the_real_ones():
    product = (REPO / "docs" / "PRODUCT.md").read_text()
    table = product[product.index("**The flags of `postern serve`.**"):]
    table = table[:table.index("**Signals.**")]
    documented = set(re.findall(r"^\| `(--[a-z-]+)", table, re.M))
    help_text = subprocess.run([str(postern_bin()), "serve", "--help"], capture_output=True, text=True,
                               timeout=10).stdout
    real = set(re.findall(r"^\s+(--[a-z-]+)", help_text, re.M)) - {"--help"}
    assert documented == real, (documented, real)
    readme = (REPO / "README.md").read_text()
    for flag in real - {"--config"}:
        assert flag in readme, f"README's flag list lacks {flag}"


def test_the_readme_start_command_runs_the_gateway():
    # `cargo run --release -- serve` at the root must pick the `postern` binary even though
    # the workspace has tool binaries too (`postern-train`): cargo refuses to choose.
    readme = (REPO / "README.md").read_text()
    assert "cargo run --release -- serve" in readme
    out = subprocess.run(["cargo", "run", "--quiet", "--", "--version"], cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("postern "), out.stdout
