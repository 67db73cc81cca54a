"""kill -9 at random points of a 50,000-event stream: nothing lost, nothing doubled.

Each service is killed with SIGKILL at ten seeded random moments while the workload streams
in, and restarted at once, as a supervisor would: `pulse up` on its own, and the split
deployment (ingest, scoring and alerts as three processes, each killed ten times, their kills
interleaved in one stream). The final accounts, triggers and deliveries must equal the clean
`pulse up` run's record by record, and no alert may reach Slack or email twice: Slack is asked
before a retry, and the email archive (a Bcc mailbox searched over IMAP) is too.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.waiting import wait_for
from services.alerts.settings import AlertsSettings
from shared.contracts.triggers import CATEGORIES
from shared.kafka import EmbeddedBroker
from tests.helpers.fault_checks import assert_matches_workload, assert_same, once_each, resent
from tests.helpers.fault_runs import Run, private_run
from tests.helpers.fault_workload import SMALL, WORKLOAD, Workload
from tests.helpers.processes import API_COMMANDS, PulseProcess, pulse_up

SEED = 20261123
KILLS = 10  # per service
MAX_DELAY = 1.5  # a kill lands up to this long after its step is sent
SMTP_CONNECTIONS = AlertsSettings.model_fields["smtp_max_connections"].default  # as deployed

Plan = dict[int, list[tuple[str, float]]]  # step -> (command, delay) of the kills after it


def plan_kills(commands: list[str], steps: int) -> Plan:
    """KILLS seeded random points per command, each a step and a delay after sending it."""
    plan: Plan = defaultdict(list)
    for command in commands:
        rng = random.Random(f"{SEED}/{command}")
        # Not before the first steps (the services are just up) nor after the second-last
        # (a restarted process always has a step left to work on).
        for step in rng.sample(range(3, steps - 1), KILLS):
            plan[step].append((command, rng.uniform(0.0, MAX_DELAY)))
    return plan


async def is_working(process: PulseProcess) -> bool:
    """Whether the process holds its partitions again since it started (ingest shows it only
    by passing records on). Killing one still waiting for them tests nothing new; it only
    stacks up restart waits."""
    if not await process.is_ready():
        return False
    if process.command in ("up", "ingest"):
        return await process.metric("pulse_ingest_messages_total") > 0
    return True


class Deployment:
    """One process per command; a killed one is replaced at once, without waiting for it."""

    def __init__(self, env: dict[str, str], commands: list[str]) -> None:
        self.env = env  # one API port for every incarnation
        self.processes = {command: PulseProcess(env, command) for command in commands}
        self.turns = {command: asyncio.Lock() for command in commands}  # one kill at a time
        self.killed: list[PulseProcess] = []

    async def kill_and_restart(self, command: str, delay: float) -> None:
        async with self.turns[command]:
            victim = self.processes[command]
            await wait_for(
                lambda: is_working(victim), timeout=90, what=f"pulse {command} to work again"
            )
            await asyncio.sleep(delay)
            await victim.stop(kill=True)
            assert victim.process.returncode == -9
            self.killed.append(victim)
            self.processes[command] = PulseProcess(self.env, command)

    def everyone(self) -> list[PulseProcess]:
        return [*self.killed, *self.processes.values()]

    async def ready(self) -> None:
        await asyncio.gather(*(p.ready() for p in self.processes.values()))

    async def stop(self) -> None:
        for process in self.processes.values():
            await process.stop()

    def print_output(self) -> None:
        for process in self.processes.values():
            print(f"--- pulse {process.command}\n{process.output()[-4000:]}")


async def kill_at_random_points(run: Run, clean: dict[str, Any], commands: list[str]) -> None:
    result, deployment = await run_with_kills(run, commands, WORKLOAD)
    # State, triggers, delivery rows and every alert reaching its receiver: exactly as clean.
    assert_same(once_each(result), clean, WORKLOAD)
    assert_sent_once(run, result, deployment)


async def run_with_kills(
    run: Run, commands: list[str], workload: Workload, **env: str
) -> tuple[dict[str, Any], Deployment]:
    """The workload streamed while each command is killed at KILLS random points and
    restarted; the snapshot once everything has settled."""
    plan = plan_kills(commands, len(workload.steps))
    # Tansu gives a member restarted after a kill its partitions only after about two
    # session timeouts (11.5 s at the suite's 6 s, at most 7.5 s at 3 s, measured); the
    # kills are what is tested, not that wait.
    deployment = Deployment(run.env(PULSE_KAFKA_SESSION_TIMEOUT_MS="3000", **env), commands)
    # The relay's 250 takes a while after it has the email (and filed the archive's copy): a
    # kill then is RFC 1047's lost OK, which only the archive search keeps from a resend.
    run.smtp.answer_delay = 0.1
    beside: list[asyncio.Task[None]] = []
    started = time.monotonic()

    async def kill(step: int) -> None:
        # The driver waits for ingest to pass each step on, so the stream stops while ingest
        # (on its own or in `up`) restarts; scoring and alerts are killed beside the stream.
        # Kills of different services at one step overlap.
        now = []
        for command, delay in plan.get(step, []):
            killing = deployment.kill_and_restart(command, delay)
            if command in ("up", "ingest"):
                now.append(killing)
            else:
                beside.append(asyncio.create_task(killing))
        await asyncio.gather(*now)
        if step == len(workload.steps) - 1:
            await asyncio.gather(*beside)  # every kill lands before the stream ends

    [api_command] = [c for c in commands if c in API_COMMANDS]
    try:
        await deployment.ready()
        await run.drive(workload, after_send=kill)
        await deployment.ready()
        await run.settle()
        scoring = deployment.processes["scoring" if "scoring" in commands else "up"]
        if await settle_waiting(scoring):  # the last days judged once the topics went idle
            await run.settle()
        async with httpx.AsyncClient(
            base_url=deployment.processes[api_command].url, timeout=15
        ) as api:
            result = await run.snapshot(api, workload)
    except BaseException:
        deployment.print_output()
        raise
    finally:
        for task in beside:
            task.cancel()
        await deployment.stop()
    print(
        f"{' + '.join(commands)}: {len(deployment.killed)} kills at steps {sorted(plan)}, "
        f"{workload.events} events: {time.monotonic() - started:.1f}s"
    )
    assert len(deployment.killed) == KILLS * len(commands)
    return result, deployment


async def settle_waiting(scoring: PulseProcess) -> bool:
    """Wait until scoring has judged every account waiting on the watermark; whether any
    was."""
    waiting = await scoring.metric("pulse_scoring_accounts_waiting")
    if waiting:

        async def judged() -> bool:
            return await scoring.metric("pulse_scoring_accounts_waiting") == 0

        await wait_for(judged, timeout=60, what="the accounts waiting on the watermark")
    return bool(waiting)


def assert_sent_once(run: Run, result: dict[str, Any], deployment: Deployment) -> None:
    # A kill between the relay's 250 and the stored outcome leaves an email in doubt (at most
    # the SMTP connections of each killed worker); its retry finds the archive's copy and
    # sends nothing. Without the archive these would be sent twice.
    in_doubt = {key for key, channel in result["in_doubt"] if channel == "email"}
    hosting_alerts = sum(1 for p in deployment.killed if p.command in ("up", "alerts"))
    assert len(in_doubt) <= hosting_alerts * SMTP_CONNECTIONS
    found = sum(p.output().count("is in the email archive") for p in deployment.everyone())
    print(f"emails in doubt: {len(in_doubt)}, found in the archive and not sent again: {found}")
    assert not resent(result), f"alerts delivered twice: {resent(result)[:5]}"
    assert sorted(run.archive.message_ids()) == sorted(
        str(m.message["Message-ID"]) for m in run.smtp.messages
    ), "the archive holds one copy of each email sent, and nothing else"


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_kill_9_of_pulse_up_at_random_points_changes_nothing(
    clean: dict[str, Any], run: Run
) -> None:
    await kill_at_random_points(run, clean, ["up"])


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_kill_9_of_each_split_service_at_random_points_changes_nothing(
    clean: dict[str, Any], run: Run
) -> None:
    await kill_at_random_points(run, clean, ["ingest", "scoring", "alerts"])


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_kill_9_with_the_watermark_on_keeps_the_one_topic_triggers_and_sends_once(
    broker: EmbeddedBroker, run: Run
) -> None:
    """With the watermark on, a day an account waited on is judged once its topics have come
    that far, seeing the events already applied by then, which depend on the order the topics
    were read: after a kill -9 (topics read again in another order) a trigger judged over
    several topics may fire on another day, or not at all at the edge of its threshold
    (measured: 2 of 100 accounts in one CI run; docs/contract.md, section 10, "Watermark").
    What a kill must keep: the triggers judged on one topic's events (plan limits on usage,
    support_spike on tickets) exactly, what the workload implies, and one alert per trigger
    and receiver."""
    on = {"PULSE_WATERMARK_IDLE_SECONDS": "2"}
    async with (
        private_run(broker.bootstrap) as reference,
        pulse_up(reference.env(**on)) as (up, api),
    ):
        await reference.drive(SMALL)
        await reference.settle()
        if await settle_waiting(up):
            await reference.settle()
        clean = await reference.snapshot(api, SMALL)
        # The steps send one kind at a time: accounts did wait for the other topics.
        assert await up.metric("pulse_scoring_waited_days_total") > 0
    result, deployment = await run_with_kills(run, ["up"], SMALL, **on)
    assert_matches_workload(clean, SMALL)
    assert_matches_workload(once_each(result), SMALL)
    assert per_account(result, ONE_TOPIC) == per_account(clean, ONE_TOPIC)
    differing = {
        account: (kinds, per_account(clean).get(account))
        for account, kinds in per_account(result).items()
        if kinds != per_account(clean).get(account)
    }
    print(f"accounts whose triggers over several topics differ after the kills: {differing}")
    assert_sent_once(run, result, deployment)


ONE_TOPIC = frozenset({"plan_limit_80", "plan_limit_100", "support_spike"})


def per_account(
    result: dict[str, Any], kinds: frozenset[str] | None = None
) -> dict[str, list[str]]:
    """account_id -> the types of the triggers it got (of `kinds`), sorted, with repeats."""
    types: dict[str, list[str]] = defaultdict(list)
    for _, kind, account_id, _ in result["triggers"].values():
        if kinds is None or kind in kinds:
            types[account_id].append(kind)
    return {account_id: sorted(found) for account_id, found in sorted(types.items())}


ROUTES = """\
receivers:
  - name: csm
    slack: {channel: account_csm}
    email: {to: account_csm}
  - name: leads
    slack: {channel: C0LEADS}
  - name: head
    slack: {channel: C0HEAD}
