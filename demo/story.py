"""One user's day with torpor, told through the HTTP API alone.

Ada registers, asks for a GPU instance (the `local` provider starts a real `torpor-agent`
on this machine with simulated GPUs), writes her work into its workspace and walks away.
The agent sees the GPUs idle, the control plane hibernates the instance: final snapshot,
host released (process stopped, workspace deleted), billing stops. Next morning she wakes
it: a new host, the snapshot restored, every byte as she left it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.workspace import diff, generate, manifest

MIB = 2**20
WORKSPACE_BYTES = 64 * MIB
IDLE_WINDOW_S = 8
STATE_TIMEOUT_S = 180.0
EMAIL, PASSWORD = "ada@example.com", "correct horse battery staple"


class DemoFailed(Exception):
    """A step of the story did not happen; the message says which and why."""


@dataclass
class Api:
    """JSON over HTTP to the control plane, as a user's program would talk to it."""

    base_url: str
    token: str | None = None

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - our own loopback URL
            f"{self.base_url}/api/v1{path}", data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, body)
        if status >= 400:
            message = answer.get("error", {}).get("message") if isinstance(answer, dict) else answer
            raise DemoFailed(f"{method} {path} answered {status}: {message}")
        return answer


@dataclass
class Narrator:
    """Prints each step with the seconds since the demo began, and keeps the timings."""

    started: float = field(default_factory=time.monotonic)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    def timed(self, what: str, since: float) -> float:
        took = time.monotonic() - since
        self.timings.append((what, took))
        return took


class EventTail:
    """Prints the instance's new events as they arrive (GET /instances/{id}/events)."""

    def __init__(self, api: Api, instance_id: str, narrator: Narrator) -> None:
        self.api, self.instance_id, self.narrator = api, instance_id, narrator
        self.after = 0

    def show_new(self) -> None:
        path = f"/instances/{self.instance_id}/events?after={self.after}"
        status, page = self.api.call("GET", path)
        if status != 200:
            return
        self.after = int(page.get("next_after", self.after))
        for event in page.get("items", []):
            if event.get("kind") != "snapshot.progress":
                self.narrator.say(f"  event {event['kind']}: {event.get('message', '')}")


def wait_for_state(api: Api, instance_id: str, wanted: str, tail: EventTail) -> dict[str, Any]:
    """Polls the instance until it is `wanted`; fails when it lands in another settled state."""
    deadline = time.monotonic() + STATE_TIMEOUT_S
    while True:
        tail.show_new()
        instance: dict[str, Any] = api.ok("GET", f"/instances/{instance_id}")
        if instance["state"] == wanted:
            return instance
        if instance["state"] == "failed":
            raise DemoFailed(f"the instance failed: {instance.get('state_reason')}")
        if time.monotonic() > deadline:
            raise DemoFailed(
                f"the instance is still {instance['state']} after {STATE_TIMEOUT_S:.0f} s "
                f"(waiting for {wanted}); see .demo/controlplane/controlplane.log"
            )
        time.sleep(0.5)


def agent_pids(path: str) -> list[int]:
    """Pids of the processes whose command line names `path` (a host's agent config, or a
    folder holding several)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and path.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def print_offers(offers: list[dict[str, Any]]) -> None:
    rows = [("GPU", "COUNT", "REGION", "PRICE/HOUR")]
    for offer in offers:
        price = f"${offer['price_per_hour_cents'] / 100:.2f}"
        rows.append((offer["gpu_type"], str(offer["gpu_count"]), offer["region"], price))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print(flush=True)


def tell(base_url: str, narrator: Narrator) -> str:
    """The whole story; returns the id of the (deleted) instance. Raises DemoFailed."""
    api = Api(base_url)
    api.ok("POST", "/auth/register", {"email": EMAIL, "password": PASSWORD, "display_name": "Ada"})
    api.token = api.ok("POST", "/auth/login", {"email": EMAIL, "password": PASSWORD})[
        "access_token"
    ]
    me = api.ok("GET", "/auth/me")
    narrator.say(f"registered and logged in as {EMAIL} (personal team {me.get('team_id', '?')})")

    offers = api.ok("GET", "/offers")
    offers = offers["items"] if isinstance(offers, dict) else offers
    narrator.say("what the local provider can place (GET /offers):\n")
    print_offers(offers)
    chosen = min(offers, key=lambda o: (o["gpu_count"], -o["price_per_hour_cents"]))
    price = chosen["price_per_hour_cents"] / 100

    asked = time.monotonic()
    created = api.ok(
        "POST",
        "/instances",
        {
            "name": "ada-finetune",
            "gpu_type": chosen["gpu_type"],
            "gpu_count": chosen["gpu_count"],
            "region": chosen["region"],
            "auto_hibernate": True,
            # local hosts share this machine's CPU with everything else running here, so
            # the demo leaves host CPU out of the decision (the GPUs decide)
            "idle_policy": {"window_s": IDLE_WINDOW_S, "grace_s": 0, "cpu_threshold_percent": 100},
        },
    )
    instance_id = created["id"]
    narrator.say(
        f"asked for {chosen['gpu_count']}x {chosen['gpu_type']} (${price:.2f}/h), "
        f"auto-hibernate after {IDLE_WINDOW_S} s idle: instance {instance_id} is {created['state']}"
    )
    tail = EventTail(api, instance_id, narrator)
    before, first = work_then_walk_away(api, instance_id, tail, narrator, asked)
    wait_for_release(api, instance_id, tail, narrator, first)
    wake_and_check(api, instance_id, tail, narrator, before)
    deleting = time.monotonic()
    api.ok("DELETE", f"/instances/{instance_id}")
    while api.call("GET", f"/instances/{instance_id}")[0] != 404:
        if time.monotonic() - deleting > STATE_TIMEOUT_S:
            raise DemoFailed("the instance was not deleted")
        time.sleep(0.5)
    narrator.timed("delete -> gone", deleting)
    narrator.say("deleted: host released, snapshots forgotten; the instance is gone (404)")
    return str(instance_id)


def work_then_walk_away(
    api: Api, instance_id: str, tail: EventTail, narrator: Narrator, asked: float
) -> tuple[dict[str, Any], dict[str, str]]:
    """Waits for the instance to run, writes Ada's work; the manifest and the placement."""
    running = wait_for_state(api, instance_id, "running", tail)
    took = narrator.timed("create -> running", asked)
    first = running["placement"]
    workspace = Path(first["workspace"])
    pids = agent_pids(first["config"])
    narrator.say(
        f"running after {took:.1f} s on host {running['host_id']} "
        f"(a real torpor-agent, pid {', '.join(map(str, pids)) or '?'}), workspace {workspace}"
    )

    generate(workspace, WORKSPACE_BYTES, seed=0)
    before = manifest(workspace)
    narrator.say(
        f"Ada works: {len(before)} files, {WORKSPACE_BYTES // MIB} MiB of weights, checkpoints, "
        "datasets and a venv written into the workspace; then she walks away"
    )
    return before, first


