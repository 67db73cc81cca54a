"""/v1/accounts/{id}/stakeholders: a stakeholder's record, and an account's stakeholders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from services.scoring.accounts.apply import card_of
from services.scoring.accounts.views import stakeholders_view
from services.scoring.api import models
from services.scoring.api.account_rows import account_row, state_of
from services.scoring.api.answers import read_answers, write_answers
from services.scoring.api.deps import Reads, ScorecardInUse, Writer
from services.scoring.api.params import NO_NUL, AccountId
from shared.contracts.inputs import StakeholderFields, StakeholderRecord
from shared.contracts.messages import Email

EMAIL_CHECK: TypeAdapter[str] = TypeAdapter(Email)

router = APIRouter(prefix="/accounts/{account_id}/stakeholders", tags=["stakeholders"])


@router.put("/{email}", responses=write_answers(StakeholderRecord))
async def put_stakeholder(
    account_id: AccountId,
    email: Annotated[str, Path(max_length=320, pattern=NO_NUL)],
    record: StakeholderFields,
    writer: Writer,
) -> JSONResponse:
    try:
        email = EMAIL_CHECK.validate_python(email)
    except ValidationError:
        raise HTTPException(422, "email: must be an email address like name@example.com") from None
    body = {
        "account_id": account_id,
        "email": email,
        **record.model_dump(mode="json", exclude_none=True),
    }
    applied = await writer.write("stakeholder", account_id, body)
    return JSONResponse(body, status_code=200 if applied else 202)


@router.get("", **read_answers(models.Stakeholders, one_account=True))
async def get_stakeholders(
    account_id: AccountId, reads: Reads, scorecard: ScorecardInUse
) -> dict[str, Any]:
    row = await account_row(reads, account_id)
    state = state_of(row)
    people = stakeholders_view(state, card_of(state, scorecard))
    return {"account_id": account_id, "stakeholders": people}
