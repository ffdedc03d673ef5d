"""The staff admin in a real browser, as a clinic's staff would use it."""

from app.auth.commands import create_staff
from tests.appointments.conftest import set_hours, staff_id
from tests.browser.conftest import ARTIFACTS
from tests.factories import create_patient

PHONE_RULE = "Phone number must be 9-15 digits, optionally starting with +."


async def log_in(page, live_server: str, username: str, password: str) -> None:
    await page.goto(f"{live_server}/admin/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{live_server}/admin/")


def watch_csp(page) -> list[str]:
    """What Chromium reports the admin's Content-Security-Policy blocked on this page."""
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return blocked


def row(page, patient_id: str):
    return page.locator(f"table tbody tr:has(input[type=hidden][value='{patient_id}'])")


async def test_admin_logs_in_searches_and_sees_the_phone_error_next_to_the_field(
    live_server, page, admin_account, client
):
    wanted = await create_patient(client, first_name="Ottilie", last_name="Zebulon")
    other = await create_patient(client, first_name="Bram", last_name="Other")
    blocked = watch_csp(page)
    external: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((live_server, "data:", "blob:"))
            else external.append(request.url)
        ),
    )
    await log_in(page, live_server, *admin_account)

    await page.goto(f"{live_server}/admin/patient/list")
    await page.fill("#search-input", "zebulon")
    await page.press("#search-input", "Enter")
    await page.wait_for_url("**search=zebulon**")
    await page.screenshot(path=str(ARTIFACTS / "admin-search.png"))
    assert await row(page, wanted["id"]).count() == 1
    assert await row(page, other["id"]).count() == 0

    await page.goto(f"{live_server}/admin/patient/edit/{wanted['id']}")
    await page.fill("#phone_no", "12ab")
    await page.click("#save")
    error = page.locator("#phone_no + .invalid-feedback")
    await error.wait_for()
    await page.screenshot(path=str(ARTIFACTS / "admin-phone-error.png"))
    assert (await error.inner_text()).strip() == PHONE_RULE
    assert await page.locator("#phone_no.is-invalid").count() == 1
    stored = await client.get(f"/api/patients/{wanted['id']}/")
    assert stored.json()["phone_no"] == wanted["phone_no"]
    assert external == [], f"the admin fetched from outside: {external}"
    assert blocked == []


async def test_admin_bulk_deletes_two_patients(live_server, page, admin_account, client):
    doomed = [await create_patient(client, first_name=f"Doomed{i}") for i in range(2)]
    kept = await create_patient(client, first_name="Kept")
    blocked = watch_csp(page)
    await log_in(page, live_server, *admin_account)

    await page.goto(f"{live_server}/admin/patient/list")
    for patient in doomed:
        await row(page, patient["id"]).locator(".select-box").check()
    await page.click("#dropdownMenuButton")
    await page.click("#action-delete")
    await page.locator("#modal-delete-button").wait_for(state="visible")
    async with page.expect_navigation():
        await page.click("#modal-delete-button")
    await page.wait_for_load_state("load")
    assert await row(page, kept["id"]).count() == 1
    await page.screenshot(path=str(ARTIFACTS / "admin-bulk-delete.png"))

    for patient in doomed:
        assert (await client.get(f"/api/patients/{patient['id']}/")).status_code == 404
    assert (await client.get(f"/api/patients/{kept['id']}/")).status_code == 200
    assert blocked == []


