"""Values on the wire: CBOR with netobj's tags (see ``tags``).

Data (None, bool, int, float, str, bytes, list, tuple, dict) is copied. Anything else goes
through the *ref hook* the caller supplies: it turns an entity (a Var, a protocol-decorated
instance, a proxy) into a :class:`Ref`, or returns None to refuse it, and the value is then
refused with :class:`~netobj.errors.MarshalError` naming its type and its path inside the
value (``args[0]['items'][3]``). Value types of the layers above (``netobj.Record``) encode
themselves (``__netobj_wire__``) and register their decoder here
(:func:`register_value_type`): this layer imports nothing above it.

Decoding never imports or builds a class named by the wire: references are handed to the
caller's *ref resolver*; exceptions become the builtin type of that name, a netobj error of
that name, or :class:`~netobj.errors.RemoteError`. CBOR semantic tags that would build other
Python types (datetimes, decimals, regexes, UUIDs, sets...) are refused.

Limits: an encoded value is at most :data:`MAX_VALUE_BYTES`; nesting at most
:data:`MAX_DEPTH` deep. Cyclic data is refused (it would not terminate).
"""

from __future__ import annotations

import builtins
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import cbor2

from netobj import errors
from netobj.wire import tags

MAX_VALUE_BYTES: Final = 8 * 1024 * 1024
MAX_DEPTH: Final = 200
MAX_TRACEBACK_CHARS: Final = 8000


@dataclass(frozen=True, slots=True)
class Ref:
    """The wire form of a reference to a distributed entity."""

    kind: str  # tags.KIND_*
    protocol: str  # "stationary", "active", ... ("" for vars and ports)
    site_id: str  # the home site's incarnation id
    address: str  # host:port of the home site
    key: str  # the entity's name at its home site (>= 128 random bits)
    cls: str = ""  # cached and replicated objects: the class's qualified name


@dataclass(frozen=True, slots=True)
class Tagged:
    """What a ref hook returns for an entity that travels as a tagged value instead of a
    reference (a determined Var travels as its value: tags.BOUND_VAR / tags.FAILED)."""

    tag: int
    content: object


RefHook = Callable[[object], "Ref | Tagged | None"]
RefResolver = Callable[[Ref], object]

_SCALARS: Final = (str, int, float, bool, bytes, type(None))
#: Types that are their own wire form (frozenset for fast ``type(x) in SCALARS`` tests).
SCALARS: Final = frozenset(_SCALARS)
_KEY_TYPES: Final = (str, int, bytes, bool, float, type(None), tuple)


def _path_str(path: list[str]) -> str:
    return "".join(path) if path else "<value>"


def _to_wire(value: object, ref_hook: RefHook | None, path: list[str], seen: set[int]) -> object:
    cls = type(value)
    if cls in _SCALARS:
        return value
    if len(path) > MAX_DEPTH:
        raise errors.MarshalError(
            f"value nested deeper than {MAX_DEPTH} levels at {_path_str(path)}"
        )
    if cls is list or cls is tuple or cls is dict:
        ident = id(value)
        if ident in seen:
            raise errors.MarshalError(f"cyclic {cls.__name__} at {_path_str(path)}")
        seen.add(ident)
        try:
            if cls is dict:
                out: dict[object, object] = {}
                for k, v in value.items():  # type: ignore[attr-defined]
                    if type(k) not in _KEY_TYPES:
                        raise errors.MarshalError(
                            f"cannot marshal dict key of type {type(k).__qualname__} "
                            f"at {_path_str(path)}"
                        )
                    path.append(f"[{k!r}]")
                    out[_to_wire(k, None, path, seen) if type(k) is tuple else k] = _to_wire(
                        v, ref_hook, path, seen
                    )
                    path.pop()
                return out
            items: list[object] = []
            seq: list[object] | tuple[object, ...] = value  # type: ignore[assignment]
            for i, item in enumerate(seq):
                if type(item) in _SCALARS:
                    items.append(item)
                    continue
                path.append(f"[{i}]")
                items.append(_to_wire(item, ref_hook, path, seen))
                path.pop()
            return cbor2.CBORTag(tags.TUPLE, items) if cls is tuple else items
        finally:
            seen.discard(ident)
    wire_form = getattr(value, "__netobj_wire__", None)
    if wire_form is not None and not isinstance(value, type):
        # Value types of netobj's own (Record) say how they travel.
        tag, content = wire_form()
        path.append(".")
        try:
            return cbor2.CBORTag(tag, _to_wire(content, ref_hook, path, seen))
        finally:
            path.pop()
    if isinstance(value, BaseException):
        return encode_exception_tag(value)
    ref = ref_hook(value) if ref_hook is not None else None
    if type(ref) is Tagged:
        path.append(".")
        try:
            return cbor2.CBORTag(ref.tag, _to_wire(ref.content, ref_hook, path, seen))
        finally:
            path.pop()
    if ref is None:
        raise errors.MarshalError(
            f"cannot marshal a value of type {cls.__module__}.{cls.__qualname__} at "
            f"{_path_str(path)}: only data (None, bool, int, float, str, bytes, list, tuple, "
            "dict, Record), Vars, Ports, proxies and instances of protocol-decorated classes "
            "can be sent"
        )
    assert isinstance(ref, Ref)
    fields = [ref.kind, ref.protocol, ref.site_id, ref.address, ref.key]
    if ref.cls:
        fields.append(ref.cls)
    return cbor2.CBORTag(tags.REF, fields)


