"""The app with card payments through this worker's localstripe (`stripe`), for the tests that
save cards; without it the app is the suite's own, PAYMENTS_PROVIDER=none."""

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from app.processor.client import processor_for
from tests.localstripe import stripe_settings


@pytest.fixture
async def stripe(app: FastAPI, localstripe: str) -> AsyncIterator[str]:
    """The session's app with PAYMENTS_PROVIDER=stripe through localstripe for one test (its
    settings and processor swapped, and put back): yields localstripe's base URL."""
    state = app.state
    settings, processor = state.settings, state.processor
    state.settings = stripe_settings(settings, localstripe)
    state.processor = processor_for(state.settings)
    try:
        yield localstripe
    finally:
        await state.processor.aclose()
        state.settings, state.processor = settings, processor
