"""What must hold for every endpoint, checked once when the app is built (create_app) rather than
on each request, as Django's system checks are: the app refuses to build, naming the endpoint and
the rule it breaks.

- An endpoint of the API (`/api/…`) is an AuditedRoute, which ends the request's unit of work;
  so is any endpoint with a caller, wherever it is.
- Its first dependency is its caller (app.requests.routing.caller_dependency: the role matrix's
  aliases of app.auth.access, a calendar feed's secret), and it has no other: the caller makes
  the request's unit of work, which the dependencies after it (If-Match, Idempotency-Key) use.
  The few endpoints called before anyone is signed in are listed in NO_CALLER.
- It names its audit action, a member of app.audit.actions.Action (`name=Action.…` in its
  decorator), and no other endpoint names the same one. A GET's HEAD is the same endpoint.
"""

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts

from app.audit.actions import Action
from app.requests.routing import AuditedRoute, is_caller

API_PREFIX = "/api/"

# Called before anyone is signed in, so without a caller: each audits its own attempts, refused
# ones included, under its action (app.auth.service, app.auth.reset).
NO_CALLER = {
    Action.LOGIN: "its form's credentials are what it checks",
    Action.REFRESH_TOKEN: "its refresh token is the credential",
    Action.PASSWORD_RESET_REQUEST: "for whoever cannot sign in",
    Action.PASSWORD_RESET: "its reset token is the credential",
    Action.STRIPE_WEBHOOK: "its Stripe-Signature, checked on the raw body, is the credential",
}


class EndpointRuleBroken(TypeError):
    """An endpoint breaks a rule every endpoint keeps: the app is not built."""

    def __init__(self, route: RouteContext, rule: str) -> None:
        super().__init__(f"{describe(route)} {rule}")


def describe(route: RouteContext) -> str:
    """`GET /api/patients/ (app.patients.routes.list_patients)`: the method(s), the path, and
    the function that answers."""
    methods = set(route.methods or ())
    if "GET" in methods:
        methods.discard("HEAD")
    endpoint = route.endpoint
    function = f"{endpoint.__module__}.{endpoint.__qualname__}" if endpoint else "no function"
    return f"{','.join(sorted(methods)) or '*'} {route.path} ({function})"


def check_endpoints(app: FastAPI) -> None:
    """Refuse the app (EndpointRuleBroken) if one of its endpoints breaks a rule."""
    named: dict[Action, RouteContext] = {}
    for route in iter_route_contexts(app.routes):
        audited = isinstance(route.original_route, AuditedRoute)
        dependant: Dependant | None = getattr(route, "dependant", None)
        calls = [] if dependant is None else [d.call for d in dependant.dependencies]
        api = (route.path or "").startswith(API_PREFIX)
        if not audited:
            if api:
                raise EndpointRuleBroken(route, "is under /api/ but not route_class=AuditedRoute.")
            if dependant is not None and any(map(is_caller, _all_calls(dependant))):
                raise EndpointRuleBroken(route, "has a caller but not route_class=AuditedRoute.")
        if not api:
            continue
        action = getattr(route.original_route, "name", None)
        if not isinstance(action, Action):
            raise EndpointRuleBroken(
                route,
                "names no audit action: give its decorator name=Action.… (app.audit.actions).",
            )
        if (other := named.setdefault(action, route)) is not route:
            raise EndpointRuleBroken(
                route, f"names the audit action {action.value!r} of {describe(other)} too."
            )
        if action in NO_CALLER:
            continue
        if not calls or not is_caller(calls[0]):
            raise EndpointRuleBroken(
                route,
                "has no caller as its first dependency: make the caller its first parameter "
                "(`caller: StaffCaller`, app.auth.access), or list the endpoint in "
                "app.requests.rules.NO_CALLER with why.",
            )
        if any(map(is_caller, calls[1:])):
            raise EndpointRuleBroken(route, "has more than one caller.")


def _all_calls(dependant: Dependant) -> Iterator[object]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _all_calls(dependency)
