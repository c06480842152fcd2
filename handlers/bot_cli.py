"""Staff commands for the bot's answers. Without LINE or Redis: ``flask bot ask`` shows what the bot
would answer, ``flask bot eval`` measures how well it understands a labelled set of messages. With
Redis: ``flask bot unanswered`` lists what patients asked that it could not answer."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from bot.dialog import Dialog, build_dialog
from bot.evaluation import (
    MIN_ACCURACY,
    MIN_EMERGENCY_RECALL,
    EvaluationError,
    evaluate,
    format_report,
    format_summary,
    load_corpus,
    load_examples,
    split,
)
from bot.knowledge import KnowledgeBase, KnowledgeError
from bot.languages import LanguagesError
from bot.lexicon import LexiconError
from handlers.cli_output import CliError, echo
from handlers.services import get_services, hospital_option

bot_cli = hospital_option(AppGroup("bot", help="Try out the LINE bot's answers."))


def _dialog() -> Dialog:
    # A deployment serving several hospitals: the one of --hospital (its own knowledge base).
    settings = get_services().settings if "hospitals" in current_app.extensions else current_app.config["SETTINGS"]
    try:
        return build_dialog(KnowledgeBase.load(settings.bot_knowledge_file), settings)
    except (KnowledgeError, LexiconError, LanguagesError) as exc:
        raise CliError(str(exc)) from None


def _result(dialog: Dialog, text: str) -> dict:
    reply = dialog.on_text(text)
    return {"text": text, "intent": reply.intent, "score": round(reply.score, 3), "reply": reply.messages}


@bot_cli.command("ask")
@click.argument("text", nargs=-1)
@click.option("--file", "file", type=click.File("r", encoding="utf-8"),
              help="One message per line ('-' = standard input); prints one JSON result per line.")
def ask(text: tuple[str, ...], file) -> None:
    """Print the intent, match score and LINE reply for TEXT as one JSON object."""
    if bool(text) == bool(file):
        raise click.UsageError("give either TEXT or --file FILE")
    dialog = _dialog()
    if not file:
        echo(json.dumps(_result(dialog, " ".join(text)), ensure_ascii=False, indent=2))
        return
    for line in file:
        if line.strip():
            echo(json.dumps(_result(dialog, line.strip()), ensure_ascii=False))


@bot_cli.command("eval")
@click.argument("path", type=click.Path(exists=True))
@click.option("--split", "side", type=click.Choice(["all", "train", "test"]), default=None,
              help="For the labelled corpus (a folder): which side of its train/test split; default test "
                   "(the learned matcher is trained on train).")
@click.option("--summary", is_flag=True, help="Only the figures: no list of misses (nor their texts).")
@click.option("--min-accuracy", type=click.FloatRange(0, 1), default=MIN_ACCURACY, show_default=True)
@click.option("--min-emergency-recall", type=click.FloatRange(0, 1), default=MIN_EMERGENCY_RECALL,
              show_default=True)
def evaluate_command(path: str, side: str | None, summary: bool, min_accuracy: float, min_emergency_recall: float) -> None:
    """Accuracy per topic and per category, emergency recall per kind, false alarms, off-topic answers,
    and every miss, on PATH: a YAML or CSV file (text, topic[, kind, tags]) or a folder of YAML files.

    Exits non-zero when emergency recall or overall accuracy is below its threshold."""
    try:
        examples = load_corpus(path) if Path(path).is_dir() else load_examples(path)
    except EvaluationError as exc:
        raise CliError(str(exc)) from None
    side = side or ("test" if Path(path).is_dir() else "all")
    if side != "all":
        examples = split(examples)[side == "test"]
    dialog = _dialog()

    def predict(message: str) -> tuple[str, str]:
        reply = dialog.on_text(message)
        return reply.intent, reply.kind

    report = evaluate(examples, predict)
    if summary:
        echo(f"{len(examples)} messages: accuracy {100 * report.accuracy:.1f}%, emergency recall "
             f"{100 * report.emergency_recall:.1f}%\n{format_summary(report)}")
    else:
        echo(format_report(report, min_accuracy, min_emergency_recall))
    if not report.passed(min_accuracy, min_emergency_recall):
        raise SystemExit(1)


@bot_cli.command("unanswered")
@click.option("--days", type=click.IntRange(1, 365), default=7, show_default=True,
              help="The last N days, today (Bangkok) included.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def unanswered(days: int, limit: int) -> None:
    """The questions the bot most often could not answer: masked phrasings (digits as #, e-mails as @)
    with how often they were asked, most frequent first. No user ids."""
    services = get_services()
    kept = services.settings.bot_unanswered_days
    found = services.unanswered.most_asked(days, limit)
    if not found:
        echo(f"No unanswered questions in the last {days} day{'s' if days > 1 else ''}."
             + (" Recording is off (BOT_UNANSWERED_DAYS=0)." if kept == 0 else ""))
        return
    echo(f"Asked, last {days} day{'s' if days > 1 else ''}, and not understood (most frequent first):")
    width = len(str(found[0][1]))
    for said, count in found:
        echo(f"  {count:>{width}}  {said}")
    if days > kept > 0:
        echo(f"(phrasings are kept {kept} days: BOT_UNANSWERED_DAYS)")
    echo("Try one with `flask bot ask \"…\"`; add what it should match as a trigger in the knowledge base.")
