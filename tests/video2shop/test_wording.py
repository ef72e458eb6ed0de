"""Counts in the commands' messages and the report: one trajectory, two trajectories."""

from video2shop.wording import counted, region_text, span_text


def test_counts_take_the_singular_only_for_one():
    assert counted(1, "clothing trajectory") == "1 clothing trajectory"
    assert counted(2, "clothing trajectory") == "2 clothing trajectories"
    assert counted(0, "problem") == "0 problems" and counted(1, "shop image") == "1 shop image"
    assert counted(3, "unreadable video") == "3 unreadable videos" and counted(2, "datum", "data") == "2 data"


def test_a_span_is_given_in_frames_and_seconds():
    assert span_text(0, 29, 25.0) == "frames 0-29, 0.00-1.16 s"


def test_a_photo_region_is_the_whole_photo_or_its_box():
    assert region_text((0.0, 0.0, 120.0, 90.0), 120, 90) == "the whole photo"
    assert region_text((40.2, 19.6, 70.0, 50.4), 120, 90) == "box 40,20-70,50"