async def test_logging_out_asks_and_posts(live_server, page, admin_account):
    blocked = watch_csp(page)
    await log_in(page, live_server, *admin_account)
    response = await page.goto(f"{live_server}/admin/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    await page.click("a[href$='/admin/logout']")
    await page.wait_for_url(f"{live_server}/admin/logout")
    async with page.expect_navigation():
        await page.click("#logout-submit")
    await page.wait_for_url(f"{live_server}/admin/login")
    await page.goto(f"{live_server}/admin/patient/list")
    assert page.url == f"{live_server}/admin/login"
    assert blocked == []


async def test_a_therapist_has_no_delete(live_server, page, settings, client):
    await create_staff(
        settings, username="browser-therapist", password="Heron-Copper-52", role="therapist"
    )
    patient = await create_patient(client, first_name="Safe")
    await log_in(page, live_server, "browser-therapist", "Heron-Copper-52")

    await page.goto(f"{live_server}/admin/patient/list")
    assert await row(page, patient["id"]).count() == 1
    assert await page.locator("#action-delete").count() == 0
    assert await page.locator("a[data-bs-target='#modal-delete']").count() == 0
    await page.goto(f"{live_server}/admin/patient/details/{patient['id']}")
    await page.screenshot(path=str(ARTIFACTS / "admin-therapist-details.png"))
    assert await page.locator("a.btn-danger[data-bs-target='#modal-delete']").count() == 0
    assert (await client.get(f"/api/patients/{patient['id']}/")).status_code == 200


async def test_admin_creates_staff_and_changes_their_password(live_server, page, admin_account):
    blocked = watch_csp(page)
    await log_in(page, live_server, *admin_account)
    await page.click("a[href$='/admin/staff']")
    await page.wait_for_url(f"{live_server}/admin/staff")
    await page.click("#staff-create")
    await page.fill("#username", "okafor")
    await page.fill("#email", "okafor@example.com")
    await page.select_option("#role", "therapist")
    await page.fill("#password", "okafor2024")  # too like the username
    await page.click("#save")
    error = page.locator("#password + .invalid-feedback")
    await error.wait_for()
    assert (await error.inner_text()).strip() == "The password is too similar to the username."
    await page.fill("#password", "quiet-harbour-lamp")
    async with page.expect_navigation():
        await page.click("#save")
    assert page.url == f"{live_server}/admin/staff"
    assert await page.locator("tr[data-staff='okafor']").count() == 1
    await page.screenshot(path=str(ARTIFACTS / "admin-staff.png"))

    await page.click("a[href$='/admin/account/password']")
    await page.fill("#current_password", admin_account[1])
    await page.fill("#new_password", "another-quiet-lamp")
    async with page.expect_navigation():
        await page.click("#save")
    assert page.url.startswith(f"{live_server}/admin/login")
    assert "Your password was changed." in await page.inner_text("#login-message")
    await log_in(page, live_server, admin_account[0], "another-quiet-lamp")
    assert blocked == []


async def test_admin_books_and_cancels_on_the_day_view(
    live_server, page, admin_account, client, settings, engine
):
    blocked = watch_csp(page)
    await create_staff(
        settings, username="browser-okafor", password="Heron-Copper-52", role="therapist"
    )
    therapist_id = await staff_id(engine, "browser-okafor")
    await set_hours(engine, therapist_id, "08:00", "18:00")
    patient = await create_patient(client, first_name="Booked")
    await log_in(page, live_server, *admin_account)
    await page.click("a[href$='/admin/appointments']")
    await page.click("#appointment-create")
    await page.fill("#patient", patient["id"])
    await page.select_option("#therapist", str(therapist_id))
    await page.fill("#start", "2030-01-07T09:00")
    await page.select_option("#kind", "video")
    async with page.expect_navigation():
        await page.click("#save")
    assert "day=2030-01-07" in page.url
    booked = page.locator("#appointments-table tbody tr[data-appointment]")
    assert await booked.count() == 1
    assert "09:00 to 09:50" in await booked.inner_text()
    await page.screenshot(path=str(ARTIFACTS / "admin-appointments-day.png"))
    await booked.locator("input[name=reason]").fill("Therapist ill")
    async with page.expect_navigation():
        await booked.locator("button[type=submit]").click()
    assert "cancelled" in await page.locator("#appointments-table").inner_text()
    assert blocked == []


async def test_admin_records_a_cash_payment_on_the_invoices_page(
    live_server, page, admin_account, client
):
    blocked = watch_csp(page)
    patient = await create_patient(client, first_name="Paying")
    made = await client.post(
        "/api/invoices/",
        json={
            "patient": patient["id"],
            "lines": [{"description": "Session", "unit_price": "80.00"}],
        },
    )
    invoice = (await client.post(f"/api/invoices/{made.json()['id']}/issue/")).json()
    await log_in(page, live_server, *admin_account)

    await page.click("a[href$='/admin/invoices']")
    await page.click("#status-filter a[data-status=open]")
    await page.wait_for_url("**status=open**")
    async with page.expect_navigation():
        await page.click(f"tr[data-invoice='{invoice['id']}'] a")
    await page.select_option("#pay-method", "cash")
    await page.fill("#pay-reference", "Receipt 17")
    async with page.expect_navigation():
        await page.click("#pay-submit")

    assert page.url == f"{live_server}/admin/invoices/{invoice['id']}"
    assert (await page.inner_text("[data-figure=due]")).strip() == "0.00"
    assert "Receipt 17" in await page.inner_text("#invoice-payments")
    await page.screenshot(path=str(ARTIFACTS / "admin-invoice-paid.png"))
    stored = (await client.get(f"/api/invoices/{invoice['id']}/")).json()
    assert (stored["status"], stored["amount_paid"]) == ("paid", "80.00")
    await page.click("#invoice-patient")
    await page.wait_for_url(f"{live_server}/admin/patients/{patient['id']}/balance")
    assert (await page.inner_text("[data-figure=owed]")).strip() == "0.00 USD"
    assert blocked == []


async def test_the_patients_phq9_chart_is_drawn_in_the_page_under_the_csp(
    live_server, page, admin_account, client, tmp_path
):
    from PIL import Image

    from app.measures.chart import BAND_COLOURS, LEFT, y_of
    from app.measures.instruments import instruments
    from tests.measures.test_routes import answers

    patient = await create_patient(client, first_name="Charted")
    for total in (18, 11, 6):
        answered = await client.post(
            f"/api/patients/{patient['id']}/measures/",
            json={"instrument": "phq9", "answers": answers(total, 9)},
        )
        assert answered.status_code == 201, answered.text
    blocked = watch_csp(page)
    await log_in(page, live_server, *admin_account)

    response = await page.goto(f"{live_server}/admin/patient/details/{patient['id']}")
    assert response is not None
    assert "style-src 'self'" in response.headers["content-security-policy"]
    chart = page.locator("svg#chart-phq9")
    await chart.wait_for(state="visible")
    await chart.scroll_into_view_if_needed()
    assert await chart.locator("circle.point").count() == 3
    assert await page.get_attribute("svg#chart-phq9", "role") == "img"
    shot = tmp_path / "admin-phq9-chart.png"
    await page.screenshot(path=str(shot), full_page=True)
    chart_shot = tmp_path / "admin-phq9-chart-only.png"
    await chart.screenshot(path=str(chart_shot))
    await page.screenshot(path=str(ARTIFACTS / "admin-phq9-chart.png"), full_page=True)

    assert shot.stat().st_size > 20_000
    assert chart_shot.stat().st_size > 4_000
    box = await chart.bounding_box()
    assert box is not None
    assert box["width"] > 300
    with Image.open(chart_shot) as image:
        rgb = image.convert("RGB")
        scale = rgb.width / 640  # the chart's own width; a narrower page scales it down
        # Inside the severe band's stripe (scores 20-27), away from its label and the points.
        x, y = (LEFT + 8) * scale, y_of(instruments()["phq9"], 25) * scale
        pixel = rgb.getpixel((round(x), round(y)))
    severe = BAND_COLOURS[-1]
    wanted = tuple(int(severe[i : i + 2], 16) for i in (1, 3, 5))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 3 for a, b in zip(pixel, wanted, strict=True)), (pixel, wanted)
    assert blocked == []
