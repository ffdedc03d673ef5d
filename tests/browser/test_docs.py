"""/docs in a real browser: it renders offline, the Authorize button logs in, and
"list patients" runs from the page."""

from tests.browser.conftest import ARTIFACTS
from tests.factories import create_patient


async def test_docs_authorize_and_list_patients(live_server, page, admin_account, client):
    await create_patient(client, first_name="Browsy", last_name="McTest")
    username, password = admin_account
    external: list[str] = []
    page.on(
        "request",
        lambda request: (
            external.append(request.url)
            if not request.url.startswith((live_server, "data:", "blob:"))
            else None
        ),
    )

    await page.goto(f"{live_server}/docs")
    await page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    await dialog.locator("#oauth_username").fill(username)
    await dialog.locator("#oauth_password").fill(password)
    await dialog.locator(".auth-btn-wrapper .authorize").click()
    await page.locator(".auth-btn-wrapper button", has_text="Logout").wait_for()
    await page.screenshot(path=str(ARTIFACTS / "docs-authorized.png"))
    await page.locator("button.btn-done").click()

    operation = page.locator("#operations-patients-list_patients")
    await operation.locator(".opblock-summary").click()
    await operation.get_by_role("button", name="Try it out").click()
    await operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    await status.wait_for()
    await page.screenshot(path=str(ARTIFACTS / "docs-list-patients.png"), full_page=True)

    assert (await status.inner_text()).strip() == "200"
    body = await operation.locator(".live-responses-table .microlight").first.inner_text()
    assert "Browsy" in body
    assert external == [], f"the docs page fetched from outside: {external}"
