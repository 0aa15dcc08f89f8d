"""Delivering one alert: a JSON POST to a webhook, an e-mail over SMTP. Each channel fails on its own."""

from __future__ import annotations

import smtplib
import ssl
from email.header import Header
from email.mime.text import MIMEText
from typing import Any

import httpx
from tradecredit.sdk import mask

from .options import NotifyOptions, SmtpOptions, WebhookOptions


def post_webhook(options: WebhookOptions, text: str, fields: dict[str, Any]) -> None:
    """JSON with a ``text`` field (what Slack and Teams incoming webhooks show) plus the event's fields."""
    response = httpx.post(options.url.get_secret_value(), json={"text": text, **fields}, timeout=options.timeout)
    if response.status_code >= 300:
        raise RuntimeError(f"webhook answered HTTP {response.status_code}: {response.text[:200]}")


def send_mail(options: SmtpOptions, subject: str, text: str) -> None:
    # The compat32 API with an explicit Header: the modern folder may split a Polish subject into encoded
    # words at a space and lose it ("znów działa" read back as "znówdziała").
    message = MIMEText(text, "plain", "utf-8")
    message["Subject"] = Header(subject, "utf-8")  # type: ignore[assignment]  # compat32 takes a Header
    message["From"] = options.sender
    message["To"] = ", ".join(options.to)
    context = ssl.create_default_context(cafile=str(options.ca_file) if options.ca_file else None)
    if options.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(options.host, options.port, timeout=options.timeout, context=context)
    else:
        client = smtplib.SMTP(options.host, options.port, timeout=options.timeout)
    with client:
        client.ehlo()
        if options.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if options.username is not None and options.password is not None:
            client.login(options.username, options.password.get_secret_value())
        client.send_message(message)


def deliver(options: NotifyOptions, subject: str, text: str, fields: dict[str, Any]) -> list[str]:
    """Send on every configured channel; return the (masked) failures. Delivered when at least one worked."""
    failures: list[str] = []
    if options.webhook is not None:
        try:
            post_webhook(options.webhook, f"{subject}\n{text}", fields)
        except Exception as exc:  # noqa: BLE001 - one channel down must not stop the other
            failures.append(mask(f"webhook: {type(exc).__name__}: {exc}"))
    if options.smtp is not None:
        try:
            send_mail(options.smtp, subject, text)
        except Exception as exc:  # noqa: BLE001
            failures.append(mask(f"smtp: {type(exc).__name__}: {exc}"))
    return failures
