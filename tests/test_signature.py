"""Failure signatures: what is normalised away, one example per test name."""

from __future__ import annotations

import pytest

from jobdeck.core.signature import MAX_SIGNATURE_CHARS, error_type, signature_of


def test_numbers_become_n() -> None:
    assert signature_of("ValueError: row 12 has 3 columns, expected -4.5") == \
        "ValueError: row <n> has <n> columns, expected <n>"


def test_addresses_versions_and_times_become_one_n() -> None:
    assert signature_of("TimeoutError: 10.0.0.7 did not answer at 12:04:05") == \
        "TimeoutError: <n> did not answer at <n>"


def test_uuid_becomes_id() -> None:
    assert signature_of("LookupError: job 3fa2c1d0-1111-4222-8333-444455556666 missing") == \
        "LookupError: job <id> missing"


def test_hex_id_and_0x_address_become_hex() -> None:
    assert signature_of("RuntimeError: commit deadbeef12 at 0x7ffe3a rejected") == \
        "RuntimeError: commit <hex> at <hex> rejected"


def test_words_with_digits_and_short_hex_words_stay() -> None:
    # "step3" is a name, not a number; "cafe" is a word (too short for an id), "deadline" has no digit.
    assert signature_of("Error: step3 of cafe deadline") == "Error: step3 of cafe deadline"


def test_single_and_double_quoted_values_become_str() -> None:
    assert signature_of("KeyError: 'user_42'") == "KeyError: '<str>'"
    assert signature_of('ValueError: bad name "Zoë O\'Brien"') == "ValueError: bad name \"<str>\""


def test_posix_and_windows_paths_become_path() -> None:
    assert signature_of("FileNotFoundError: [Errno 2] No such file: /data/in/2026-01-01.csv") == \
        "FileNotFoundError: [Errno <n>] No such file: <path>"
    assert signature_of("PermissionError: C:\\temp\\x.log is locked") == "PermissionError: <path> is locked"


def test_urls_and_emails_are_normalised() -> None:
    assert signature_of("HTTPError: GET https://api.example.org/v1/users/17 returned 503 for bob@example.org") == \
        "HTTPError: GET <url> returned <n> for <email>"


def test_only_the_first_line_counts_and_spaces_collapse() -> None:
    assert signature_of("  ValueError:   bad    row 7\nTraceback (most recent call last):\n  ...") == \
        "ValueError: bad row <n>"


def test_same_cause_same_signature_other_type_other_signature() -> None:
    a = signature_of("ConnectionError: host db-7 refused after 3 tries")
    b = signature_of("ConnectionError: host db-7 refused after 12 tries")
    c = signature_of("OSError: host db-7 refused after 3 tries")
    assert a == b != c


def test_sentence_without_type_is_normalised_as_text() -> None:
    assert signature_of("Job did not stop within 30s of the abort request") == \
        "Job did not stop within <n>s of the abort request"
    assert error_type("Job did not stop within 30s") is None


def test_dotted_exception_type_is_kept() -> None:
    assert error_type("requests.exceptions.ReadTimeout: read timed out") == "requests.exceptions.ReadTimeout"
    assert signature_of("requests.exceptions.ReadTimeout: read timed out (5 s)") == \
        "requests.exceptions.ReadTimeout: read timed out (<n> s)"


@pytest.mark.parametrize("text", [None, "", "   \n "])
def test_no_message_has_one_signature(text: str | None) -> None:
    assert signature_of(text) == "(no error message)"


def test_bare_type_and_long_message_are_bounded() -> None:
    assert signature_of("KeyboardInterrupt") == "KeyboardInterrupt"
    assert len(signature_of("ValueError: " + "word " * 1000)) == MAX_SIGNATURE_CHARS
