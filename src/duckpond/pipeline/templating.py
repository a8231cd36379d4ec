"""Jinja2 for text the pond does not trust: resource files and user Templates.

Two uses, two levels of trust, one rule: rendering never runs code and
never reaches outside the values it is given.

- ``substitute(text, variables, origin)``: ``pond apply``'s ``{{ key }}``.
  Only substitution is allowed: ``{{ name }}``, optionally through one of
  the filters in ``SUBSTITUTION_FILTERS`` with constant arguments,
  ``{% raw %}...{% endraw %}`` and ``{# comments #}``.  Anything else (an
  attribute, a call, an operator, a loop, ``include``...) is refused before
  anything is rendered, naming its line.  A resource file is data: its
  rendering is linear in its size.
- ``compile_template(text, origin)`` and ``render(template, context,
  origin)``: a ``Template`` resource's pages.  The full language in Jinja2's
  ``ImmutableSandboxedEnvironment`` (no ``__class__``/``__globals__`` walks,
  no mutation of lists and dicts), with no loader (``include``,
  ``extends`` and ``import`` are refused when the template is compiled,
  because a template is one file) and with bounds on what one render may
  spend: ``MAX_STEPS`` loop iterations, calls and filter items,
  ``MAX_SECONDS`` of wall time, ``MAX_VALUE`` characters or items in any
  one value (``'a' * 10**9`` is refused before it is built), and
  ``MAX_OUTPUT`` characters of output.  Going over a bound is a
  ``ConfigError`` naming the template and what was exceeded.

Every error is one ``ConfigError`` line (``origin: line N: problem``).
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    import jinja2
    from jinja2 import nodes

MAX_STEPS = 5_000_000
"""Loop iterations, calls and filter input items one render may spend."""
MAX_SECONDS = 10.0
"""Wall time one render may take."""
MAX_VALUE = 4_000_000
"""Characters of a string (items of a list) any one operation may produce."""
MAX_OUTPUT = 64_000_000
"""Characters one render may write."""
MAX_SOURCE = 1_000_000
"""Characters of a template's source."""
MAX_WIDTH = 10_000
"""The widest padding or field width a format, filter or method may ask for."""

SUBSTITUTION_FILTERS = frozenset({"default", "lower", "upper", "trim"})
"""The filters ``{{ key | f }}`` may use in a resource file."""

# What a name in a refusal calls each construct a resource file may not use.
_CONSTRUCTS = {
    "Getattr": "an attribute (.name)",
    "Getitem": "a subscript ([...])",
    "Call": "a call",
    "For": "a for loop",
    "If": "an if block",
    "CondExpr": "an if expression",
    "Include": "an include",
    "Extends": "an extends",
    "Import": "an import",
    "FromImport": "an import",
    "Macro": "a macro",
    "CallBlock": "a call block",
    "Assign": "a set",
    "AssignBlock": "a set",
    "Block": "a block",
    "FilterBlock": "a filter block",
    "With": "a with block",
    "Concat": "the ~ operator",
}


class _Limit(Exception):
    """A render went over one of its bounds; ``render`` reports it as a ``ConfigError``."""


# -- resource files: substitution only ---------------------------------------------------


def _substitution_environment() -> jinja2.Environment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    # Nothing but the -v values is in scope: no range, cycler, lipsum, dict, namespace.
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in SUBSTITUTION_FILTERS}
    env.tests = {}
    return env


