"""Property tests: generated valid names round-trip; arbitrary text raises AlfNameError or nothing."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from neo_alf.errors import AlfNameError
from neo_alf.spec import AlfName, parse_name, parse_rel_path

_alnum = st.text(string.ascii_letters + string.digits, min_size=1, max_size=8)
_word = st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=10)
_camel = st.builds(
    lambda a, b: a + b,
    st.text(string.ascii_lowercase, min_size=1, max_size=6),
    st.text(string.ascii_letters + string.digits, max_size=6),
)
_extra = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=8)


@st.composite
def alf_names(draw) -> AlfName:
    namespace = draw(st.none() | st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=6))
    obj = draw(_camel)
    attribute = draw(st.sampled_from(["times", "intervals", "timestamps", "clusters"]) | _camel)
    if draw(st.booleans()):
        attribute += draw(st.sampled_from(["_times", "_intervals"]))
    timescale = draw(st.none() | _camel)
    extra = tuple(draw(st.lists(_extra, max_size=3)))
    extension = draw(st.sampled_from(["npy", "tsv", "csv", "json", "bin", "pqt"]))
    return AlfName(namespace, obj, attribute, timescale, extra, extension)


@settings(max_examples=400, deadline=None)
@given(alf_names())
def test_generated_names_round_trip(name):
    text = name.to_filename()
    parsed = parse_name(text)
    assert parsed.to_filename() == text
    assert (parsed.object, parsed.attribute, parsed.timescale, parsed.extension) == (
        name.object,
        name.attribute,
        name.timescale,
        name.extension,
    )
    assert parsed.namespace == name.namespace and parsed.extra == name.extra


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=8), max_size=3),
    st.none() | st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=8),
    alf_names(),
)
def test_generated_rel_paths_round_trip(folders, revision, name):
    rel = "/".join([*folders, *([f"#{revision}#"] if revision else []), name.to_filename()])
    parsed = parse_rel_path(rel)
    assert parsed.collection == "/".join(folders) and parsed.revision == revision
    assert parsed.name.to_filename() == name.to_filename()


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_raises_anything_but_alf_name_error(text):
    for parse in (parse_name, parse_rel_path):
        try:
            parse(text)
        except AlfNameError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="._-/#abc019 \\:é\x00", max_size=40))
def test_punctuation_soup(text):
    for parse in (parse_name, parse_rel_path):
        try:
            parse(text)
        except AlfNameError:
            pass


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=8), max_size=3),
    alf_names(),
    st.integers(min_value=0, max_value=200),
)
def test_a_backslash_anywhere_is_refused(folders, name, where):
    """Issue 14 item 8: `alf\\probe01\\spikes.times.npy` is one POSIX file name, never a path."""
    rel = "/".join([*folders, name.to_filename()])
    i = where % (len(rel) + 1)
    bad = rel[:i] + "\\" + rel[i:]
    for parse in (parse_name, parse_rel_path):
        try:
            parse(bad)
        except AlfNameError:
            continue
        raise AssertionError(f"{parse.__name__} accepted {bad!r}")
