"""Token claims are checked strictly (issue 22, point 8): tokens signed with the right secret
but with an empty subject, non-numeric times or a huge padding claim are refused with 401."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from shared.auth import MAX_TOKEN_BYTES, decode_token, issue_token
from shared.errors import Unauthorized
from shared.settings import DEV_SECRET


def _signed(**claims: Any) -> str:
    base: dict[str, Any] = {"sub": "s1", "role": "staff", "exp": int(time.time()) + 600}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, DEV_SECRET, algorithm="HS256")


@pytest.mark.parametrize("claims", [
    {"sub": ""},
    {"sub": "x" * 201},
    {"exp": "9999999999"},
    {"exp": "soon"},
    {"exp": True},
    {"iat": "yesterday"},
    {"role": "superuser"},
    {"role": "branch", "branch": "sh01; DROP"},
    {"role": "customer"},  # a customer token names its customer
    {"padding": "A" * 100_000},
])
def test_a_signed_token_with_bad_claims_is_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized) as err:
        decode_token(_signed(**claims), DEV_SECRET)
    assert err.value.code == "invalid_token"


def test_the_token_size_is_capped_before_any_work() -> None:
    token = _signed(padding="A" * MAX_TOKEN_BYTES)
    with pytest.raises(Unauthorized, match="longer than"):
        decode_token(token, DEV_SECRET)


def test_well_formed_tokens_of_every_role_pass() -> None:
    for role, extra in (("admin", {}), ("branch", {"branch": "SH01"}), ("carrier", {"carrier": "CARR1"}),
                        ("customer", {"customer": "C100"})):
        principal = decode_token(issue_token(DEV_SECRET, sub=f"u-{role}", role=role, **extra), DEV_SECRET)
        assert principal.role == role and principal.sub == f"u-{role}"
