"""Counts in the commands' messages and the report: one trajectory, two trajectories."""

from video2shop.wording import counted, span_text


def test_counts_take_the_singular_only_for_one():
    assert counted(1, "clothing trajectory") == "1 clothing trajectory"
    assert counted(2, "clothing trajectory") == "2 clothing trajectories"
    assert counted(0, "problem") == "0 problems" and counted(1, "shop image") == "1 shop image"
    assert counted(3, "unreadable video") == "3 unreadable videos" and counted(2, "datum", "data") == "2 data"


def test_a_span_is_given_in_frames_and_seconds():
    assert span_text(0, 29, 25.0) == "frames 0-29, 0.00-1.16 s"
