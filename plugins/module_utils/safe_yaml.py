# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""YAML from users, loaded with bounds: PyYAML's safe loader plus limits on size, nesting and alias expansion.

``yaml.safe_load`` constructs no Python objects, but it still accepts

- a "billion laughs" document: nine anchors of nine aliases each expand to 10**9 nodes, and every later step
  (copy, JSON, the request) walks all of them, for minutes;
- nesting deeper than about 330 levels, which ends in a RecursionError inside PyYAML;
- an alias to its own anchor (``&a [*a]``), a structure that never ends.

``load_all`` refuses each of them with a ``yaml.YAMLError`` that has a position, before anything is constructed.
"""

from __future__ import annotations

try:
    import yaml
    from yaml.composer import ComposerError

    HAS_YAML = True
except ImportError:  # pragma: no cover - reported by K8sAnsibleModule
    HAS_YAML = False

MAX_CHARS = 16 * 1024 * 1024  # one YAML text (all its documents)
MAX_DEPTH = 100  # levels of nesting of a document, aliases expanded (Kubernetes objects need far fewer)
MAX_NODES = 1000000  # nodes of a document, aliases expanded


class YAMLLimitError(Exception):
    """A YAML text over a limit (without a position: the size of the whole text)."""


if HAS_YAML:
    class BoundedSafeLoader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        """yaml.SafeLoader that refuses deep nesting while composing and alias bombs before constructing."""

        def __init__(self, stream):
            super().__init__(stream)
            self._depth = 0

        def compose_node(self, parent, index):
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    raise ComposerError(None, None, "nested deeper than %d levels" % MAX_DEPTH,
                                        self.peek_event().start_mark)
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_document(self, node):
            _check_expansion(node)
            return super().construct_document(node)


def _children(node):
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root):
    """Refuse ``root`` when, with every alias expanded, it has more than MAX_NODES nodes or MAX_DEPTH levels, or
    never ends. Iterative, and each shared node is measured once, so a bomb is measured in milliseconds."""
    sizes = {}  # id(node) -> (nodes, depth) once measured; None while being measured (a cycle if met again)
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            measured = [sizes[id(child)] for child in _children(node)]
            nodes = 1 + sum(m[0] for m in measured)
            depth = 1 + max([m[1] for m in measured] or [0])
            if nodes > MAX_NODES or depth > MAX_DEPTH:
                problem = ("aliases expand it to more than %d nodes" % MAX_NODES if nodes > MAX_NODES
                           else "aliases expand it deeper than %d levels" % MAX_DEPTH)
                raise ComposerError(None, None, problem, node.start_mark)
            sizes[key] = (nodes, depth)
            continue
        if key in sizes:
            if sizes[key] is None:
                raise ComposerError(None, None, "an alias refers to a node that contains it (a recursive "
                                                "structure)", node.start_mark)
            continue
        sizes[key] = None
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def load_all(text):
    """The documents of a YAML text (like ``yaml.safe_load_all``, as a list), within the limits above."""
    if len(text) > MAX_CHARS:
        raise YAMLLimitError("the text has %d characters, more than the %d (16 MiB) accepted" % (len(text), MAX_CHARS))
    loader = BoundedSafeLoader(text)
    try:
        docs = []
        while loader.check_data():
            docs.append(loader.get_data())
        return docs
    finally:
        loader.dispose()


def depth_over(value, limit):
    """Whether dicts and lists (a definition given as data, not YAML) nest deeper than ``limit`` levels."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, (list, tuple)) else ()
        for child in children:
            if isinstance(child, (dict, list, tuple)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False
