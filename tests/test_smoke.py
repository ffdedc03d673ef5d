from tests.factories import create_patient


async def test_create_and_read(client):
    created = await create_patient(client)
    response = await client.get(f"/api/patients/{created['id']}/")
    assert response.status_code == 200
    assert response.json() == created
