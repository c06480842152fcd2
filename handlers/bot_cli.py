"""Staff commands: ``flask bot ask TEXT`` shows what the bot would answer, without LINE or Redis."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from bot.dialog import Dialog
from bot.knowledge import KnowledgeBase, KnowledgeError

bot_cli = AppGroup("bot", help="Try out the LINE bot's answers.")


@bot_cli.command("ask")
@click.argument("text", nargs=-1, required=True)
def ask(text: tuple[str, ...]) -> None:
    """Print the intent, match score and LINE reply for TEXT as one JSON object."""
    settings = current_app.config["SETTINGS"]
    try:
        kb = KnowledgeBase.load(settings.bot_knowledge_file)
    except KnowledgeError as exc:
        raise click.ClickException(str(exc)) from None
    reply = Dialog(kb).on_text(" ".join(text))
    result = {"intent": reply.intent, "score": round(reply.score, 3), "reply": reply.messages}
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))
