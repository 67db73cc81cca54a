"""/v1/silences: Alertmanager's silence shape, created, listed and expired through the API,
with a 422 naming the field for what cannot be a silence and write scope to act."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.cli import UpSettings
from shared.clock import iso, utcnow
from tests.helpers.alert_factories import silence_body
from tests.helpers.in_process import scoring


async def test_a_silence_is_created_listed_and_expired(
    scoring_settings: UpSettings, engine: AsyncEngine
) -> None:
    async with scoring(scoring_settings, engine) as api:
        created = await api.post("/v1/silences", json=silence_body())
        assert created.status_code == 200, created.text
        silence_id = created.json()["silenceID"]
        tomorrow = utcnow() + timedelta(days=1)
        later = await api.post(
            "/v1/silences",
            json=silence_body(startsAt=iso(tomorrow), endsAt=iso(tomorrow + timedelta(days=1))),
        )
        listed = (await api.get("/v1/silences")).json()  # the latest ending first
        assert [(s["id"], s["status"]["state"]) for s in listed] == [
            (silence_id, "active"),
            (later.json()["silenceID"], "pending"),
        ]
        one = (await api.get(f"/v1/silences/{silence_id}")).json()
        assert one["matchers"][1] == {
            "name": "type", "value": "renewal_.*", "isRegex": True, "isEqual": True
        }  # fmt: skip
        assert one["createdBy"] == "sam@vendor.example" and one["status"] == {"state": "active"}

        expired = await api.delete(f"/v1/silences/{silence_id}")
        assert expired.status_code == 200 and expired.json()["status"] == {"state": "expired"}
        shown = (await api.get(f"/v1/silences/{silence_id}")).json()
        assert shown["status"] == {"state": "expired"} and shown["endsAt"] <= iso(utcnow())
        assert (await api.delete("/v1/silences/nothing-like-it")).status_code == 404
        assert (await api.get("/v1/silences/nothing-like-it")).status_code == 404


async def test_what_cannot_be_a_silence_is_a_422_naming_the_field(
    scoring_settings: UpSettings, engine: AsyncEngine
) -> None:
    async with scoring(scoring_settings, engine) as api:
        for body, field, words in [
            (silence_body(matchers=[]), "matchers", "at least 1"),
            (
                silence_body(matchers=[{"name": "type", "value": "renewal_(", "isRegex": True}]),
                "matchers",
                "not a regular expression",
            ),
            (silence_body(matchers=[{"name": "ty pe", "value": "x"}]), "name", "pattern"),
            (
                silence_body(endsAt=iso(utcnow() - timedelta(days=1))),
                "body",
                "endsAt must come after",
            ),
            (silence_body(createdBy=""), "createdBy", "at least 1"),
        ]:
            refused = await api.post("/v1/silences", json=body)
            assert refused.status_code == 422, (body, refused.text)
            assert field in refused.text and words in refused.text, refused.text
        assert (await api.get("/v1/silences")).json() == []
