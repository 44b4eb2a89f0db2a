"""The web demo's hedging (expected information gain over a class hierarchy), with exact
numbers on tiny hierarchies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras_caffe.apps.hedging import HierarchyError, hedge, parse_hierarchy, read_hierarchy
from keras_caffe.tools.demo import bundled
from keras_caffe.tools.demo_shapes import CLASSES

SHAPES = """# the bundled hierarchy's edges
shape round
shape angular
round circle
angular square
angular triangle
angular cross
"""
LABELS = ["circle", "square", "triangle", "cross"]


def test_the_bet_of_the_shapes_hierarchy():
    h = parse_hierarchy(SHAPES, LABELS)
    assert h.nodes == ("shape", "round", "angular", "circle", "square", "triangle", "cross")
    np.testing.assert_array_equal(h.membership, [[1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 1],
                                                 [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                                 [0, 0, 0, 1]])
    # log2(4) - log2(#leaves under the node)
    np.testing.assert_allclose(h.infogain, [0, 2, 2 - math.log2(3), 2, 2, 2, 2], rtol=0,
                               atol=1e-15)
    np.testing.assert_array_equal(h.preferences, [0, 1, 0, 0, 0, 0, 0])   # round: one child
    np.testing.assert_allclose(h.rewards(), [0, 1.9, 2 - math.log2(3), 2, 2, 2, 2])


def test_the_worked_example_of_the_module_docstring():
    h = parse_hierarchy(SHAPES, LABELS)
    ranked = hedge(h, [0.1, 0.4, 0.3, 0.2], top=7)
    assert [n for n, _ in ranked] == ["square", "triangle", "cross", "angular", "circle",
                                      "round", "shape"]
    np.testing.assert_allclose([v for _, v in ranked],
                               [0.8, 0.6, 0.4, 0.9 * (2 - math.log2(3)), 0.2, 0.19, 0.0],
                               rtol=1e-12, atol=1e-15)
    assert len(hedge(h, [0.1, 0.4, 0.3, 0.2])) == 5                     # the demo's five


def test_an_unsure_net_is_answered_with_the_parent():
    # 8 leaves: a leaf gains 3 bits, a pair's parent 2; the net splits 0.9 over a pair
    text = "\n".join(["all A", "all B", "A a1", "A a2", "B b1", "B b2", "B b3", "B b4",
                      "B b5", "B b6"])
    leaves = ["a1", "a2", "b1", "b2", "b3", "b4", "b5", "b6"]
    h = parse_hierarchy(text, leaves)
    probs = [0.45, 0.45] + [0.1 / 6] * 6
    (best, value), (second, value2) = hedge(h, probs, top=2)
    assert (best, second) == ("A", "a1")
    assert value == pytest.approx(0.9 * 2) and value2 == pytest.approx(0.45 * 3)
    # the demo's formula, written out: probmat @ scores * (infogain - 0.1 * preferences)
    expected = h.membership @ np.array(probs) * (h.infogain - 0.1 * h.preferences)
    assert value == pytest.approx(expected.max())


def test_a_dag_chains_and_ignored_nodes():
    text = "\n".join([
        "root\tliving thing",          # a tab: names may hold spaces
        "root\tpets",
        "living thing\tcat",
        "living thing\tdog",
        "pets\tcat",                   # a second parent: a DAG
        "pets\tdog",
        "root\tobject",
        "object\tcar family",
        "car family\tcar",             # chain: object -> car family -> car
        "root\tunicorn",               # no label below: dropped
        "car\twheel",                  # below a label: ignored
    ])
    h = parse_hierarchy(text, ["n1", "n2", "n3"], names=["cat", "dog", "car"])
    assert h.nodes == ("root", "living thing", "pets", "cat", "dog", "object", "car family",
                       "car")
    assert h.names == h.nodes                                  # labels matched by name
    pref = dict(zip(h.nodes, h.preferences))
    assert (pref["object"], pref["car family"], pref["car"]) == (2, 1, 0)
    assert pref["living thing"] == pref["pets"] == 0
    gain = dict(zip(h.nodes, h.infogain))
    assert gain["pets"] == pytest.approx(math.log2(3) - 1) and gain["object"] == gain["car"]
    # same leaves: the lower node wins by the 0.1 bias per step
    ranked = dict(hedge(h, [0, 0, 1], top=8))
    assert ranked["car"] - ranked["car family"] == pytest.approx(0.1)
    assert ranked["car family"] - ranked["object"] == pytest.approx(0.1)


def test_synset_ids_and_words_name_the_nodes():
    text = "n00001740 n02121808\nn02121808 n02123045\nn02121808 n02123159\n"
    h = parse_hierarchy(text, ["n02123045", "n02123159"], names=["tabby", "tiger cat"],
                        words={"n02121808": "domestic cat", "n00001740": "entity"})
    assert h.names == ("entity", "domestic cat", "tabby", "tiger cat")
    # entity -> domestic cat is a chain: entity has the same leaves, and preference 1
    assert hedge(h, [0.5, 0.5], top=4) == [("tabby", 0.5), ("tiger cat", 0.5),
                                           ("domestic cat", 0.0),
                                           ("entity", pytest.approx(-0.1))]


def test_ties_keep_the_file_order():
    h = parse_hierarchy("r x\nr y\nr z\n", ["z", "y", "x"])
    assert [n for n, _ in hedge(h, [1 / 3] * 3, top=3)] == ["x", "y", "z"]


@pytest.mark.parametrize("text, message", [
    ("shape round extra\n", "<hierarchy>:1: expected 'PARENT CHILD'"),
    ("# c\nshape\n", "<hierarchy>:2: expected 'PARENT CHILD'"),
    ("a b\nb c\nc a\na circle\n", "cycle through"),
    ("shape circle\nshape square\n", "2 of the net's 4 labels are not in the hierarchy: "
                                     "'triangle', 'cross'"),
])
def test_errors_name_the_file_and_line(text, message):
    with pytest.raises(HierarchyError, match=message):
        parse_hierarchy(text, LABELS)


def test_hedge_checks_the_number_of_probabilities():
    with pytest.raises(ValueError, match="3 probabilities for a hierarchy of 4 leaves"):
        hedge(parse_hierarchy(SHAPES, LABELS), [0.2, 0.3, 0.5])


def test_the_bundled_hierarchy_serves_the_bundled_net():
    path = bundled("shapes_hierarchy.txt")
    h = read_hierarchy(path, CLASSES)
    assert set(CLASSES) < set(h.nodes) and h.nodes[0] == "shape"
    with open(bundled("shapes_labels.txt")) as f:
        assert tuple(f.read().split()) == CLASSES
    with pytest.raises(HierarchyError, match=r"shapes_hierarchy.txt: 1 of the net's 5 labels"):
        read_hierarchy(path, CLASSES + ("star",))
