import pytest

from pipeline.answers.grading import is_correct, parse_answer

OPTS = ["circle", "square", "triangle"]


@pytest.mark.parametrize("text,expected", [
    ("B", "B"), ("B.", "B"), ("(B)", "B"), ("b", "B"), ("Answer: B", "B"), ("The answer is (C)", "C"),
    ("square", "B"), ("It is a triangle.", "C"), ("\\boxed{A}", "A"), ("B) square", "B"),
    ("D", None), ("", None), ("circle or square", None),
])
def test_choice_forms(text, expected):
    assert parse_answer(text, "choice", OPTS) == expected


@pytest.mark.parametrize("text,expected", [
    ("7", "7"), (" 7.", "7"), ("1,204", "1204"), ("It is 12 apples", "12"), ("\\boxed{42}", "42"),
    ("3.0", "3"), ("-4", "-4"), ("2.5 cm", "2.5"), ("seven", "7"), ("", None), ("1,204,000 km", "1204000"),
    ("45%", "45"), ("$1,200.50", "1200.5"), ("3, 4", "3"), ("Answer: \\boxed{12}", "12"), ("no idea", None),
])
def test_integer_forms(text, expected):
    assert parse_answer(text, "integer") == expected


@pytest.mark.parametrize("text,reference,correct", [
    ("Red", "red", True), ("red.", "red", True), ("The answer is red", "red", True), ("  RED  ", "red", True),
    ("blue", "red", False), ("", "red", False), ("\\boxed{left}", "left", True),
    ("New York.", "new york", True), ("The answer is New York", "New York", True), ("York", "New York", False),
])
def test_word_grading(text, reference, correct):
    assert is_correct(text, reference, "word") is correct


def test_integer_tolerance():
    assert is_correct("7.0000001", "7", "integer", tolerance=1e-3)
    assert not is_correct("8", "7", "integer")


def test_unknown_answer_type_is_a_clear_error():
    with pytest.raises(ValueError, match="answer_type"):
        parse_answer("x", "essay")


def test_more_than_five_options_from_a_user_benchmark():
    from pipeline.answers.prompts import prompt_text

    options = ["one", "two", "three", "four", "five", "six", "seven"]
    assert "F. six\nG. seven" in prompt_text("Pick", "choice", options)
    assert parse_answer("(G)", "choice", options) == "G" and parse_answer("six", "choice", options) == "F"
    assert parse_answer("H", "choice", options) is None


@pytest.mark.parametrize("text,answer_type,options,expected", [
    ("<think>Two red, then three blue... so 5?</think>\nThe answer is 6.", "integer", None, "6"),
    ("There are 3 red dots and 4 blue dots, so the answer is 7.", "integer", None, "7"),
    ("<think>Let me count: 1, 2, 3, 4", "integer", None, None),  # reasoning cut off by the length limit
    ("The answer is B.", "choice", ["cat", "dog", "owl"], "B"),
    ("Final answer: **C**", "choice", ["cat", "dog", "owl"], "C"),
    ("<thinking>It is not a cat.</thinking> Answer: dog", "choice", ["cat", "dog", "owl"], "B"),
    ("I think the colour is red, but the answer is: blue", "word", None, "blue"),
    ("\\boxed{12}", "integer", None, "12"),
    ("7", "integer", None, "7"),
])
def test_what_real_models_emit(text, answer_type, options, expected):
    assert parse_answer(text, answer_type, options) == expected