def encode(value: object, ref_hook: RefHook | None = None, *, root: str = "") -> bytes:
    """Encode ``value`` to CBOR bytes; ``root`` names the value in error messages."""
    if type(value) in _SCALARS and type(value) is not bytes:
        return cbor2.dumps(value)
    wire = _to_wire(value, ref_hook, [root] if root else [], set())
    data = cbor2.dumps(wire)
    if len(data) > MAX_VALUE_BYTES:
        raise errors.MarshalError(
            f"encoded value is {len(data)} bytes, over the limit of {MAX_VALUE_BYTES}"
        )
    return data


def args_to_wire(args: tuple[object, ...], kwargs: dict[str, object],
                 ref_hook: RefHook | None = None) -> tuple[list[object], dict[str, object] | None]:
    """Call arguments in wire form, ``(args, kwargs or None)``; paths read ``args[i]``.

    Raises MarshalError at once, in the caller's thread, for what cannot travel.
    """
    scalars = SCALARS
    for a in args:
        if type(a) not in scalars:
            break
    else:
        if not kwargs:
            return list(args), None
    seen: set[int] = set()
    wire_args = [
        a if type(a) in scalars else _to_wire(a, ref_hook, [f"args[{i}]"], seen)
        for i, a in enumerate(args)
    ]
    if not kwargs:
        return wire_args, None
    return wire_args, {
        k: _to_wire(v, ref_hook, [f"kwargs[{k!r}]"], seen) for k, v in kwargs.items()
    }


def call_args_tree(args: Sequence[object], kwargs: dict[str, object] | None) -> list[object]:
    """What ``Call.args`` carries: ``[args]`` or ``[args, kwargs]``."""
    return [args] if kwargs is None else [args, kwargs]


def encode_args(args: tuple[object, ...], kwargs: dict[str, object],
                ref_hook: RefHook | None = None) -> bytes:
    return dump(call_args_tree(*args_to_wire(args, kwargs, ref_hook)), "arguments")


def value_to_wire(value: object, ref_hook: RefHook | None = None, root: str = "") -> object:
    """A value as a wire tree (ready for :func:`dump`); MarshalError names the path."""
    if type(value) in _SCALARS:
        return value
    return _to_wire(value, ref_hook, [root] if root else [], set())


def dump(tree: object, what: str = "value") -> bytes:
    """CBOR bytes of a wire tree, refusing more than MAX_VALUE_BYTES."""
    data: bytes = cbor2.dumps(tree)
    if len(data) > MAX_VALUE_BYTES:
        raise errors.MarshalError(
            f"encoded {what} is {len(data)} bytes, over the limit of {MAX_VALUE_BYTES}"
        )
    return data


# -- exceptions ---------------------------------------------------------------------------

_NETOBJ_ERRORS: Final[dict[str, type[BaseException]]] = {
    f"netobj.{name}": getattr(errors, name) for name in errors.__all__
}


