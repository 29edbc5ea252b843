"""A full bench run must not drop the sections other bench scripts write into RESULTS.md."""

from __future__ import annotations

from bench.sections import keep_sections

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