route:
  receiver: csm
  routes:
    - matchers: ['category="risk"']
      receiver: leads
      continue: true
      group_by: [account_id]
      group_wait: 1s
      group_interval: 2s
    - receiver: csm
escalations:
  - matchers: ['category="risk"']
    after: 2s
    receiver: head
"""


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_kill_9_with_routes_groups_and_escalations_sends_each_once(
    run: Run, tmp_path: Path
) -> None:
    """With a routing file (risk alerts also to the leads, grouped per account; escalated to
    the head of CS when nobody acknowledges them in 2 s), kill -9 of `pulse up` at random
    points: every alert reaches each of its receivers in exactly one message, every escalation
    is sent once or ended by its alert resolving, and every ended alert's notices once."""
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    result, deployment = await run_with_kills(run, ["up"], SMALL, PULSE_ROUTES=str(routes))
    assert_matches_workload(once_each(result), SMALL)
    assert_sent_once(run, result, deployment)

    risk = {
        key for key, (_, kind, _, _) in result["triggers"].items() if CATEGORIES[kind] == "risk"
    }
    assert risk, "the workload fires risk triggers"
    to = {channel: {key for key, at in result["slack"] if at == channel} for channel in CHANNELS}
    assert to["C0LEADS"] == risk
    rows = defaultdict(set)
    for key, _, notice, status, _, _ in result["deliveries"]:
        rows[notice].add((key, status))
    escalated = {key for key, status in rows["escalated"] if status == "delivered"}
    assert {key for key, _ in rows["escalated"]} == risk
    assert {status for _, status in rows["escalated"]} <= {"delivered", "skipped"}
    assert to["C0HEAD"] == escalated
    grouped = [m for m in run.slack.posted() if m.body["channel"] == "C0LEADS"]
    print(
        f"{len(risk)} risk alerts in {len(grouped)} messages to the leads, "
        f"{len(escalated)} escalated"
    )


CHANNELS = ("C0LEADS", "C0HEAD")
