"""Secret shapes, hashing and bearer parsing (design.md, "The identity scheme")."""

from __future__ import annotations

import re

import pytest

from torpor.controlplane.identity import tokens

pytestmark = pytest.mark.unit


def test_host_ids_and_secrets_have_the_documented_shape() -> None:
    assert re.fullmatch(r"h-[0-9a-f]{16}", tokens.new_host_id())
    assert len(tokens.new_secret()) >= 43  # 32 random bytes, base64url
    assert tokens.new_secret() != tokens.new_secret()


def test_a_credential_names_its_owner() -> None:
    credential = tokens.compose(tokens.HOST_CREDENTIAL_PREFIX, "h-0123", "s3cr-et_")
    assert credential == "thc_h-0123.s3cr-et_"
    assert tokens.split(credential, tokens.HOST_CREDENTIAL_PREFIX) == "h-0123"
    assert tokens.split(credential, tokens.ADMIN_TOKEN_PREFIX) is None
    assert tokens.split("thc_nodot", tokens.HOST_CREDENTIAL_PREFIX) is None
    assert tokens.split("thc_.secret", tokens.HOST_CREDENTIAL_PREFIX) is None


def test_only_the_hash_is_compared() -> None:
    stored = tokens.hash_secret("tjt_abc")
    assert len(stored) == 64
    assert tokens.matches("tjt_abc", stored)
    assert not tokens.matches("tjt_abd", stored)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer tat_x.y", "tat_x.y"),
        ("bearer  tat_x.y ", "tat_x.y"),
        ("Basic abc", None),
        ("Bearer", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_parsing(header: str | None, expected: str | None) -> None:
    assert tokens.bearer(header) == expected
