"""The `leadq` command line: broker, run, alerts, api, demo, simulate, backtest, tail, shadow,
rules."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from streams.alerts.cli import alerts_app
from streams.api.cli import api as api_command
from streams.broker.cli import broker_app
from streams.core.ruleset import PRESETS, RulesetError, load_ruleset
from streams.settings import Settings
from streams.shadow_cli import shadow_app


class OneLineErrors(TyperGroup):
    """Usage errors (an invalid option value, a missing file, an unknown command) as one
    `error: ...` line on stderr with exit code 2, like every other error of leadq."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        call = (args, prog_name, complete_var, False, windows_expand_args)
        if not standalone_mode:
            return super().main(*call, **extra)
        try:
            code = super().main(*call, **extra)
        except typer.TyperException as exc:
            # No arguments: the help is already shown (as Typer does, by the class name).
            if type(exc).__name__ != "NoArgsIsHelpError":
                typer.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="leadq",
    cls=OneLineErrors,
    help="Real-time sales-lead qualifier: Kafka events in, SQL/SQO stage changes out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(broker_app, name="broker", help="A local Apache Kafka (KRaft) for development.")
rules_app = typer.Typer(help="Check, inspect and learn rulesets.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(shadow_app, name="shadow", help="Compare a shadow ruleset with the active one.")
app.add_typer(
    alerts_app, name="alerts", help="Deliver stage changes and SLA events to webhooks and Slack."
)
app.command("api")(api_command)

RulesOption = Annotated[
    str | None,
    typer.Option("--rules", help=f"Preset ({', '.join(PRESETS)}) or TOML file; env LEADQ_RULES."),
]


# Exit codes (docs/cli.md): 0 success, 1 a failure while running, 2 bad usage or bad input.
FAILED = 1
BAD_INPUT = 2


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print one clear sentence to stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def kafka_failed(settings: Settings, exc: BaseException) -> typer.Exit:
    """Kafka could not be used: a failure while running."""
    detail, kind = str(exc), type(exc).__name__
    if not detail.startswith(kind):
        detail = f"{kind}: {detail}"
    return fail(
        f"cannot use Kafka at {settings.kafka_bootstrap_servers} ({detail});"
        " check KAFKA_BOOTSTRAP_SERVERS and credentials",
        FAILED,
    )


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"leadq {version('leadq')}")
        raise typer.Exit()


@app.callback()
def main_options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    pass


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus command-line overrides, or a clear error."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        raise fail(f"invalid setting {first['loc'][0]}: {first['msg']}") from None


@app.command()
def run(
    rules: RulesOption = None,
    shadow: Annotated[
        str | None,
        typer.Option(
            "--shadow",
            help="A shadow ruleset (preset or TOML file) evaluated alongside, writing only to"
            " leads.shadow-stage-changes; env LEADQ_SHADOW_RULES.",
        ),
    ] = None,
    loglevel: Annotated[
        Literal["crit", "error", "warn", "info", "debug"], typer.Option(help="Worker log level.")
    ] = "warn",
) -> None:
    """Run a qualifier worker (scale out by starting more with the same settings)."""
    from aiokafka.errors import KafkaError

    from streams.worker.runner import run_worker

    settings = load_settings(rules=rules, shadow_rules=shadow)
    try:
        load_ruleset(settings.rules)
        if settings.shadow_rules:
            load_ruleset(settings.shadow_rules)
    except RulesetError as exc:
        raise fail(str(exc)) from None
    try:
        run_worker(settings, loglevel=loglevel)
    except (KafkaError, TimeoutError, OSError) as exc:
        raise kafka_failed(settings, exc) from None


@app.command()
def demo(
    leads: Annotated[int, typer.Option(min=0, help="Simulated leads besides the article's.")] = 500,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    rate: Annotated[float, typer.Option(min=1, help="Simulated events per second.")] = 400.0,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running", help="Keep serving the funnel page (and the broker) until Ctrl-C."
        ),
    ] = False,
) -> None:
    """The main job end to end: broker, worker, the article's scenarios, simulated traffic
    and its live funnel page."""
    from aiokafka.errors import KafkaError

    from streams.api.cli import load_api_settings
    from streams.broker.errors import BrokerError
    from streams.tools.demo import run_demo

    settings = load_settings()
    api_settings = load_api_settings()
    try:
        code = asyncio.run(
            run_demo(
                settings,
                leads=leads,
                seed=seed,
                rate=rate,
                api_settings=api_settings,
                keep_running=keep_running,
            )
        )
    except BrokerError as exc:
        raise fail(str(exc), FAILED) from None
    except (KafkaError, TimeoutError, OSError) as exc:
        raise kafka_failed(settings, exc) from None
    raise typer.Exit(code)