def _builtin_exception(name: str) -> type[BaseException] | None:
    cls = getattr(builtins, name, None)
    if (
        isinstance(cls, type)
        and issubclass(cls, Exception)
        and cls.__module__ == "builtins"
    ):
        return cls
    return None


def encode_exception_tag(exc: BaseException) -> cbor2.CBORTag:
    """The wire form of ``exc``. Never raises: the exception's own code (``__str__``, its
    ``args``, its class attributes) may, and then a placeholder stands in for that part."""
    try:
        return _exception_tag(exc)
    except BaseException:  # user code in a hostile exception
        try:
            name = type(exc).__name__
            name = name if type(name) is str else "BaseException"
        except BaseException:
            name = "BaseException"
        return cbor2.CBORTag(tags.EXCEPTION, [name, errors.UNRENDERABLE, [], ""])


def _exception_tag(exc: BaseException) -> cbor2.CBORTag:
    cls = type(exc)
    if cls.__module__ == "builtins":
        name = cls.__qualname__
    elif isinstance(exc, errors.NetobjError) and cls.__name__ in errors.__all__:
        name = f"netobj.{cls.__name__}"
    else:
        name = f"{cls.__module__}.{cls.__qualname__}"
    if type(name) is not str:
        raise TypeError("exception class name is not a str")
    message = errors.safe_str(exc)
    args: list[object] = []
    for a in exc.args:
        if type(a) in _SCALARS:
            args.append(a)
        else:
            args = [message]
            break
    if isinstance(exc, errors.RemoteError):
        name, message, tb_text = exc.type_name, exc.remote_message, exc.remote_traceback
    else:
        tb_text = "".join(traceback.format_exception(exc))[-MAX_TRACEBACK_CHARS:]
    return cbor2.CBORTag(tags.EXCEPTION, [name, message, args, tb_text])


def encode_exception(exc: BaseException) -> bytes:
    return cbor2.dumps(encode_exception_tag(exc))


def _decode_exception(content: object) -> BaseException:
    if not (isinstance(content, list) and len(content) == 4):
        raise errors.ProtocolError("malformed exception on the wire")
    name, message, args, tb_text = content
    if not (isinstance(name, str) and isinstance(message, str) and isinstance(args, list)):
        raise errors.ProtocolError("malformed exception on the wire")
    tb_text = tb_text if isinstance(tb_text, str) else ""
    cls = _NETOBJ_ERRORS.get(name) or _builtin_exception(name)
    exc: BaseException
    if cls is not None and cls is not errors.RemoteError:
        try:
            exc = cls(*args)
        except Exception:
            exc = cls(message)
    else:
        exc = errors.RemoteError(name, message, tb_text)
    if tb_text:
        exc.add_note("remote traceback:\n" + tb_text.rstrip())
    return exc


# -- decoding -----------------------------------------------------------------------------


def _refuse_semantic(tag: int) -> Callable[[object, bool], object]:
    def refuse(content: object, immutable: bool) -> object:
        raise errors.ProtocolError(f"CBOR tag {tag} is not part of netobj's data model")

    return refuse


# Semantic tags cbor2 would otherwise turn into other Python types. Bignums (2, 3) stay.
_REFUSED_SEMANTIC: Final = {
    t: _refuse_semantic(t)
    for t in (0, 1, 4, 5, 25, 28, 29, 30, 35, 36, 37, 38, 100, 256, 258, 260, 261, 1001, 1004)
}


def _unknown_tag(tag: cbor2.CBORTag, immutable: bool) -> object:
    raise errors.ProtocolError(f"unknown CBOR tag {tag.tag}")


def _tuple_from_wire(content: object, immutable: bool) -> object:
    if not isinstance(content, list | tuple):
        raise errors.ProtocolError("malformed tuple on the wire")
    return tuple(content)


def _exception_from_wire(content: object, immutable: bool) -> object:
    return _decode_exception(content)