def _refuse_beyond_substitution(tree: nodes.Template, origin: str) -> None:
    """``ConfigError`` at the first node that is not plain substitution."""
    from jinja2 import nodes

    def problem(node: nodes.Node) -> str | None:
        if isinstance(node, nodes.Template | nodes.Output | nodes.TemplateData | nodes.Const):
            return None
        if isinstance(node, nodes.Name):
            return None if node.ctx == "load" else "an assignment"
        if isinstance(node, nodes.Filter):
            if node.name not in SUBSTITUTION_FILTERS:
                return (
                    f"the filter {node.name!r} (allowed: {', '.join(sorted(SUBSTITUTION_FILTERS))})"
                )
            extras = [*node.args, *(kw.value for kw in node.kwargs)]
            if node.dyn_args is not None or node.dyn_kwargs is not None:
                return "a filter argument that is not a constant"
            if any(not isinstance(arg, nodes.Const) for arg in extras):
                return "a filter argument that is not a constant"
            return None
        if isinstance(node, nodes.Keyword):
            return None
        name = type(node).__name__
        return _CONSTRUCTS.get(name, f"an expression ({name})")

    def walk(node: nodes.Node) -> None:
        found = problem(node)
        if found is not None:
            raise ConfigError(
                f"{origin}: line {node.lineno}: only {{{{ name }}}} substitution is allowed "
                f"in a resource file, not {found}"
            )
        for child in node.iter_child_nodes():
            walk(child)

    walk(tree)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def substitute(text: str, variables: Mapping[str, str], origin: str) -> str:
    """``text`` with each ``{{ key }}`` replaced by ``variables[key]``.

    ``ConfigError`` (one line naming ``origin`` and the line) for a syntax
    error, anything beyond substitution, or an undefined variable (whose
    message is ``undefined variable 'key'`` so callers can add advice).
    Linear in the size of ``text`` plus the values substituted.
    """
    from jinja2 import TemplateSyntaxError, UndefinedError

    for key, value in variables.items():
        # Values are spliced into the YAML text before it is parsed: a line break would let a
        # value add keys or documents of its own instead of being one scalar.
        if _CONTROL.search(value):
            raise ConfigError(
                f"variable '{key}': a value may not hold a line break or control character "
                "(it would change the resource file's structure, not fill in one value)"
            )
    env = _substitution_environment()
    try:
        tree = env.parse(text)
    except TemplateSyntaxError as exc:
        raise ConfigError(f"{origin}: line {exc.lineno}: template error: {exc.message}") from None
    _refuse_beyond_substitution(tree, origin)
    try:
        return env.from_string(tree).render(**variables)
    except UndefinedError as exc:
        m = re.search(r"'([^']+)' is undefined", str(exc))
        raise ConfigError(f"undefined variable '{m.group(1) if m else exc}'") from None


# -- Template resources: a bounded sandbox ----------------------------------------------


@dataclass
class _Budget:
    """What one render has spent, and when it must stop."""

    steps: int = 0
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_SECONDS)
    weights: dict[int, tuple[Any, int]] = field(default_factory=dict)

    def charge(self, steps: int = 1) -> None:
        self.steps += steps
        if self.steps > MAX_STEPS:
            raise _Limit(
                f"the template took more than {MAX_STEPS:,} steps (loop iterations, calls)"
            )
        if time.monotonic() > self.deadline:
            raise _Limit(f"the template ran longer than {MAX_SECONDS:g} s")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "duckpond_template_budget", default=None
)


def _charge(steps: int = 1) -> None:
    budget = _budget.get()
    # Outside render() (Jinja2 folding constants while compiling) only sizes are checked.
    if budget is not None:
        budget.charge(steps)


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        return len(value)
    return 0


_CONTAINERS = (list, tuple, dict, set, frozenset)


def _weigh(value: Any) -> int:
    """Characters and items ``value`` holds, counting shared parts each time they appear.

    ``[a, a, a]`` weighs three times ``a``: what ``str``, ``tojson`` or ``==``
    would walk.  Walking stops (``_Limit``) past ``MAX_VALUE``, so
    a structure built by nesting shared lists (``[b, b, b]`` where ``b`` is
    ``[a, a, a]``...) is refused before anything walks it in full.
    """
    if isinstance(value, str | bytes):
        if len(value) > MAX_VALUE:
            raise _Limit(f"a value of more than {MAX_VALUE:,} characters")
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 1
    budget = _budget.get()
    known = budget.weights if budget is not None else {}
    cached = known.get(id(value))
    if cached is not None and cached[0] is value:
        return cached[1]
    total = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, _CONTAINERS):
            seen = known.get(id(item))
            if seen is not None and seen[0] is item:
                total += seen[1]
            else:
                total += 1
                stack.extend(item.items() if isinstance(item, dict) else item)
        else:
            total += 1
        if total > MAX_VALUE:
            raise _Limit(
                f"a value of more than {MAX_VALUE:,} items (counting shared parts each time)"
            )
    if len(value) > 16:
        # Kept with the value itself, so its id cannot be reused by another during the render.
        known[id(value)] = (value, total)
    return total