@app.command()
def simulate(
    leads: Annotated[int, typer.Option(min=0, help="Number of leads.")] = 1000,
    rate: Annotated[
        float, typer.Option(min=0, help="Events per second (0 = as fast as possible).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same traffic.")] = 1,
    events_out: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            writable=True,
            help="Write the events to this JSON Lines file (then nothing goes to Kafka).",
        ),
    ] = None,
    outcomes_out: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            writable=True,
            help="Write each lead's outcome (won/lost) to this CSV file (no Kafka).",
        ),
    ] = None,
) -> None:
    """Produce realistic, reproducible mixed traffic to the input topics (or to files)."""
    from streams.tools.simulate.output import produce, write_history, write_outcomes
    from streams.tools.simulate.traffic import generate, simulated_outcomes

    events = generate(leads, seed)
    if events_out is not None or outcomes_out is not None:
        try:
            if events_out is not None:
                write_history(events, events_out)
                typer.echo(f"wrote {len(events)} events to {events_out}")
            if outcomes_out is not None:
                write_outcomes(simulated_outcomes(leads, seed), outcomes_out)
                typer.echo(f"wrote {leads} outcomes to {outcomes_out}")
        except OSError as exc:
            raise fail(f"cannot write {exc.filename}: {exc.strerror}", FAILED) from None
        return
    from aiokafka.errors import KafkaError

    settings = load_settings()
    typer.echo(f"producing {len(events)} events for {leads} leads", err=True)
    try:
        sent = asyncio.run(produce(settings, events, rate or None))
    except (KafkaError, TimeoutError, OSError) as exc:
        raise kafka_failed(settings, exc) from None
    typer.echo(f"sent {sent} events")


@app.command()
def backtest(
    events: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="Recorded input events, one JSON object per line, any order.",
        ),
    ],
    outcomes: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV lead_id,outcome (won/converted = positive).",
        ),
    ],
    rules: Annotated[
        str,
        typer.Option(
            envvar="LEADQ_RULES", help=f"Ruleset A: preset ({', '.join(PRESETS)}) or TOML file."
        ),
    ] = "default",
    compare: Annotated[
        str | None, typer.Option(help="Ruleset B, reported side by side with A.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(dir_okay=False, writable=True, help="Write a funnel chart (PNG) here."),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(help="Progress bars on stderr (default: when stderr is a terminal)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Replay processes (default: one per core for large inputs)."),
    ] = None,
    listed: Annotated[
        int, typer.Option("--list", min=0, help="How many differing leads to list.")
    ] = 20,
) -> None:
    """Replay a recorded history through rulesets without Kafka and score them on outcomes."""
    import orjson
    from rich.console import Console

    from streams.backtest.progress import progress_bars
    from streams.backtest.render import render_table, to_json
    from streams.backtest.run import BacktestError, run_backtest

    show = sys.stderr.isatty() if progress is None else progress
    names = [rules] if compare is None else [rules, compare]
    try:
        with progress_bars(show) as steps:
            result = run_backtest(events, outcomes, names, workers=workers, steps=steps)
    except BacktestError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot read {exc.filename}: {exc.strerror or exc}", FAILED) from None
    if plot is not None:
        from streams.backtest.plot import plot_funnel

        try:
            plot_funnel(result.reports, plot)
        except OSError as exc:
            raise fail(f"cannot write the plot to {plot}: {exc.strerror or exc}", FAILED) from None
    if json_out:
        typer.echo(orjson.dumps(to_json(result, listed), option=orjson.OPT_INDENT_2).decode())
    else:
        # Not a terminal: rich would assume 80 columns; the compare table needs a little more.
        render_table(result, Console(width=None if sys.stdout.isatty() else 100), listed)


