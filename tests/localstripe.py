"""localstripe (PyPI), a stateful fake Stripe, run as a subprocess for the tests, and what a test
needs around it: the frontend's part of saving a card, Stripe's webhook signature, and a small
HTTP server to receive the webhooks localstripe sends.

Use the session-scoped `localstripe` fixture (tests/conftest.py): one server per xdist worker,
started by the first test that asks for it; it yields the base URL, e.g. http://127.0.0.1:41234,
for STRIPE_API_BASE (see `stripe_settings`). Its data lives as long as the worker: make fresh
customers in each test rather than counting what is there.

Webhooks: register a receiver with `register_webhook(base, name, url, secret)`, i.e.
`POST {base}/_config/webhooks/<name>` with the form fields `url` and `secret` (and optionally
`events`, a list of event types). localstripe then signs each event it makes (as Stripe does:
`Stripe-Signature: t=<created>,v1=<HMAC-SHA256 of "<t>.<body>">`) and POSTs it about one second
later to every webhook registered on the server; registering a name again replaces its URL and
secret, and there is no way to remove one.

What localstripe does not do, and tests must not count on (the processor code speaks real
Stripe): it ignores Idempotency-Key (the same key twice makes two objects); confirming a
SetupIntent does not attach its card to the customer (`confirm_setup` does, as Stripe would);
a declined off-session charge answers a 402 naming the charge only, not the PaymentIntent; a
card needing 3-D Secure off-session answers 200 with status requires_action rather than
Stripe's 402 `authentication_required`; refunds are not checked against what is left to refund;
no events for SetupIntents, payment methods, refunds, charges or disputes (only
customer.*, payment_intent.succeeded and payment_intent.payment_failed among ours), and its
events carry api_version 2017-08-15 with `latest_charge` expanded. Listing PaymentIntents takes
no filter at all; `serve` adds the `created` filter (gt, gte, lt, lte) that
StripeProcessor.list_intents sends, and keeps the store in memory only (localstripe writes every
change to /tmp/localstripe.pickle, which parallel servers would share).
"""

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

if TYPE_CHECKING:
    from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
# localstripe takes any key of this shape; nothing checks it further.
SECRET_KEY = "sk_test_localstripe"
WEBHOOK_SECRET = "whsec_test_localstripe_signing_secret"
START_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(port: int) -> None:
    """Run localstripe on 127.0.0.1:`port` until killed (in the subprocess): in memory only,
    with PaymentIntents listed by `created` as Stripe lists them."""
    from aiohttp import web
    from localstripe import resources, server
    from localstripe.errors import UserError

    def keep_in_memory(self: Any) -> None:
        return None

    resources.Store.dump_to_disk = keep_in_memory
    base_list = resources.StripeObject._api_list_all.__func__

    def list_intents(cls: Any, /, url: str, created: Any = None, **kwargs: Any) -> Any:
        bounds = created if isinstance(created, dict) else {}
        if created is not None and not bounds:
            raise UserError(400, "created takes gt, gte, lt or lte")
        listed = base_list(cls, url, **kwargs)
        tests = {
            "gt": lambda at, bound: at > bound,
            "gte": lambda at, bound: at >= bound,
            "lt": lambda at, bound: at < bound,
            "lte": lambda at, bound: at <= bound,
        }
        for operator, bound in bounds.items():
            if operator not in tests:
                raise UserError(400, "created takes gt, gte, lt or lte")
            listed._list = [
                intent for intent in listed._list if tests[operator](intent.created, int(bound))
            ]
        return listed

    resources.PaymentIntent._api_list_all = classmethod(list_intents)
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


