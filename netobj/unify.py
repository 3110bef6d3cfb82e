"""Unification: ``netobj.unify(a, b)``, which ``Var.bind`` uses.

Rules. Scalars unify when equal and of the same type (``1`` and ``True`` do not). Lists with
lists and tuples with tuples, by position and length; dicts with dicts and Records with
Records (same label), by keys. An unbound Var unifies with anything by being bound to it;
two unbound Vars are joined by linking the smaller to the larger in a strict total order on
(owner site id, var key) - local, never-sent Vars sort below every distributed one - so
every site orients every edge the same way and no cycle of links can form. Cyclic values
terminate: a pair of containers already being unified is assumed to unify.

``Var.bind`` is this function: netobj.var imports nothing above itself, so this module
installs ``unify`` there (:func:`netobj.var.set_unifier`) when it is imported.

Two phases. First the whole unification is planned on the current state, without changing
anything: a mismatch anywhere raises :class:`~netobj.errors.UnificationError` and binds
nothing. Then the planned bindings are made in order. Bindings of Vars owned here (or of
Vars that were never sent) take effect at once.

What is guaranteed when distribution gets in the way. A planned binding of a Var owned by
another site is a *request* to its owner; the first request to reach the owner wins. So a
unification that passed the local plan can still lose a race: its acknowledgement Var fails
with UnificationError, and the bindings it made before that one are *not* undone (other
sites may already have seen them) - exactly as in Mozart, where a thread that loses a
distributed bind re-runs unification against the winner's value and fails there. Each
planned binding is made at most once; the acknowledgement binds to None when every request
was accepted (or the winner's value unified with ours).
"""

from __future__ import annotations

from typing import Any

from netobj.errors import UnificationError
from netobj.record import Record
from netobj.var import Var, deref, set_unifier

MAX_UNIFY_DEPTH = 10_000


def _is_readonly(v: Var[Any]) -> bool:
    ext = v._ext
    return ext is not None and ext.readonly


def _resolve(x: Any, subst: dict[int, Any]) -> Any:
    """deref, also through the bindings planned so far."""
    for _ in range(MAX_UNIFY_DEPTH):
        if isinstance(x, Var) and _is_readonly(x):
            d = deref(x)
            if isinstance(d, Var):
                return x  # keep the view: the planner refuses to bind through it
            x = d
            continue
        x = deref(x)
        if isinstance(x, Var) and id(x) in subst:
            x = subst[id(x)]
            continue
        return x
    raise UnificationError("unification chain too long")


def _plan(a: Any, b: Any, subst: dict[int, Any], keep: list[Any],
          plan: list[tuple[Var[Any], Any]], seen: set[tuple[int, int]], depth: int) -> None:
    if depth > MAX_UNIFY_DEPTH:
        raise UnificationError("values nested too deeply to unify")
    a = _resolve(a, subst)
    b = _resolve(b, subst)
    if a is b:
        return
    a_var, b_var = isinstance(a, Var), isinstance(b, Var)
    for v in (a, b):
        if isinstance(v, Var) and (_is_readonly(v)):
            raise UnificationError("cannot bind a read-only view")
        if isinstance(v, Var) and v._state == 2:  # failed
            raise UnificationError(f"cannot unify a failed Var ({v._value!r})")
    if a_var and b_var:
        small, large = (a, b) if a._order() < b._order() else (b, a)
        subst[id(small)] = large
        keep.append(small)
        plan.append((small, large))
        return
    if a_var or b_var:
        var, value = (a, b) if a_var else (b, a)
        subst[id(var)] = value
        keep.append(var)
        plan.append((var, value))
        return
    ta, tb = type(a), type(b)
    if ta is not tb:
        raise UnificationError(f"cannot unify {a!r} with {b!r}")
    if ta is list or ta is tuple or ta is dict or ta is Record:
        pair = (id(a), id(b))
        if pair in seen:
            return
        seen.add(pair)
        keep.append((a, b))
        if ta is dict or ta is Record:
            if ta is Record and a.label != b.label:
                raise UnificationError(f"cannot unify {a!r} with {b!r}: labels differ")
            if a.keys() != b.keys():
                raise UnificationError(f"cannot unify {a!r} with {b!r}: keys differ")
            for k in a:
                _plan(a[k], b[k], subst, keep, plan, seen, depth + 1)
        else:
            if len(a) != len(b):
                raise UnificationError(f"cannot unify {a!r} with {b!r}: lengths differ")
            for x, y in zip(a, b, strict=True):
                _plan(x, y, subst, keep, plan, seen, depth + 1)
        return
    try:
        equal = bool(a == b)
    except Exception:
        equal = False
    if not equal:
        raise UnificationError(f"cannot unify {a!r} with {b!r}")


def unify(a: Any, b: Any) -> Var[None] | None:
    """Unify ``a`` and ``b``; see the module documentation.

    Returns None when decided here; an acknowledgement Var when owners elsewhere decide;
    raises UnificationError (binding nothing) when the values do not unify.
    """
    subst: dict[int, Any] = {}
    plan: list[tuple[Var[Any], Any]] = []
    keep: list[Any] = []  # keeps planned objects alive so their ids stay unique
    _plan(a, b, subst, keep, plan, set(), 0)
    acks: list[Var[None]] = []
    for var, value in plan:
        ack = _apply(var, value)
        if ack is not None:
            acks.append(ack)
    if not acks:
        return None
    if len(acks) == 1:
        return acks[0]
    return _all(acks)


def _apply(var: Var[Any], value: Any) -> Var[None] | None:
    """Make one planned binding (var is a representative at planning time)."""
    ext = var._ext
    if ext is not None and ext.host is not None and not ext.owned:
        return ext.host.var_remote_bind(var, value, False)
    done = var._link(value) if isinstance(value, Var) else var._settle(1, value)
    if not done:  # changed since the plan (another thread): unify with what it is now
        return unify(var, value)
    return None


def _all(acks: list[Var[None]]) -> Var[None]:
    """A Var bound to None when all ``acks`` are; failed with the first failure."""
    out: Var[None] = Var()
    remaining = [len(acks)]

    def one(v: Var[Any]) -> None:
        if v.failed():
            out._reject(v.exception())  # type: ignore[arg-type]
            return
        remaining[0] -= 1
        if remaining[0] == 0:
            out._resolve(None)

    for ack in acks:
        ack.add_done_callback(one)
    return out


set_unifier(unify)
