"""Credentials kept out of what the platform prints, logs, raises and submits: the one helper the jobs' summaries
and log lines, the command lines' error messages and the EMR step arguments all go through.

- the user-info of a URI: `https://user:pass@host/x` -> `https://***@host/x` (an MLflow tracking URI may carry it);
- the value of a `name=value` pair (a `--set` override, a query parameter) whose name says it is secret:
  `tracking.password=hunter2` -> `tracking.password=***`. An ARN is a name, not a secret, and stays.
"""
from __future__ import annotations

import re
from typing import Any

MASK = "***"
SECRET_NAME = re.compile(r"password|passwd|secret|token|credential|api[_-]?key|access[_-]?key|private[_-]?key"
                         r"|signature|session[_-]?key", re.IGNORECASE)
USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s\"']+)@")
# name=value inside any text: a --set item, a query string, a log line; the value ends at white space, & or quotes
PAIR = re.compile(r"(?P<name>[A-Za-z0-9_.-]+)=(?P<value>[^\s&\"',]+)")


def _secret_pair(name: str, value: str) -> bool:
    return bool(SECRET_NAME.search(name.rsplit(".", 1)[-1])) and not value.startswith("arn:")


def has_credentials(text: str | None) -> bool:
    """True when `text` holds a URI's user-info or a secret `name=value` pair."""
    if not text:
        return False
    return bool(USERINFO.search(text)) or any(_secret_pair(m["name"], m["value"]) for m in PAIR.finditer(text))


def redact_text(text: str) -> str:
    """`text` with every URI user-info and every secret pair's value masked."""
    text = USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    return PAIR.sub(lambda m: f"{m['name']}={MASK}" if _secret_pair(m["name"], m["value"]) else m[0], text)


def redact(value: Any) -> Any:
    """A summary (dicts, lists, strings) with `redact_text` applied to every string, and the value of every key
    that names a secret masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and isinstance(v, str) and _secret_pair(k, v) else redact(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value


def secret_overrides(overrides: tuple[str, ...] | list[str]) -> list[str]:
    """The overrides (`section.key=value`) that carry a credential, redacted for an error message."""
    return [redact_text(item) for item in overrides if has_credentials(item)]
