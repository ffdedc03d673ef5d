"""The patient list: search on name, phone and email; filters; sorting; pagination."""

import re

import pytest
from sqlalchemy import text

from app.db.counting import Counting
from tests.admin.conftest import audit_rows
from tests.factories import create_patient

pytestmark = pytest.mark.usefixtures("anonymous")


def listed_ids(html: str) -> list[str]:
    return re.findall(r'<input type="hidden" value="(p_[a-z0-9]{6})">', html)


@pytest.fixture
async def patients(client):
    jane = await create_patient(
        client,
        first_name="Jane",
        last_name="Doe",
        phone_no="+14155550123",
        email="jane@example.com",
        sex="F",
        tags=["anxiety"],
        ssn="123-45-6789",
    )
    john = await create_patient(
        client,
        first_name="John",
        last_name="Smith",
        phone_no="+442071234567",
        email="jsmith@example.org",
        sex="M",
        tags=["sleep"],
        allergies_and_medication="Peanuts",
    )
    mary = await create_patient(
        client, first_name="Mary", last_name="Johnson", sex="F", tags=["anxiety", "sleep"]
    )
    return {"jane": jane["id"], "john": john["id"], "mary": mary["id"]}


async def _ids(staff, query: str = "") -> set[str]:
    response = await staff.get("/admin/patient/list" + query)
    assert response.status_code == 200, response.text
    return set(listed_ids(response.text))


async def test_the_list_shows_every_patient(admin_login, patients):
    staff = await admin_login("therapist")
    response = await staff.get("/admin/patient/list")
    assert set(listed_ids(response.text)) == set(patients.values())
    assert "jane@example.com" in response.text
    assert "123-45-6789" not in response.text  # ssn and allergies are never listed
    assert "Penicillin" not in response.text
    assert 'id="search-input"' in response.text


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("smith", {"john"}),
        ("JOHN", {"john", "mary"}),  # first name John, last name Johnson
        ("mary johnson", {"mary"}),
        ("(415) 555", {"jane"}),
        ("2071234", {"john"}),
        ("example.org", {"john"}),
        ("jane@", {"jane"}),
        ("123-45-6789", set()),  # never searches the encrypted ssn
        ("Peanuts", set()),  # nor the encrypted allergies
        ("nobody", set()),
        ("zz%_\\", set()),
        ("\x00", set()),
    ],
)
async def test_search(admin_login, patients, search, expected):
    staff = await admin_login()
    response = await staff.get("/admin/patient/list", params={"search": search})
    assert response.status_code == 200
    assert set(listed_ids(response.text)) == {patients[name] for name in expected}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?sex=M", {"john"}),
        ("?sex=F", {"jane", "mary"}),
        ("?sex=__all", {"jane", "john", "mary"}),
        ("?sex=X", set()),
        ("?tag=anxiety", {"jane", "mary"}),
        ("?tag=sleep&sex=F", {"mary"}),
        ("?tag=%00", set()),
        ("?created=today", {"jane", "john", "mary"}),
        ("?created=30d&tag=sleep", {"john", "mary"}),
        ("?created=bogus", {"jane", "john", "mary"}),
    ],
)
async def test_filters(admin_login, patients, query, expected):
    staff = await admin_login()
    assert await _ids(staff, query) == {patients[name] for name in expected}


async def test_the_filter_sidebar_offers_sex_tags_and_dates(admin_login, patients):
    staff = await admin_login()
    html = (await staff.get("/admin/patient/list")).text
    for link in ("sex=M", "sex=P", "tag=anxiety", "tag=sleep", "created=today", "created=7d"):
        assert link in html


async def test_sorting_and_pages(admin_login, patients):
    staff = await admin_login()
    html = (await staff.get("/admin/patient/list?sortBy=first_name&sort=asc")).text
    assert listed_ids(html) == [patients["jane"], patients["john"], patients["mary"]]
    html = (await staff.get("/admin/patient/list?sortBy=first_name&sort=desc")).text
    assert listed_ids(html) == [patients["mary"], patients["john"], patients["jane"]]
    default = (await staff.get("/admin/patient/list")).text  # newest first
    assert listed_ids(default) == [patients["mary"], patients["john"], patients["jane"]]
    first = await staff.get("/admin/patient/list?sortBy=first_name&sort=asc&pageSize=2&page=1")
    second = await staff.get("/admin/patient/list?sortBy=first_name&sort=asc&pageSize=2&page=2")
    assert listed_ids(first.text) == [patients["jane"], patients["john"]]
    assert listed_ids(second.text) == [patients["mary"]]
    assert "Showing 3 to 3 of 3 items" in second.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?page=abc", "Invalid page or pageSize parameter"),
        ("?pageSize=-1", "Invalid page or pageSize parameter"),
        ("?pageSize=0", "Invalid page or pageSize parameter"),
        ("?sortBy=ssn", "Invalid sortBy parameter"),  # encrypted: its order would leak
        ("?sortBy=password_hash", "Invalid sortBy parameter"),
    ],
)
async def test_bad_list_parameters_are_refused(admin_login, patients, query, message):
    staff = await admin_login()
    response = await staff.get("/admin/patient/list" + query)
    assert response.status_code == 400, response.text
    assert message in response.text
    assert listed_ids(response.text) == []


@pytest.mark.parametrize("page", ["-5", "0", "7"])
async def test_a_page_out_of_range_redirects_to_the_nearest_page(admin_login, patients, page):
    staff = await admin_login()
    response = await staff.get("/admin/patient/list", params={"page": page})
    assert response.status_code == 302, response.text
    assert response.headers["location"] == "http://testserver/admin/patient/list?page=1"


async def test_list_reads_are_audited(admin_login, patients, engine):
    staff = await admin_login("therapist", "rivera")
    await staff.get("/admin/patient/list", params={"search": "smith"})
    rows = await audit_rows(engine, "admin_list_patients")
    assert [(r["actor"], r["actor_kind"], r["outcome"], r["status_code"]) for r in rows] == [
        ("rivera", "staff", "success", 200)
    ]
    assert rows[0]["client_address"] == "127.0.0.1"


async def test_the_count_past_the_limit_is_the_estimate_as_in_the_api(
    admin_login, patients, engine, settings, monkeypatch
):
    staff = await admin_login()
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE patients"))
    monkeypatch.setattr(settings, "list_exact_count_limit", 1)
    counts = []

    original = Counting.count

    async def counting(self, *args, **kwargs):
        counts.append(result := await original(self, *args, **kwargs))
        return result

    monkeypatch.setattr(Counting, "count", counting)
    html = (await staff.get("/admin/patient/list?pageSize=2&page=2")).text
    assert [count.exact for count in counts] == [False]  # 3 patients, a limit of 1
    assert listed_ids(html) == [patients["jane"]]
    assert "Showing 3 to 3 of 3 items" in html  # the estimate, right after ANALYZE

    monkeypatch.setattr(settings, "list_exact_count_limit", 0)  # always exact
    html = (await staff.get("/admin/patient/list", params={"search": "jane"})).text
    assert "Showing 1 to 1 of 1 items" in html
    assert [count.exact for count in counts] == [False, True]