@app.command()
def tail(
    topic: Annotated[
        Literal["stage-changes", "sla", "dead-letter"],
        typer.Option(help="The output topic, without the prefix."),
    ] = "stage-changes",
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest record.")] = False,
    count: Annotated[int, typer.Option(min=0, help="Stop after N records (0 = never).")] = 0,
    raw: Annotated[bool, typer.Option(help="Print the JSON values as they are.")] = False,
) -> None:
    """Print stage changes (or SLA warnings and breaches, or dead letters) as they arrive."""
    from aiokafka.errors import KafkaError

    from streams.tools.tail import tail_topic

    settings = load_settings()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(tail_topic(settings, topic, from_beginning, count, raw))
    except (KafkaError, TimeoutError, OSError) as exc:
        raise kafka_failed(settings, exc) from None


@rules_app.command("check")
def rules_check(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="Ruleset TOML file or preset name")],
) -> None:
    """Validate a ruleset; explain each problem with its line."""
    try:
        ruleset = load_ruleset(str(file))
    except RulesetError as exc:
        typer.echo(f"{exc.source}: {len(exc.problems)} problem(s)", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(BAD_INPUT) from None
    typer.echo(
        f"ok: ruleset {ruleset.name} {ruleset.version}: {len(ruleset.signals)} signals,"
        f" {len(ruleset.disqualify)} disqualifiers, requalify={ruleset.requalify}"
    )


def _target_recall(value: str) -> str:
    """`--target-recall`: `base`, or a share from 0 to 1."""
    if value == "base":
        return value
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise typer.BadParameter(f"{value!r} is neither a share from 0 to 1 nor 'base'")
    return value


@rules_app.command("learn")
def rules_learn(
    events: Annotated[
        Path,
        typer.Option(
            exists=True, dir_okay=False, readable=True, help="Recorded input events (JSON Lines)."
        ),
    ],
    outcomes: Annotated[
        Path,
        typer.Option(
            exists=True, dir_okay=False, readable=True, help="CSV lead_id,outcome (won = positive)."
        ),
    ],
    base: Annotated[
        str,
        typer.Option(
            help=f"Ruleset to start from: preset ({', '.join(PRESETS)}) or TOML file; its"
            " disqualifiers, sqo criteria, fit rules, lists and settings are kept."
        ),
    ] = "default",
    target_recall: Annotated[
        str,
        typer.Option(
            callback=_target_recall,
            help="Least recall of the sql stage on training leads: a share (0 to 1), or"
            " 'base' for the recall the base ruleset's sql stage has there.",
        ),
    ] = "0.3",
    holdout: Annotated[
        float,
        typer.Option(
            min=0.05, max=0.95, help="Share of leads held out (by lead id) for the report."
        ),
    ] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the split and the fit.")] = 1,
    out: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False, writable=True, help="Write the ruleset here (default stdout)."
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (needs --out).")
    ] = False,
) -> None:
    """Learn signal points and the sql threshold; compare with the base on held-out leads."""
    import orjson
    from rich.console import Console

    from streams.backtest.render import render_table
    from streams.learn.report import learn_json, summary_lines
    from streams.learn.run import LearnError, learn

    if json_out and out is None:
        raise fail("--json needs --out FILE: the ruleset and the JSON report cannot share stdout")
    try:
        result = learn(
            events,
            outcomes,
            base,
            target_recall="base" if target_recall == "base" else float(target_recall),
            holdout=holdout,
            seed=seed,
        )
    except LearnError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot read {exc.filename}: {exc.strerror or exc}", FAILED) from None
    if out is not None:
        try:
            out.write_text(result.toml, encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot write {out}: {exc.strerror or exc}", FAILED) from None
    else:
        typer.echo(result.toml, nl=False)
    if json_out:
        typer.echo(orjson.dumps(learn_json(result), option=orjson.OPT_INDENT_2).decode())
        return
    # The report goes where the ruleset does not: stdout with --out, else stderr.
    console = Console(stderr=out is None, width=None if sys.stdout.isatty() else 100)
    for line in summary_lines(result, out):
        console.print(line, highlight=False, soft_wrap=True)
    render_table(result.backtest, console, 10)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
