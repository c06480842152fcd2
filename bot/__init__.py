"""The hospital LINE service (see README.md).

This package holds the app factory (``bot.app``), settings and the pure
dialog core. Importing it stays free of Flask: ``create_app`` below loads the
web stack only when called.
"""


def create_app(*args, **kwargs):
    """``bot.app.create_app``; see there."""
    from bot.app import create_app as build

    return build(*args, **kwargs)
