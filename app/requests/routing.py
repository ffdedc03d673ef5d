"""The route class of every endpoint that works on behalf of a caller: it ends the request's unit
of work (app.requests.work) once the answer is ready, before it is sent, and sends the mail the work
asked for after the answer."""

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import BackgroundTasks, Request, Response

from app.audit.actions import Action
from app.core.routing import DeferredJSONRoute
from app.mail.mailer import deliver_notices
from app.requests.work import UnitOfWork

WORK_STATE = "unit_of_work"
ANSWER_HOOKS_STATE = "answer_hooks"
AnswerHook = Callable[[Response], Awaitable[None]]
CALLER_MARK = "_makes_the_requests_work"
D = TypeVar("D")


class Answered(Exception):
    """Raised by a dependency to answer with `response` instead of running the endpoint (a
    stored response replayed): the work succeeds."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered")
        self.response = response


def use_work(request: Request, work: UnitOfWork) -> None:
    """Make `work` the request's unit of work, for the route to end: a caller's dependency
    does, and an endpoint with a caller is an AuditedRoute (app.requests.rules)."""
    setattr(request.state, WORK_STATE, work)


def caller_dependency(dependency: D) -> D:
    """Mark `dependency` (a function, or a class whose instances are called) as an endpoint's
    caller: it makes the request's unit of work (`use_work`), which the dependencies after it
    use. Every endpoint of the API has one as its first dependency (app.requests.rules)."""
    setattr(dependency, CALLER_MARK, True)
    return dependency


def is_caller(dependency: object) -> bool:
    return getattr(dependency, CALLER_MARK, False) is True


def action_of(request: Request) -> Action:
    """The endpoint's audit action: its name, an Action for every endpoint with a caller
    (app.requests.rules)."""
    action: Action = request.scope["route"].name
    return action


def on_answer(request: Request, hook: AnswerHook) -> None:
    """Run `hook` with a successful answer inside the request's work, before it commits (the
    idempotency store keeps the response this way: the write and its replay commit together)."""
    hooks: list[AnswerHook] = getattr(request.state, ANSWER_HOOKS_STATE, None) or []
    hooks.append(hook)
    setattr(request.state, ANSWER_HOOKS_STATE, hooks)


def work_of(request: Request) -> UnitOfWork | None:
    """The request's unit of work, once its caller's dependency has made it."""
    work: UnitOfWork | None = getattr(request.state, WORK_STATE, None)
    return work


class AuditedRoute(DeferredJSONRoute):
    """Commits the request's work after the endpoint's answer is serialized (with its audit
    event, and what the answer hooks add), or rolls it back and audits the failure."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def audited(request: Request) -> Response:
            try:
                response = await handler(request)
            except Answered as answered:
                response = answered.response
            except BaseException as error:
                if (failed := work_of(request)) is not None:
                    await failed.fail(error)
                raise
            if (work := work_of(request)) is not None:
                try:
                    if 200 <= response.status_code < 300:
                        for hook in getattr(request.state, ANSWER_HOOKS_STATE, ()):
                            await hook(response)
                except BaseException as error:
                    await work.fail(error)
                    raise
                await work.commit()
                if work.notices:
                    _send_after(request, response, work)
            return response

        return audited


def _send_after(request: Request, response: Response, work: UnitOfWork) -> None:
    tasks = BackgroundTasks()
    if response.background is not None:
        tasks.add_task(response.background)
    settings = request.app.state.settings
    tasks.add_task(deliver_notices, request.app.state.mailer, settings.mail_from, work.notices)
    response.background = tasks
