"""The subject key (environment or key file) and the keyed hash of subjects."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from adapters.audit.subjects import (
    MIN_KEY_LENGTH,
    SubjectHasher,
    canonical_subject,
    key_file_of,
    subject_key_source,
)
from router.errors import ConfigError

KEY = "k" * MIN_KEY_LENGTH


def test_a_key_in_the_environment_is_used(tmp_path: Path) -> None:
    source = subject_key_source(tmp_path / "audit.db", "AUDIT_KEY", environ={"AUDIT_KEY": KEY})
    assert source() == KEY.encode()
    assert not key_file_of(tmp_path / "audit.db").exists()


def test_a_short_key_in_the_environment_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"AUDIT_KEY holds 5 bytes.*32 or more"):
        subject_key_source(tmp_path / "audit.db", "AUDIT_KEY", environ={"AUDIT_KEY": "short"})


def test_without_the_variable_a_key_file_is_made_once_with_mode_0600(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "var" / "audit.db"
    source = subject_key_source(database, "AUDIT_KEY", environ={})
    assert not key_file_of(database).exists()  # nothing happens before the store starts
    key = source()
    assert len(key) >= MIN_KEY_LENGTH
    assert stat.S_IMODE(key_file_of(database).stat().st_mode) == 0o600
    assert "AUDIT_KEY is not set" in caplog.text
    assert subject_key_source(database, "AUDIT_KEY", environ={})() == key  # the same key next time


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    key_file_of(database).write_text(KEY)
    os.chmod(key_file_of(database), 0o644)
    with pytest.raises(ConfigError, match=r"readable by other users.*chmod 600"):
        subject_key_source(database, "AUDIT_KEY", environ={})()


def test_a_reader_does_not_make_a_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AUDIT_KEY is not set and there is no key file"):
        subject_key_source(tmp_path / "audit.db", "AUDIT_KEY", create=False, environ={})()


def test_subjects_are_keyed_hashes() -> None:
    one, other = SubjectHasher(b"a" * 32), SubjectHasher(b"b" * 32)
    assert one("001099012345") == one("001099012345") != one("001099012346")
    assert one("001099012345") != other("001099012345")
    assert len(one("001099012345")) == 64 and "001099012345" not in one("001099012345")
    assert one("") == ""  # admin actions have no subject
    assert one.check != other.check


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="32 or more"):
        SubjectHasher(b"short")


def test_one_spelling_per_subject() -> None:
    assert canonical_subject("0100109106-001") == canonical_subject("0100109106001") == "0100109106001"
    assert canonical_subject(" 001099012345 ") == "001099012345"
    assert canonical_subject("29A-123.45") == "29A-123.45"  # not a tax code: as written
