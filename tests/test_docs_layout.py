"""The Markdown a new user reads: every heading stands on its own (a blank line before it, or a
renderer glues it to the paragraph above), and docs/configuration.md says each thing under the
heading it belongs to."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import ROOT

OURS = [p for p in subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout.split() if "/vendor/" not in p]


def sections(text: str) -> dict[str, str]:
    """`## heading` -> its text (up to the next `## `)."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("name", OURS)
def test_every_heading_has_a_blank_line_before_it(name: str) -> None:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    fenced = False
    glued = []
    for number, line in enumerate(lines, start=1):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"^#{1,6} ", line) and number > 1 and lines[number - 2].strip():
            glued.append(f"line {number}: {line}")
    assert not glued, f"{name}: a heading right under text: {glued}"


def test_configuration_keeps_each_thing_under_its_heading() -> None:
    """The printers paragraph sat at the end of "Test-only environment", after the QUAYSO_
    variables, instead of under "[kiosk], [printer], [[printers]], [gpio]"."""
    parts = sections((ROOT / "docs/configuration.md").read_text(encoding="utf-8"))
    kiosk = parts["[kiosk], [printer], [[printers]], [gpio]"]
    assert "kiosk/README.md" in kiosk and "`[[printers]]` entry is one more printer" in kiosk
    assert "confirm_timeout" in kiosk
    paragraphs = [p for p in parts["Test-only environment"].split("\n\n") if p.strip()]
    assert paragraphs and all("QUAYSO_" in p for p in paragraphs), paragraphs
    assert "[printer]" not in parts["Test-only environment"]
