import pytest

from nsml.titles import hidden_character, title_problem, trimmed_title


@pytest.mark.parametrize("title", ["a", "laptop", "Work-Laptop-2", "k8s-node-01", "A" * 64, "a-b-c"])
def test_it_accepts_titles_nsml_accepts(title):
    assert title_problem(title) is None


@pytest.mark.parametrize(
    ("title", "code"),
    [
        ("", "required"),
        ("a" * 65, "too_long"),
        ("my laptop", "characters"),
        ("my_laptop", "characters"),
        ("노트북", "characters"),
        ("laptop.home", "characters"),
        ("1laptop", "first_letter"),
        ("-laptop", "first_letter"),
        ("my--laptop", "double_hyphen"),
        ("laptop--", "double_hyphen"),
    ],
)
def test_it_names_the_rule_a_title_breaks(title, code):
    assert title_problem(title) == code


@pytest.mark.parametrize(
    ("title", "hidden"),
    [
        ("lap\u200btop", "U+200B ZERO WIDTH SPACE"),
        ("lap\u200ftop", "U+200F RIGHT-TO-LEFT MARK"),
        ("lap\ufefftop", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("my\u00a0laptop", "U+00A0 NO-BREAK SPACE"),
        ("lap\x07top", "U+0007"),
        ("my laptop", None),
        ("my_laptop", None),
    ],
)
def test_it_names_a_character_a_member_cannot_see(title, hidden):
    assert hidden_character(title) == hidden


def test_it_trims_spaces_and_invisible_characters_at_the_edges_only():
    assert trimmed_title("\ufeff\u200f laptop\u00ad\u200b\u00a0") == "laptop"
    assert trimmed_title("lap\u200btop") == "lap\u200btop"
    assert trimmed_title("\u200b" * 100_000) == ""