@contextmanager
def localstripe_server() -> Iterator[str]:
    """A localstripe subprocess on a free port: yields its base URL once it answers."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", f"from tests.localstripe import serve; serve({port})"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
        )
        try:
            _wait_until_up(process, base_url, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], base_url: str, log: Any) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"localstripe exited with {process.returncode}:\n{output}")
        try:
            # The one path that needs no key: localstripe's Stripe.js.
            if httpx.get(f"{base_url}/js.stripe.com/v3/", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"localstripe did not answer within {START_SECONDS} seconds")


def stripe_settings(settings: "Settings", base_url: str) -> "Settings":
    """`settings` with card payments through the localstripe at `base_url`."""
    return settings.model_copy(
        update={
            "payments_provider": "stripe",
            "stripe_secret_key": SecretStr(SECRET_KEY),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_api_base": base_url,
        }
    )


async def register_webhook(
    base_url: str, name: str, url: str, secret: str, events: list[str] | None = None
) -> None:
    """Have localstripe send its events to `url`, signed with `secret` (only `events`' types,
    when given)."""
    data: dict[str, Any] = {"url": url, "secret": secret}
    if events is not None:
        data["events[]"] = events
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base_url}/_config/webhooks/{name}", data=data)
    response.raise_for_status()


def _card(number: str, exp_month: int, exp_year: int) -> dict[str, str]:
    return {
        "type": "card",
        "card[number]": number,
        "card[exp_month]": str(exp_month),
        "card[exp_year]": str(exp_year),
        "card[cvc]": "123",
    }


def _api(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {SECRET_KEY}"})


async def attach_card(
    base_url: str, customer: str, card_number: str, exp_month: int = 12, exp_year: int = 2034
) -> str:
    """A card saved on `customer` earlier (a PaymentMethod made and attached): its id. Stripe's
    test numbers: 4242424242424242 pays; 4000000000003220 needs 3-D Secure on every payment;
    4000000000000341 attaches, then every charge is declined."""
    async with _api(base_url) as client:
        method = await client.post(
            "/v1/payment_methods", data=_card(card_number, exp_month, exp_year)
        )
        method.raise_for_status()
        method_id: str = method.json()["id"]
        attached = await client.post(
            f"/v1/payment_methods/{method_id}/attach", data={"customer": customer}
        )
        attached.raise_for_status()
    return method_id


async def confirm_setup(
    base_url: str,
    setup_intent_id: str,
    card_number: str = "4242424242424242",
    exp_month: int = 12,
    exp_year: int = 2034,
) -> str:
    """What Stripe.js does with a SetupIntent's client secret, and Stripe after it: make a card
    PaymentMethod, confirm the SetupIntent with it, and (which localstripe leaves out) attach the
    card to the SetupIntent's customer. Returns the PaymentMethod's id."""
    async with _api(base_url) as client:
        method = await client.post(
            "/v1/payment_methods", data=_card(card_number, exp_month, exp_year)
        )
        method.raise_for_status()
        method_id: str = method.json()["id"]
        confirmed = await client.post(
            f"/v1/setup_intents/{setup_intent_id}/confirm", data={"payment_method": method_id}
        )
        confirmed.raise_for_status()
        customer = confirmed.json()["customer"]
        if confirmed.json()["status"] == "succeeded" and customer:
            attached = await client.post(
                f"/v1/payment_methods/{method_id}/attach", data={"customer": customer}
            )
            attached.raise_for_status()
    return method_id


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `payload`, as Stripe computes it: the v1 scheme's
    HMAC-SHA256, keyed by the endpoint's secret, of `<timestamp>.<payload>`."""
    at = int(time.time()) if timestamp is None else timestamp
    signed = f"{at}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


@dataclass
class Delivery:
    body: bytes
    signature: str | None

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class WebhookReceiver:
    """What a receiver started by `webhook_receiver` got, in order."""

    url: str
    deliveries: list[Delivery] = field(default_factory=list)

    def find(self, event_type: str, object_id: str) -> Delivery | None:
        for delivery in list(self.deliveries):
            event = delivery.event
            if event.get("type") == event_type and event["data"]["object"].get("id") == object_id:
                return delivery
        return None


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A plain HTTP server on a free port (in a thread) that answers every POST with 200 and
    keeps its raw body and Stripe-Signature."""
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.deliveries.append(Delivery(body, self.headers.get("Stripe-Signature")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}/webhook"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
