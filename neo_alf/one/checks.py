"""Checks of untrusted cache-table and server fields before any path is built from them.

Every field of ``sessions.pqt``/``datasets.pqt`` (and of ``cache_info.json``) comes from outside:
``lab``, ``subject``, ``date``, ``number`` make a folder name, ``rel_path`` a file path, so each is
checked against the ALF session shape first. No backslash, NUL, absolute path or ``..`` ever
reaches the file system.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

from ..errors import AlfFormatError, AlfPathError
from ..spec import parse_rel_path

__all__ = ["check_rel_path", "check_session_fields"]

_LAB = re.compile(r"^\w+$", re.ASCII)
_SUBJECT = re.compile(r"^[\w.-]+$", re.ASCII)
_FORBIDDEN = ("\\", "\x00")


def check_rel_path(rel_path: Any) -> str:
    """A dataset path from a table: relative, posix, no ``..``, an ALF name; returned unchanged.

    Raises
    ------
    AlfPathError
        Not a str, a backslash or NUL, absolute, ``.``/``..`` parts (the path could leave its session).
    AlfNameError
        Not ``[collection/][#revision#/]ALF file name``.
    """
    if not isinstance(rel_path, str) or not rel_path:
        raise AlfPathError(f"rel_path {rel_path!r} is not a path", repr(rel_path), rule="rel_path is a str")
    if any(c in rel_path for c in _FORBIDDEN) or any(ord(c) < 32 for c in rel_path):
        raise AlfPathError(
            "a backslash or control character in a dataset path",
            repr(rel_path),
            rule="rel_path is a posix path below its session",
        )
    parse_rel_path(rel_path)  # absolute paths and `..` raise AlfPathError, bad names AlfNameError
    return rel_path


def check_session_fields(lab: Any, subject: Any, date: Any, number: Any, where: str = "sessions.pqt"):
    """``(lab or None, subject, date, number)`` checked and normalised, from one sessions-table row.

    Raises
    ------
    AlfFormatError
        A field that cannot be part of an ALF session folder (``../x``, ``/abs``, a non-date,
        a non-integer or negative number, ...).
    """
    rule = "[lab/Subjects/]subject/yyyy-mm-dd/number"
    if lab is not None and not (isinstance(lab, float) and math.isnan(lab)) and lab != "":
        if not isinstance(lab, str) or not _LAB.match(lab):
            raise AlfFormatError(f"lab {lab!r} is not a folder name", where, rule=rule)
    else:
        lab = None
    if not isinstance(subject, str) or not _SUBJECT.match(subject) or subject in (".", ".."):
        raise AlfFormatError(f"subject {subject!r} is not a folder name", where, rule=rule)
    if isinstance(date, datetime.datetime):
        date = date.date()
    elif not isinstance(date, datetime.date):
        text = str(date)[:10]
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise ValueError
            date = datetime.date.fromisoformat(text)
        except ValueError:
            raise AlfFormatError(f"date {date!r} is not yyyy-mm-dd", where, rule=rule) from None
    try:
        if isinstance(number, float) and not number.is_integer():
            raise ValueError
        if isinstance(number, str) and not number.strip().isdigit():
            raise ValueError
        number = int(number)
    except (TypeError, ValueError, OverflowError):
        raise AlfFormatError(f"number {number!r} is not an integer", where, rule=rule) from None
    if not 0 <= number <= 999:
        raise AlfFormatError(f"number {number} is not 0-999", where, rule=rule)
    return lab, subject, date, number
