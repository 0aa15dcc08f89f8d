"""``[notify]``: who gets alerted, how, in which language. Validated when the config loads (unknown keys are
errors with their path, e.g. ``notify.smtp.prot``); secrets (the SMTP password, the webhook URL, which carries
its own token) accept ``{ env = … }`` / ``{ file = … }`` like every secret and are masked everywhere."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from tradecredit.sdk import PluginOptions, Secret, TimeZoneName

EventName = Literal["failed", "recovered", "stale", "blocked", "limit", "digest"]
ALL_EVENTS: tuple[EventName, ...] = ("failed", "recovered", "stale", "blocked", "limit", "digest")


class WebhookOptions(PluginOptions):
    url: Secret = Field(description="the incoming-webhook URL (Slack, Teams, …); it is a secret: it carries a token")
    timeout: float = Field(10.0, gt=0, le=120, description="seconds for the whole POST")


class SmtpOptions(PluginOptions):
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (port 587), ssl (SMTPS, port 465), none (a relay on this machine only)",
    )
    username: str | None = None
    password: Secret | None = None
    sender: str = Field(min_length=3, description="the From address")
    to: list[str] = Field(min_length=1, description="recipients")
    ca_file: Path | None = Field(None, description="trust this CA certificate (PEM) for the relay, e.g. an internal CA")
    timeout: float = Field(15.0, gt=0, le=120)

    @model_validator(mode="after")
    def _login(self) -> SmtpOptions:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


class NotifyOptions(PluginOptions):
    language: Literal["pl", "en"] = Field("pl", description="language of the alerts")
    webhook: WebhookOptions | None = None
    smtp: SmtpOptions | None = None
    events: list[EventName] = Field(
        default_factory=lambda: list[EventName](e for e in ALL_EVENTS if e != "digest"),
        description="which alerts to send; add \"digest\" (with digest_at) for a daily summary",
    )
    failures_before_alert: int = Field(1, ge=1, le=100, description="consecutive failed runs that open an episode")
    digest_at: time | None = Field(None, description="local time of the daily digest, e.g. \"08:00\"")
    time_zone: TimeZoneName = "Europe/Warsaw"

    @model_validator(mode="after")
    def _channel(self) -> NotifyOptions:
        if self.webhook is None and self.smtp is None:
            raise ValueError("configure at least one channel: [notify.webhook] or [notify.smtp]")
        if "digest" in self.events and self.digest_at is None:
            raise ValueError("the digest event needs digest_at (e.g. \"08:00\")")
        return self
