import pytest

from nsml.titles import title_problem


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