def wait_for_release(
    api: Api, instance_id: str, tail: EventTail, narrator: Narrator, first: dict[str, str]
) -> dict[str, Any]:
    """Idle detected, hibernated, host released; the hibernated instance."""
    workspace = Path(first["workspace"])
    walked_away = time.monotonic()
    hibernating = wait_for_state(api, instance_id, "hibernating", tail)
    narrator.say(
        f"idle detected {time.monotonic() - walked_away:.1f} s later "
        f"({hibernating.get('state_reason', '')}): hibernating"
    )
    hibernated = wait_for_state(api, instance_id, "hibernated", tail)
    took = narrator.timed("walk away -> hibernated", walked_away)
    alive = agent_pids(first["config"])
    narrator.say(
        f"hibernated {took:.1f} s after she left: host released (agent process "
        f"{'STILL RUNNING' if alive else 'gone'}, workspace "
        f"{'STILL THERE' if workspace.exists() else 'deleted'}); billing stopped"
    )
    if workspace.exists() or alive:
        raise DemoFailed("the host was not released")
    snapshots = api.ok("GET", f"/instances/{instance_id}/snapshots")["items"]
    latest = next(s for s in snapshots if s["id"] == hibernated["latest_snapshot_id"])
    size = f"{(latest.get('bytes') or 0) / MIB:.1f} MiB" if latest.get("bytes") else "?"
    narrator.say(f"the final snapshot {latest['id'][:12]} ({size}, {latest.get('files')} files)")
    return hibernated


def wake_and_check(
    api: Api,
    instance_id: str,
    tail: EventTail,
    narrator: Narrator,
    before: dict[str, Any],
) -> None:
    """Wakes the instance on a new host and compares every file with what Ada left."""
    time.sleep(2)
    narrator.say("next morning: Ada calls POST /instances/{id}/wake")
    woke = time.monotonic()
    api.ok("POST", f"/instances/{instance_id}/wake")
    awake = wait_for_state(api, instance_id, "running", tail)
    took = narrator.timed("wake -> running (restored)", woke)
    second = Path(awake["placement"]["workspace"])
    problems = diff(before, manifest(second))
    narrator.say(f"running again after {took:.1f} s on host {awake['host_id']}, workspace {second}")
    verdict = "every file byte-identical" if not problems else "MISMATCH: " + "; ".join(problems)
    narrator.say(f"compared {len(before)} files with what she left: {verdict}")
    metrics = api.ok("GET", f"/instances/{instance_id}/metrics")
    narrator.say(f"hibernated for {metrics['hibernated_seconds']:.1f} s in all (GET .../metrics)")
    money = api.ok("GET", f"/instances/{instance_id}/savings")["amounts"]
    narrator.say(
        f"the savings ledger (GET .../savings): hosts cost {money['compute_cost']} "
        f"{money['currency']}, hibernation saved {money['saved']} {money['currency']} "
        f"for {float(money['hibernated_hours']) * 3600:.1f} s not billed (a night saves dollars)"
    )
    if problems:
        raise DemoFailed("the workspace came back different")


def print_timings(narrator: Narrator) -> None:
    print()
    width = max(len(what) for what, _ in narrator.timings)
    for what, took in narrator.timings:
        print(f"  {what.ljust(width)}  {took:6.1f} s")
    print(flush=True)
