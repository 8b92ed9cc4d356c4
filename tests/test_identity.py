"""Names that would pass for a host are refused (pure)."""

from __future__ import annotations

import pytest

from chatserver.identity import imitates_staff, skeleton


@pytest.mark.parametrize(
    "name", ["alice", "ALICE", "A1ice", "Alice (host)", "host alice", "álice", "Moderator", "admin"]
)
def test_names_that_pass_for_staff(name):
    """A host's name in any disguise, or a staff title, is caught."""
    assert imitates_staff(name, ["alice", "bob"])


@pytest.mark.parametrize("name", ["Alicia", "sam", "hostess", "bobby tables", "River"])
def test_ordinary_names_are_fine(name):
    """Names that merely resemble a host's are allowed."""
    assert not imitates_staff(name, ["alice", "bob"])


def test_skeleton_folds_case_accents_and_lookalikes():
    """The comparison key ignores case, accents, punctuation and digit look-alikes."""
    assert skeleton("Ál1ce.") == skeleton("alice")