def _check_value(value: Any, what: str) -> Any:
    try:
        _weigh(value)
    except _Limit:
        raise _Limit(f"{what} made a value of more than {MAX_VALUE:,} items") from None
    return value


def _check_width(number: Any, what: str) -> None:
    if isinstance(number, int) and not isinstance(number, bool) and abs(number) > MAX_WIDTH:
        raise _Limit(f"{what}: a width of {number:,} is over {MAX_WIDTH:,}")


_FORMAT_NUMBERS = re.compile(r"\d+")


def _check_format_string(fmt: str, args: Iterable[Any], what: str) -> None:
    """Refuse ``%999999999s``, ``{:999999999}`` and ``*`` widths given by arguments."""
    for digits in _FORMAT_NUMBERS.findall(fmt):
        # Digits in a format string are widths, precisions or literal text; none needs this many.
        if len(digits) > len(str(MAX_WIDTH)):
            raise _Limit(f"{what}: a format width of {digits} is over {MAX_WIDTH:,}")
    if "*" in fmt:
        for arg in args:
            _check_width(arg, what)


def _check_expansion(fmt: str, args: Iterable[Any], marker: str, what: str) -> None:
    """Refuse a format string that would repeat a heavy argument past ``MAX_VALUE``."""
    heaviest = max((_weigh(a) for a in args), default=0)
    if len(fmt) + fmt.count(marker) * heaviest > MAX_VALUE:
        raise _Limit(f"{what} would make a value of more than {MAX_VALUE:,} items")


def _check_join(parts: Any, separator: Any, what: str) -> None:
    """Refuse a join whose separator and parts would add up past ``MAX_VALUE``."""
    if not isinstance(parts, _CONTAINERS):
        return
    items = list(parts)
    total = sum(_weigh(p) for p in items) + _weigh(separator) * max(len(items) - 1, 0)
    if total > MAX_VALUE:
        raise _Limit(f"{what} would make a value of more than {MAX_VALUE:,} items")


def _check_replace(text: Any, old: Any, new: Any, what: str) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        count = text.count(old) if old else len(text) + 1
        if len(text) + count * len(new) > MAX_VALUE:
            raise _Limit(f"{what} would make a value of more than {MAX_VALUE:,} items")


# str methods whose result grows with an integer argument.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
# Filters whose output grows with an integer argument.
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "filesizeformat"})


def _bounded_range(*args: int) -> Iterator[int]:
    from jinja2.sandbox import safe_range

    for value in safe_range(*args):
        _charge()
        yield value


def _iterate(value: Any) -> Iterator[Any]:
    """A for loop's iterable, charged per item."""
    for item in value:
        _charge()
        yield item


def _bounded(value: Any) -> Any:
    """A value a ``~``, a ``{% set %}`` block or a comparison uses, checked for size."""
    return _check_value(value, "an expression")


def _wrap_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # A filter that receives a context or environment gets it first: the value is after.
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        values = args[skip:]
        weight = sum(_weigh(v) for v in (*values, *kwargs.values()))
        _charge(1 + min(weight, MAX_STEPS))
        if weight > MAX_VALUE:
            raise _Limit(f"filter {name}: its input is over {MAX_VALUE:,} items")
        if name in _WIDTH_FILTERS:
            for extra in [*values[1:], *kwargs.values()]:
                _check_width(extra, f"filter {name}")
        if name == "format" and values and isinstance(values[0], str):
            given = [*values[1:], *kwargs.values()]
            _check_format_string(values[0], given, "filter format")
            _check_expansion(values[0], given, "%", "filter format")
        if name == "replace" and len(values) >= 3:
            _check_replace(values[0], values[1], values[2], "filter replace")
        if name == "join" and values:
            separator = values[1] if len(values) > 1 else kwargs.get("d", "")
            _check_join(values[0], separator, "filter join")
        if name == "sum" and values and isinstance(values[0], _CONTAINERS):
            # Summed lists or strings add up: weigh the parts as they will be.
            _check_value([*values[0], *values[1:], *kwargs.values()], "filter sum")
        return _check_value(func(*args, **kwargs), f"filter {name}")

    return bounded


