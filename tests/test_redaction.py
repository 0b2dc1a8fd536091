from __future__ import annotations

import pytest

from core.events import Event
from memory.redaction import redact_event, redact_text


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        ("login with password: hunter2horse", "hunter2horse", "secret"),
        ("export API_KEY=abcd1234efgh5678", "abcd1234efgh5678", "secret"),
        ('{"token": "tok_9f8e7d6c5b4a"}', "tok_9f8e7d6c5b4a", "secret"),
        ("curl -H 'Authorization: Bearer abcdefghijklmnop1234'", "abcdefghijklmnop1234", "bearer"),
        ("key AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE", "aws-key"),
        ("ghp_" + "a" * 36, "ghp_" + "a" * 36, "github-token"),
        ("sk-proj-abcdefghijklmnopqrstuv", "sk-proj-abcdefghijklmnopqrstuv", "api-key"),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
            "eyJhbGciOiJIUzI1NiJ9",
            "jwt",
        ),
        ("postgres://admin:s3cretpw@db.local/app", "s3cretpw", "url-password"),
        ("card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111", "card"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----",
            "MIIabc",
            "private-key",
        ),
    ],
)
def test_secrets_are_replaced_with_their_kind(text, secret, kind):
    redacted = redact_text(text)
    assert secret not in redacted
    assert f"[REDACTED:{kind}]" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "The user searches on Google for 'How to capitalize person name in ruby?'",
        "order number 1234 5678 9012 3456 shipped",  # fails the Luhn check: not a card
        "The password field is empty",
        "commit 3f2a9c1 fixes the token parser",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact_text(text) == text


def test_events_keep_their_id_and_lose_secrets_everywhere():
    event = Event.model_validate(
        {
            "time": 1,
            "source": "s",
            "kind": "browser",
            "url": "https://bob:pa55word@example.org/",
            "text": "typed password=letmein123",
            "attributes": {"form": {"fields": ["pwd: opensesame"]}},
        }
    )
    clean = redact_event(event)
    assert clean.id == event.id
    dumped = clean.model_dump_json()
    for secret in ("pa55word", "letmein123", "opensesame"):
        assert secret not in dumped
