"""The model-zoo readme.md front matter: the subset of YAML the zoo uses, read strictly."""

from __future__ import annotations


import pytest

from keras_caffe.tools.front_matter import FrontMatterError, parse, read

# Written in the format of Caffe's models/*/readme.md (docs/model_zoo.md), not copied.
ZOO_STYLE = """---
name: Tiny Zoo Net
caffemodel: tiny.caffemodel
caffemodel_url: http://127.0.0.1:8000/tiny.caffemodel
license: unrestricted
sha1: 0123456789012345678901234567890123456789
caffe_commit: 709dc15af4a06bebda027c1eb2b3f3e3375d5077
---

This model is a replication of nothing in particular.
Differences:
- none; this list is markdown, after the front matter.
"""

COMMUNITY_STYLE = """---
# a comment line
name: "Finetuning: a quoted name with a colon"
caffemodel: 'style.caffemodel'   # a trailing comment
caffemodel_url: http://example.org/files/style.caffemodel?dl=1#frag
license: non-commercial
sha1: b61b5cef7d771b53b0c488e78d35ccadc073e9cf
gist_id: 034c6ac3865563b69e60
authors:
  - Sergey K.
  - "Ross G."
tags: [finetuning, 'flickr style', "a, b"]
description:

include_in_docs: true
---
body
"""


def test_the_zoo_format_parses_to_strings_in_file_order():
    front = parse(ZOO_STYLE, "models/tiny/readme.md")
    assert list(front.fields) == ["name", "caffemodel", "caffemodel_url", "license", "sha1",
                                  "caffe_commit"]
    assert front.fields["sha1"] == "0123456789012345678901234567890123456789"  # not a number
    assert front.fields["caffemodel_url"] == "http://127.0.0.1:8000/tiny.caffemodel"
    assert front.lines["sha1"] == 6 and front.path == "models/tiny/readme.md"


def test_quotes_comments_and_lists():
    fields = parse(COMMUNITY_STYLE).fields
    assert fields["name"] == "Finetuning: a quoted name with a colon"
    assert fields["caffemodel"] == "style.caffemodel"
    assert fields["caffemodel_url"].endswith("?dl=1#frag")
    assert fields["authors"] == ["Sergey K.", "Ross G."]
    assert fields["tags"] == ["finetuning", "flickr style", "a, b"]
    assert fields["description"] is None and fields["include_in_docs"] == "true"
    assert parse('---\na: "\\u00e9\\"\\t"\nb: \'it\'\'s\'\nc: []\n...\n').fields == {
        "a": 'é"\t', "b": "it's", "c": []}


@pytest.mark.parametrize("text", [ZOO_STYLE, COMMUNITY_STYLE])
def test_agrees_with_yaml(text):
    yaml = pytest.importorskip("yaml")
    lines = text.splitlines()
    expected = yaml.safe_load("\n".join(lines[1:lines.index("---", 1)]))
    as_text = {k: ([str(i) for i in v] if isinstance(v, list) else
                   str(v).lower() if isinstance(v, bool) else None if v is None else str(v))
               for k, v in expected.items()}
    assert parse(text).fields == as_text


@pytest.mark.parametrize("text, line, message", [
    ("# readme\n---\na: b\n---\n", 1, "must start with a '---' line"),
    ("", 1, "must start with a '---' line"),
    ("---\nname: x\n", 1, "never closed"),
    ("---\nname: x\n  more: y\n---\n", 3, "indented line"),
    ("---\nname: x\nname: y\n---\n", 3, "given twice (first on line 2)"),
    ("---\nname: a: b\n---\n", 2, "holding ': '"),
    ("---\nname: 'open\n---\n", 2, "never closed on this line"),
    ("---\nname: \"x\" y\n---\n", 2, "text after the closing quote"),
    ("---\nname: \"\\q\"\n---\n", 2, "unknown escape"),
    ("---\nname: |\n  text\n---\n", 2, "block scalars"),
    ("---\nname: &a x\n---\n", 2, "anchors"),
    ("---\nname: {a: b}\n---\n", 2, "flow mappings"),
    ("---\nname: [a, [b]]\n---\n", 2, "nested lists"),
    ("---\nname: [a, b\n---\n", 2, "never closed on this line"),
    ("---\nname: x\n- item\n---\n", 3, "follows no 'key:'"),
    ("---\nlist:\n  - - a\n---\n", 3, "nested lists"),
    ("---\n\tname: x\n---\n", 2, "a tab"),
    ("---\njust words\n---\n", 2, "expected 'key: value'"),
    ("---\nurl: - a\n---\n", 2, "starting with '- '"),
])
def test_errors_name_the_file_and_line(text, line, message):
    with pytest.raises(FrontMatterError) as info:
        parse(text, "zoo/readme.md")
    assert info.value.line == line
    assert str(info.value).startswith(f"zoo/readme.md:{line}: ") and message in str(info.value)


def test_read_names_the_file(tmp_path):
    path = tmp_path / "readme.md"
    path.write_bytes(b"\xef\xbb\xbf" + ZOO_STYLE.encode())          # a BOM is fine
    assert read(path).fields["name"] == "Tiny Zoo Net"
    path.write_bytes(b"---\nname: \xff\n---\n")
    with pytest.raises(FrontMatterError, match=r"readme.md: not UTF-8"):
        read(path)
