"""What ``webbin forward`` prints: one line per delivery, and a line for each change of the
connection, in colour when the terminal takes it (rich decides, and honours ``NO_COLOR``),
or, with ``--json``, one JSON object per line for scripts.

Captured values (paths, header values, provider event names) come from strangers: they are
printed as text, never as markup (rich's markup and emoji codes are off for them).
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

SIGNATURE_STYLES = {"valid": "green", "invalid": "red", "stale": "yellow", "unverified": "yellow"}


def _now() -> str:
    return datetime.now().astimezone().strftime("%H:%M:%S")


def _status_style(status: int | None) -> str:
    if status is None:
        return "bold red"
    if status < 300:
        return "green"
    if status < 400:
        return "cyan"
    if status < 500:
        return "yellow"
    return "red"


class Output:
    """Prints from any thread, one whole line at a time."""

    def __init__(self, as_json: bool = False, console: Console | None = None) -> None:
        self.as_json = as_json
        self.console = console or Console(highlight=False, emoji=False, soft_wrap=True)
        self._lock = threading.Lock()

    def _emit(self, event: str, text: Text, **fields: Any) -> None:
        with self._lock:
            if self.as_json:
                line = {"event": event, "time": datetime.now().astimezone().isoformat(), **fields}
                sys.stdout.write(json.dumps(line) + "\n")
                sys.stdout.flush()
            else:
                self.console.print(text)

    def note(self, event: str, message: str, style: str = "dim", **fields: Any) -> None:
        """A line about the forwarder itself (connected, dropped, resumed, stopped...)."""
        line = Text(f"{_now()}  ", style="dim")
        line.append(message, style=style)
        self._emit(event, line, message=message, **fields)

    def delivery(
        self,
        kind: str,
        request: dict[str, Any],
        url: str,
        answer: Any,
        provider: str | None,
        event_type: str | None,
        retrying_in: float | None = None,
    ) -> None:
        """One delivery: time, method, path, provider and event, signature verdict, the
        target's status (or error) and how long it took."""
        path = request["path"] + (f"?{request['query_string']}" if request["query_string"] else "")
        signature = request.get("signature_status") or "unsigned"
        line = Text(f"{_now()}  ", style="dim")
        if kind == "resend":
            line.append("resend ", style="magenta")
        line.append(f"{request['method']:<6} ", style="bold")
        line.append(path)
        line.append(f"  #{request['seq']}", style="dim")
        if provider:
            line.append(f"  {provider}", style="cyan")
            if event_type:
                line.append(f" {event_type}", style="cyan")
        if signature != "unsigned":
            line.append(f"  {signature}", style=SIGNATURE_STYLES.get(signature, ""))
        line.append("  → ")
        if answer.answered:
            line.append(
                f"{answer.status} {answer.reason or ''}".strip(), _status_style(answer.status)
            )
        else:
            line.append(answer.error or "no answer", style="bold red")
        line.append(f"  {answer.elapsed_ms:.0f} ms", style="dim")
        if retrying_in is not None:
            line.append(f"  retrying in {retrying_in:g} s", style="yellow")
        self._emit(
            kind,
            line,
            id=request["id"],
            seq=request["seq"],
            method=request["method"],
            path=request["path"],
            query_string=request["query_string"],
            provider=provider,
            event_type=event_type,
            signature=signature,
            target=url,
            status=answer.status,
            error=answer.error,
            error_kind=answer.error_kind,
            duration_ms=round(answer.elapsed_ms, 3),
            retrying_in=retrying_in,
        )
