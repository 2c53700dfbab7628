from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keys.suggest import suggest_title
from nsml.titles import MAX_TITLE_LENGTH, title_problem


@pytest.mark.parametrize(
    ("username", "title"),
    [
        ("kim.minsu", "kim-minsu-key"),
        ("alice", "alice-key"),
        ("Park_JiHoon", "park-jihoon-key"),
        ("kim.minsu@navercorp.com", "kim-minsu-key"),
        ("lee..dong--hyun", "lee-dong-hyun-key"),
        ("José", "jose-key"),
        ("42kim", "kim-key"),
        ("-_-bob-_-", "bob-key"),
        ("김민수", "my-key"),
        ("1234", "my-key"),
        ("", "my-key"),
    ],
)
def test_it_makes_a_title_from_the_username(username, title):
    assert suggest_title(username) == title


def test_it_fits_a_long_username_into_nsmls_limit():
    title = suggest_title("a" * 100)

    assert len(title) == MAX_TITLE_LENGTH
    assert title_problem(title) is None


def test_it_never_ends_a_cut_name_with_a_double_hyphen():
    title = suggest_title("a" * 59 + ".b" * 10)

    assert "--" not in title
    assert title_problem(title) is None


def test_it_avoids_titles_already_taken():
    assert suggest_title("kim.minsu", taken={"kim-minsu-key"}) == "kim-minsu-key-2"
    assert suggest_title("kim.minsu", taken={"kim-minsu-key", "kim-minsu-key-2"}) == "kim-minsu-key-3"


def test_a_numbered_title_still_fits():
    long_name = "a" * 100
    title = suggest_title(long_name, taken={suggest_title(long_name)})

    assert title.endswith("-2")
    assert len(title) == MAX_TITLE_LENGTH
    assert title_problem(title) is None


@given(st.text(max_size=200))
def test_every_suggestion_passes_nsmls_title_rules(username):
    assert title_problem(suggest_title(username)) is None


@pytest.mark.parametrize(
    ("old", "taken", "suggested"),
    [
        ("alice-laptop", set(), "alice-laptop-2"),
        ("alice-laptop-2", set(), "alice-laptop-3"),
        ("alice-laptop", {"alice-laptop-2", "alice-laptop-3"}, "alice-laptop-4"),
        ("a" * MAX_TITLE_LENGTH, set(), "a" * (MAX_TITLE_LENGTH - 2) + "-2"),
    ],
)
def test_a_replacement_key_gets_the_next_number(old, taken, suggested):
    from keys.suggest import suggest_next_title

    assert suggest_next_title(old, taken=taken) == suggested
    assert title_problem(suggested) is None
