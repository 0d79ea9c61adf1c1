"""Bearer-token auth: HS256 JWTs, role and branch checks as FastAPI dependencies.

Claims: `sub`, `role` (admin | supervisor | staff | branch | carrier | customer), `branch`
(station code, for branch tokens), `carrier` (for carrier tokens), `customer` (customer id,
for customer tokens), `exp`. Role `public` is web's own, minted for the public tracking page: it
may call tracking's `/v1/public/...` view and nothing else. Claims are checked strictly: a
non-empty `sub`, numeric times, known roles, identifiers of the shared patterns, and a token of at most 4 KiB.

Ops mint tokens with `python -m shared.auth issue --role branch --branch SH01`.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, Literal

import jwt
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.warnings import InsecureKeyLengthWarning
from pydantic import BaseModel, Field, StrictFloat, StrictInt, ValidationError

from shared.errors import Forbidden, Unauthorized
from shared.types import Identifier, StationCode

Role = Literal["admin", "supervisor", "staff", "branch", "carrier", "customer", "public"]
ROLES: tuple[Role, ...] = ("admin", "supervisor", "staff", "branch", "carrier", "customer", "public")
MAX_TOKEN_BYTES = 4096
DESK: tuple[Role, ...] = ("admin", "supervisor", "staff")  # the customer-service desk


class Principal(BaseModel, frozen=True):  # frozen: one decoded token's principal serves its every request
    sub: str = Field(min_length=1, max_length=200)
    role: Role
    branch: StationCode | None = None
    carrier: Identifier | None = None
    customer: Identifier | None = None

    @property
    def actor(self) -> str:
        """How the principal appears in audit trails."""
        return f"{self.role}:{self.sub}"

    def sees_station(self, *stations: str | None) -> bool:
        """Desk roles see everything; a branch sees what touches its station."""
        if self.role in DESK:
            return True
        if self.role == "branch":
            return self.branch is not None and self.branch in stations
        return False

    @property
    def own_customer(self) -> str | None:
        """The customer id a customer token is limited to (None for every other role): lists
        filter on it, and a record of any other customer (or of none) is answered like an unknown one."""
        return self.customer if self.role == "customer" else None

    def sees(self, *stations: str | None, customer: str | None) -> bool:
        """Whether this principal may know of a record touching `stations` whose customer
        (the shipper's customer id) is `customer`: desk roles always; a branch when it touches
        its station; a customer when it is its own; anyone else never."""
        if self.role == "customer":
            return self.customer is not None and customer == self.customer
        return self.sees_station(*stations)


class _TimeClaims(BaseModel):
    """The registered time claims, numbers as RFC 7519 says (PyJWT takes "123" as well)."""

    exp: StrictInt | StrictFloat
    iat: StrictInt | StrictFloat | None = None
    nbf: StrictInt | StrictFloat | None = None


def issue_token(secret: str, *, sub: str, role: Role, branch: str | None = None,
                carrier: str | None = None, customer: str | None = None, ttl_seconds: int = 3600) -> str:
    if role == "branch" and not branch:
        raise ValueError("a branch token needs --branch")
    if role == "carrier" and not carrier:
        raise ValueError("a carrier token needs --carrier")
    if role == "customer" and not customer:
        raise ValueError("a customer token needs --customer")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "exp": now + ttl_seconds}
    if branch:
        claims["branch"] = branch
    if carrier:
        claims["carrier"] = carrier
    if customer:
        claims["customer"] = customer
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(token: str, secret: str) -> Principal:
    """The token's principal, or 401. A token that passed is remembered until it expires: a feed or
    a branch system sends the same token with every request, and checking its signature and
    claims again (PyJWT, pydantic) cost each position batch more than its routing did. What the
    check decided cannot change before `exp` (a token's `nbf` and `iat` only ever become more
    true), and the key is the token with the secret, so a rotated secret checks afresh."""
    key = (token, secret)
    remembered = _DECODED.get(key)
    if remembered is not None:
        principal, expires = remembered
        if time.time() < expires:
            return principal
        del _DECODED[key]
    if len(token) > MAX_TOKEN_BYTES:
        raise Unauthorized("invalid_token", f"bearer token longer than {MAX_TOKEN_BYTES} bytes")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        _TimeClaims.model_validate(claims)
        principal = Principal.model_validate(claims)
    except (jwt.PyJWTError, ValidationError) as exc:
        raise Unauthorized("invalid_token", f"invalid bearer token: {type(exc).__name__}",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from exc
    if principal.role == "branch" and not principal.branch:
        raise Unauthorized("invalid_token", "branch token without a branch claim")
    if principal.role == "carrier" and not principal.carrier:
        raise Unauthorized("invalid_token", "carrier token without a carrier claim")
    if principal.role == "customer" and not principal.customer:
        raise Unauthorized("invalid_token", "customer token without a customer claim")
    if len(_DECODED) >= _DECODED_MAX:
        del _DECODED[next(iter(_DECODED))]  # the oldest remembered
    _DECODED[key] = (principal, float(claims["exp"]))
    return principal


# (token, secret) -> (its principal, its exp as epoch seconds): the tokens that passed lately
_DECODED: dict[tuple[str, str], tuple[Principal, float]] = {}
_DECODED_MAX = 1024


# Outside dev, settings refuse secrets under 32 bytes; the only short key is the documented
# dev default, for which PyJWT's warning on every token would be noise.
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)

_bearer = HTTPBearer(auto_error=False, description="HS256 JWT (see `python -m shared.auth issue`)")


def check_role(principal: Principal, allowed: frozenset[Role]) -> Principal:
    """The principal if its role is allowed, else 403 (what `require_roles` answers)."""
    if principal.role not in allowed:
        raise Forbidden("forbidden", f"role {principal.role} may not do this; "
                                         f"allowed: {', '.join(sorted(allowed))}")
    return principal


def bearer_token(authorization: bytes | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header's value as a fast route reads it,
    or None for anything else (the route then declines, and `require_roles` answers it)."""
    if not authorization or not authorization.isascii():
        return None
    scheme, _, token = authorization.decode("ascii").partition(" ")
    if scheme.lower() != "bearer" or not token or token != token.strip():
        return None
    return token


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """Dependency: a valid token whose role is one of `roles` (401 / 403 otherwise)."""
    allowed = frozenset(roles)

    async def dependency(request: Request,
                         credentials: HTTPAuthorizationCredentials | None = Security(_bearer)) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("unauthorized", "a bearer token is required",
                           headers={"WWW-Authenticate": "Bearer"})
        principal = check_role(decode_token(credentials.credentials, request.app.state.settings.auth_secret),
                               allowed)
        request.state.principal = principal
        return principal

    dependency.__name__ = "require_" + "_".join(sorted(allowed))
    setattr(dependency, "lcs_roles", tuple(sorted(allowed)))  # noqa: B010 - read by the access tests
    return dependency


def main(argv: list[str] | None = None) -> int:
    from shared.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m shared.auth")
    sub = parser.add_subparsers(dest="command", required=True)
    issue = sub.add_parser("issue", help="mint a token (secret from LCS_AUTH_SECRET)")
    issue.add_argument("--role", required=True, choices=ROLES)
    issue.add_argument("--sub", default=None, help="subject; defaults to the role")
    issue.add_argument("--branch")
    issue.add_argument("--carrier")
    issue.add_argument("--customer")
    issue.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"error: {'; '.join(e['msg'] for e in exc.errors())}", file=sys.stderr)
        return 2
    try:
        token = issue_token(settings.auth_secret, sub=args.sub or args.role, role=args.role,
                            branch=args.branch, carrier=args.carrier,
                            customer=args.customer, ttl_seconds=args.ttl)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
