"""The API's routes, a router per resource; create_app (app.py) assembles them."""