def _power_bits(base: Any, exponent: Any) -> float:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (base, exponent)):
        return 0.0
    if exponent <= 0 or abs(base) <= 1:
        return 0.0
    return float(exponent) * math.log2(abs(base))


def _finalize(value: Any) -> Any:
    """Every ``{{ expression }}``'s value, checked before it is turned into text."""
    _charge()
    return _check_value(value, "an expression")


def _bounded_environment_class() -> type[jinja2.Environment]:
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BoundedEnvironment(ImmutableSandboxedEnvironment):
        """An immutable sandbox whose renders are bounded in steps, time and sizes."""

        intercepted_binops = frozenset({"*", "**", "%", "+"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _charge()
            if operator == "*":
                for seq, times in ((left, right), (right, left)):
                    # Weighed in full: (big,) * 1000 repeats big a thousand times for str().
                    if _size(seq) and isinstance(times, int) and _weigh(seq) * times > MAX_VALUE:
                        raise _Limit(f"'*' would make a value of more than {MAX_VALUE:,} items")
            elif operator == "**":
                if _power_bits(left, right) > MAX_VALUE:
                    raise _Limit(f"'**' would make a number of more than {MAX_VALUE:,} bits")
            elif operator == "%" and isinstance(left, str):
                if isinstance(right, dict):
                    args: tuple[Any, ...] = tuple(right.values())
                else:
                    args = right if isinstance(right, tuple) else (right,)
                _check_format_string(left, args, "'%' formatting")
                _check_expansion(left, args, "%", "'%' formatting")
            result = super().call_binop(context, operator, left, right)
            return _check_value(result, f"'{operator}'")

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            # A call (a macro's above all) costs about ten loop iterations.
            _charge(10)
            for arg in (*args, *kwargs.values()):
                _weigh(arg)
            owner = getattr(__obj, "__self__", None)
            if isinstance(owner, str):
                name = getattr(__obj, "__name__", "")
                if name in _WIDTH_METHODS:
                    for arg in (*args, *kwargs.values()):
                        _check_width(arg, f"str.{name}")
                elif name == "replace" and len(args) >= 2:
                    _check_replace(owner, args[0], args[1], "str.replace")
                elif name == "join" and args:
                    _check_join(args[0], owner, "str.join")
            result = super().call(__context, __obj, *args, **kwargs)
            return _check_value(result, "a call")

        def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
            wrapped = super().wrap_str_format(value)
            if wrapped is None:
                return None
            fmt = value.__self__

            def checked(*args: Any, **kwargs: Any) -> str:
                _check_format_string(fmt, [*args, *kwargs.values()], "str.format")
                _check_expansion(fmt, [*args, *kwargs.values()], "{", "str.format")
                return str(_check_value(wrapped(*args, **kwargs), "str.format"))

            return checked

        def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
            tree = super()._parse(source, name, filename)
            for node in tree.find_all(
                (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)
            ):
                word = {
                    nodes.Include: "include",
                    nodes.Extends: "extends",
                    nodes.Import: "import",
                    nodes.FromImport: "import",
                }[type(node)]
                raise _Refused(
                    node.lineno,
                    f"{word} is not supported: a Template is one file "
                    "(put the shared parts in it, as macros)",
                )
            for loop in tree.find_all(nodes.For):
                if loop.recursive:
                    raise _Refused(
                        loop.lineno, "recursive loops are not supported (use a macro instead)"
                    )
                loop.iter = nodes.Filter(loop.iter, "_dp_iterate", [], [], None, None)
            for compare in tree.find_all(nodes.Compare):
                # == and 'in' walk both sides in full, as str() does.
                compare.expr = nodes.Filter(compare.expr, "_dp_bounded", [], [], None, None)
                for operand in compare.ops:
                    operand.expr = nodes.Filter(operand.expr, "_dp_bounded", [], [], None, None)
            for block in tree.find_all(nodes.AssignBlock):
                block.filter = nodes.Filter(block.filter, "_dp_bounded", [], [], None, None)
            _wrap_concat(tree)
            return tree

    return BoundedEnvironment


class _Refused(Exception):
    """A construct the bounded sandbox does not compile (turned into a ConfigError)."""

    def __init__(self, lineno: int, message: str) -> None:
        super().__init__(message)
        self.lineno = lineno


def _wrap_concat(tree: nodes.Template) -> None:
    """Put every ``~`` result through ``_dp_bounded`` (a doubling loop stops at MAX_VALUE)."""
    from jinja2 import nodes

    def wrapped(value: Any) -> Any:
        if isinstance(value, nodes.Concat):
            return nodes.Filter(value, "_dp_bounded", [], [], None, None)
        return value

    for node in [tree, *tree.find_all(nodes.Node)]:
        for name in node.fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                setattr(node, name, [wrapped(v) for v in value])
            else:
                setattr(node, name, wrapped(value))


@functools.cache
def _template_environment() -> jinja2.Environment:
    from jinja2 import StrictUndefined

    env = _bounded_environment_class()(
        undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False, finalize=_finalize
    )
    env.globals.pop("lipsum", None)
    env.globals["range"] = _bounded_range
    env.filters = {name: _wrap_filter(name, f) for name, f in env.filters.items()}
    env.filters["_dp_iterate"] = _iterate
    env.filters["_dp_bounded"] = _bounded
    return env


def compile_template(text: str, origin: str) -> jinja2.Template:
    """``text`` as a bounded, sandboxed template; ``ConfigError`` naming ``origin`` and line."""
    from jinja2 import TemplateSyntaxError

    if len(text) > MAX_SOURCE:
        raise ConfigError(f"{origin}: a template is at most {MAX_SOURCE:,} characters")
    try:
        return _template_environment().from_string(text)
    except TemplateSyntaxError as exc:
        raise ConfigError(f"{origin}: line {exc.lineno}: {exc.message}") from None
    except _Refused as exc:
        raise ConfigError(f"{origin}: line {exc.lineno}: {exc}") from None


def render(template: jinja2.Template, context: Mapping[str, Any], origin: str) -> str:
    """``template`` rendered with ``context`` within the bounds; ``ConfigError`` on any error."""
    from jinja2 import TemplateError

    token = _budget.set(_Budget())
    try:
        pieces: list[str] = []
        written = 0
        for piece in template.generate(dict(context)):
            written += len(piece)
            if written > MAX_OUTPUT:
                raise _Limit(f"the template wrote more than {MAX_OUTPUT:,} characters")
            pieces.append(piece)
            _charge()
        return "".join(pieces)
    except _Limit as exc:
        raise ConfigError(f"{origin}{_line_of(exc)}: {exc}") from None
    except TemplateError as exc:
        raise ConfigError(f"{origin}{_line_of(exc)}: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{origin}: the template recursed too deeply") from None
    except (ArithmeticError, ValueError, TypeError, LookupError) as exc:
        # What an expression can raise on the data it was given (1/0, int('x'), {}['k']).
        message = " ".join(str(exc).split())
        raise ConfigError(f"{origin}{_line_of(exc)}: {type(exc).__name__}: {message}") from None
    finally:
        _budget.reset(token)


def _line_of(exc: BaseException) -> str:
    line = template_line(exc)
    return f" line {line}" if line is not None else ""


def template_line(exc: BaseException) -> int | None:
    """The template line an error at render time comes from, when Jinja2 says."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