class Unresolved:
    """Stands, in a leniently decoded batch, for a reference that could not be resolved."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def find_unresolved(value: object, depth: int = 0) -> BaseException | None:
    """The error of the first :class:`Unresolved` inside ``value``, if any."""
    if isinstance(value, Unresolved):
        return value.error
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, list | tuple):
        for item in value:
            found = find_unresolved(item, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, dict):
        for item in value.values():
            found = find_unresolved(item, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, BaseException):
        return None
    else:
        fields = getattr(value, "__netobj_fields__", None)
        if fields is not None:
            return find_unresolved(fields(), depth + 1)
    return None


def _extra_hook(build: Callable[[Any], object]) -> Callable[[Any, bool], object]:
    def hook(content: object, immutable: bool) -> object:
        return build(content)

    return hook


# -- value types defined above the wire layer ----------------------------------------------

#: Decoders of value types that netobj's higher layers define (``netobj.Record``): CBOR tag
#: -> constructor taking the tag's decoded content (ProtocolError when it is malformed).
#: Such a type encodes itself (``__netobj_wire__`` returns ``(tag, content)``); its module
#: registers the way back with :func:`register_value_type` when it is imported, so this
#: layer imports nothing above it. Every :class:`Decoder` made afterwards decodes the tag.
_VALUE_TYPES: dict[int, Callable[[Any], object]] = {}

# Tags whose meaning the codec itself fixes (a registration cannot change them).
_BUILTIN_TAGS: Final = frozenset({tags.TUPLE, tags.REF, tags.EXCEPTION, *_REFUSED_SEMANTIC})


def register_value_type(tag: int, build: Callable[[Any], object]) -> None:
    """Decode CBOR tag ``tag`` with ``build(content)`` in every Decoder made from now on.

    For value types of netobj's own layers; registering a tag again replaces its decoder (a
    reloaded module). A site's per-Decoder hooks (``Decoder(extra=...)``) come on top.
    """
    if tag in _BUILTIN_TAGS:
        raise ValueError(f"CBOR tag {tag} is decoded by the codec itself")
    _VALUE_TYPES[tag] = build


class Decoder:
    """Decodes values, handing references to ``resolve`` (the site's import table).

    Besides data, references and exceptions it decodes the value types registered with
    :func:`register_value_type` and the tags of ``extra`` (tag -> constructor of the tag's
    content; the site's hooks for determined Vars).

    ``lenient=True``: a reference that cannot be resolved decodes to an :class:`Unresolved`
    marker instead of failing the whole value (used to isolate items of a batch).
    """

    __slots__ = ("_semantic",)

    def __init__(self, resolve: RefResolver | None = None, *, lenient: bool = False,
                 extra: Mapping[int, Callable[[Any], object]] | None = None) -> None:
        def ref_from_wire(content: object, immutable: bool) -> object:
            if not (
                isinstance(content, list | tuple)
                and 5 <= len(content) <= 6
                and all(isinstance(c, str) for c in content)
            ):
                raise errors.ProtocolError("malformed entity reference on the wire")
            if resolve is None:
                raise errors.ProtocolError("entity reference where none is allowed")
            if not lenient:
                return resolve(Ref(*content))
            try:
                return resolve(Ref(*content))
            except errors.NetobjError as exc:
                return Unresolved(exc)

        self._semantic: dict[int, Callable[[Any, bool], object]] = {
            **_REFUSED_SEMANTIC,
            tags.TUPLE: _tuple_from_wire,
            tags.REF: ref_from_wire,
            tags.EXCEPTION: _exception_from_wire,
        }
        for tag, build in (*_VALUE_TYPES.items(), *(extra or {}).items()):
            self._semantic[tag] = _extra_hook(build)

    def decode(self, data: bytes) -> object:
        if len(data) > MAX_VALUE_BYTES:
            raise errors.ProtocolError(f"value of {len(data)} bytes is over the limit")
        try:
            return cbor2.loads(
                data,
                tag_hook=_unknown_tag,
                semantic_decoders=self._semantic,
                max_depth=MAX_DEPTH + 8,
            )
        except errors.NetobjError:
            raise
        except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
            cause = exc.__cause__
            if isinstance(cause, errors.NetobjError):
                raise cause from None
            raise errors.ProtocolError(f"malformed CBOR value: {exc}") from exc


def decode_exception(data: bytes) -> BaseException:
    value = Decoder().decode(data)
    if not isinstance(value, BaseException):
        raise errors.ProtocolError("expected an exception on the wire")
    return value
