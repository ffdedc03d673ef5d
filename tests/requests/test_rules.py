"""The rules every endpoint keeps, checked when the app is built (app/requests/rules.py): each
broken one refuses the app, naming the endpoint and the rule."""

import re
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.audit.actions import Action
from app.auth.access import StaffCaller
from app.core.routing import DeferredJSONRoute
from app.requests.routing import AuditedRoute
from app.requests.rules import NO_CALLER, EndpointRuleBroken, check_endpoints

HERE = __name__


def _page() -> int:
    return 1


Page = Annotated[int, Depends(_page)]


def built(*routers: APIRouter) -> FastAPI:
    app = FastAPI()
    for router in routers:
        app.include_router(router)
    check_endpoints(app)
    return app


def refusal(*routers: APIRouter) -> str:
    with pytest.raises(EndpointRuleBroken) as refused:
        built(*routers)
    return str(refused.value)


def test_an_endpoint_that_keeps_every_rule_is_built():
    router = APIRouter(prefix="/api/things", route_class=AuditedRoute)

    @router.get("/", name=Action.LIST_PATIENTS)
    async def listed(caller: StaffCaller, page: Page) -> None: ...

    @router.post("/", name=Action.CREATE_PATIENT)
    async def made(caller: StaffCaller) -> None: ...

    built(router)


def test_an_api_endpoint_without_a_caller_is_refused():
    router = APIRouter(prefix="/api/things", route_class=AuditedRoute)

    @router.get("/", name=Action.LIST_PATIENTS)
    async def callerless(page: Page) -> None: ...

    assert refusal(router) == (
        f"GET /api/things/ ({HERE}.test_an_api_endpoint_without_a_caller_is_refused.<locals>"
        ".callerless) has no caller as its first dependency: make the caller its first "
        "parameter (`caller: StaffCaller`, app.auth.access), or list the endpoint in "
        "app.requests.rules.NO_CALLER with why."
    )


def test_a_caller_after_another_dependency_is_refused():
    router = APIRouter(prefix="/api/things", route_class=AuditedRoute)

    @router.get("/", name=Action.LIST_PATIENTS)
    async def late(page: Page, caller: StaffCaller) -> None: ...

    assert "has no caller as its first dependency" in refusal(router)
    assert "GET /api/things/ (" in refusal(router)


def test_a_decorator_dependency_before_the_caller_is_refused():
    router = APIRouter(prefix="/api/things", route_class=AuditedRoute)

    @router.post("/", name=Action.CREATE_PATIENT, dependencies=[Depends(_page)])
    async def late(caller: StaffCaller) -> None: ...

    assert "POST /api/things/ (" in refusal(router)
    assert "has no caller as its first dependency" in refusal(router)


def test_two_callers_are_refused():
    router = APIRouter(prefix="/api/things", route_class=AuditedRoute)

    @router.get("/", name=Action.LIST_PATIENTS)
    async def twice(caller: StaffCaller, again: StaffCaller) -> None: ...

    assert refusal(router).endswith(".twice) has more than one caller.")


@pytest.mark.parametrize("route_class", [APIRoute, DeferredJSONRoute])
def test_an_api_router_without_the_audited_route_class_is_refused(route_class: type[APIRoute]):
    router = APIRouter(prefix="/api/things", route_class=route_class)

    @router.delete("/{thing_id}/", name=Action.DELETE_PATIENT)
    async def plain(caller: StaffCaller) -> None: ...

    assert re.fullmatch(
        r"DELETE /api/things/\{thing_id\}/ \(tests\.requests\.test_rules\..*\.plain\) is under "
        r"/api/ but not route_class=AuditedRoute\.",
        refusal(router),
    )


def test_a_caller_anywhere_needs_the_audited_route_class():
    router = APIRouter(prefix="/elsewhere")

    @router.get("/", name=Action.LIST_PATIENTS)
    async def outside(caller: StaffCaller) -> None: ...

    assert refusal(router).endswith(".outside) has a caller but not route_class=AuditedRoute.")


def test_an_endpoint_named_by_its_function_alone_is_refused():
    router = APIRouter(prefix="/api/things", route_class=AuditedRoute)

    @router.get("/{patient_id}/")
    async def get_patient(caller: StaffCaller) -> None: ...  # the value, not the Action

    assert refusal(router).endswith(
        ".get_patient) names no audit action: give its decorator name=Action.… (app.audit.actions)."
    )


def test_two_endpoints_with_one_action_are_refused():
    router = APIRouter(prefix="/api/things", route_class=AuditedRoute)

    @router.get("/", name=Action.GET_PATIENT)
    async def first(caller: StaffCaller) -> None: ...

    @router.get("/{thing_id}/", name=Action.GET_PATIENT)
    async def second(caller: StaffCaller) -> None: ...

    message = refusal(router)
    assert message.startswith("GET /api/things/{thing_id}/ (")
    assert ".second) names the audit action 'get_patient' of GET /api/things/ (" in message
    assert message.endswith(".first) too.")


def test_the_same_action_in_two_routers_is_refused():
    one = APIRouter(prefix="/api/one", route_class=AuditedRoute)
    two = APIRouter(prefix="/api/two", route_class=AuditedRoute)

    @one.post("/", name=Action.ADD_TAG)
    async def first(caller: StaffCaller) -> None: ...

    @two.post("/", name=Action.ADD_TAG)
    async def second(caller: StaffCaller) -> None: ...

    assert "names the audit action 'add_tag' of POST /api/one/ (" in refusal(one, two)


def test_a_get_and_its_head_are_one_endpoint():
    router = APIRouter(prefix="/api/things", route_class=AuditedRoute)

    @router.get("/", name=Action.LIST_PATIENTS)
    async def listed(caller: StaffCaller) -> None: ...

    app = built(router)
    [route] = [c for c in iter_route_contexts(app.routes) if c.path == "/api/things/"]
    assert route.methods == {"GET", "HEAD"}


def test_the_endpoints_without_a_caller_are_few_and_say_why():
    router = APIRouter(prefix="/api/auth", route_class=AuditedRoute)

    @router.post("/token/", name=Action.LOGIN)
    async def login(page: Page) -> None: ...

    built(router)
    assert set(NO_CALLER) == {
        Action.LOGIN,
        Action.REFRESH_TOKEN,
        Action.PASSWORD_RESET_REQUEST,
        Action.PASSWORD_RESET,
        Action.STRIPE_WEBHOOK,
    }
    assert all(reason for reason in NO_CALLER.values())


def test_the_app_keeps_every_rule(app: FastAPI):
    check_endpoints(app)  # create_app has already, or the session would have no app
    api = [c for c in iter_route_contexts(app.routes) if (c.path or "").startswith("/api/")]
    assert len(api) > 60
    actions = [getattr(c.original_route, "name", None) for c in api]
    assert all(isinstance(action, Action) for action in actions)
    assert len(set(actions)) == len(actions)
    # Every endpoint's operationId is its action, or its older name where that differs.
    paths = app.openapi()["paths"]
    operation_ids = {
        operation["operationId"]
        for path, operations in paths.items()
        if path.startswith("/api/")
        for operation in operations.values()
    }
    renamed = {"refresh", "request_password_reset", "confirm_password_reset"}
    assert (
        operation_ids == {*actions} - {*NO_CALLER} | {Action.LOGIN, Action.STRIPE_WEBHOOK} | renamed
    )
