"""A full bench run must not drop the sections other bench scripts write into RESULTS.md."""

from __future__ import annotations

import pytest

from bench.sections import SectionError, keep_sections, replace_section

OLD = """# Results
old table

<!-- audit-report:start -->
audit figures
<!-- audit-report:end -->

<!-- b5-accounting:begin -->
accounting figures
<!-- b5-accounting:end -->
"""


def test_sections_the_new_text_lacks_are_kept_in_order() -> None:
    new = keep_sections(OLD, "# Results\nnew table\n")
    assert "new table" in new and "old table" not in new
    assert new.index("audit figures") < new.index("accounting figures")


def test_a_section_the_new_text_has_is_not_doubled() -> None:
    fresh = "# Results\n<!-- audit-report:start -->\nfresh\n<!-- audit-report:end -->\n"
    new = keep_sections(OLD, fresh)
    assert new.count("audit-report:start") == 1 and "fresh" in new
    assert "accounting figures" in new


def test_nothing_to_keep() -> None:
    assert keep_sections("# old\n", "# new\n") == "# new\n"


def test_a_section_held_twice_is_kept_once() -> None:
    doubled = OLD + "\n<!-- audit-report:start -->\nstale copy\n<!-- audit-report:end -->\n"
    new = keep_sections(doubled, "# Results\n")
    assert new.count("audit-report:start") == 1 and "stale copy" not in new


def test_replacing_a_section_drops_text_pasted_into_it_and_its_copies() -> None:
    corrupted = OLD.replace("audit figures", "audit figures\n**Pasted note.** from NOTES.md")
    corrupted += "\n<!-- audit-report:start -->\nsecond copy\n<!-- audit-report:end -->\ntail\n"
    new = replace_section(corrupted, "audit-report", "## Audit\nnew figures\n")
    assert new.count("<!-- audit-report:start -->") == 1
    assert "Pasted note" not in new and "second copy" not in new and "audit figures" not in new
    assert new.index("old table") < new.index("new figures") < new.index("accounting figures")
    assert new.endswith("tail\n")
    assert replace_section(new, "audit-report", "## Audit\nnew figures\n") == new


def test_a_new_section_is_appended_and_unpaired_markers_are_refused() -> None:
    assert replace_section("# Results\n", "x", "body").endswith(
        "\n\n<!-- x:start -->\nbody\n<!-- x:end -->\n"
    )
    with pytest.raises(SectionError, match="unpaired markers"):
        replace_section("# R\n<!-- audit-report:start -->\nno end\n", "audit-report", "b")
    accounting = replace_section(OLD, "b5-accounting", "fresh", start="begin")
    assert "<!-- b5-accounting:begin -->\nfresh\n<!-- b5-accounting:end -->" in accounting
