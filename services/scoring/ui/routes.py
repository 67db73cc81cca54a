"""The pages' part of the API app: their routers under /ui, their static files, and the
answers to their refusals (create_app calls install)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.scoring.ui import actions, pages, signin
from services.scoring.ui.listing import Listing
from services.scoring.ui.rendering import STATIC, refusal_handlers


def install(app: FastAPI) -> None:
    app.state.listing = Listing()
    for part in (pages, actions, signin):
        app.include_router(part.router, prefix="/ui")
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    for refusal, answer in refusal_handlers().items():
        app.add_exception_handler(refusal, answer)
