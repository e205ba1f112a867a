"""A small OpenID Connect provider for the tests, served over real HTTP on a free port.

It serves discovery, ``/authorize`` (Authorization Code, PKCE S256 required), ``/token``
(checks the code, the redirect URI and the code verifier, answers an ID token with the
nonce) and ``/jwks``; it records what clients sent, so a test can assert on it. Keys are RSA
keys made with joserfc; ``rotate()`` publishes a new one, ``foreign`` is a key it never publishes.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "antt-console"
CLIENT_SECRET = "console-secret-for-tests-only"
AUDIENCE = CLIENT_ID


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)


class TestProvider:
    __test__ = False  # not a test class

    def __init__(self) -> None:
        self.keys: list[RSAKey] = [_key("k1")]
        self.foreign = _key("k-foreign")
        self.jwks_hits = 0
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.codes: dict[str, dict[str, str]] = {}
        #: the claims of the official who "signs in" at the provider next
        self.login_claims: dict[str, Any] = {}
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # keys and tokens ---------------------------------------------------------------------
    @property
    def key(self) -> RSAKey:
        return self.keys[-1]

    def rotate(self, kid: str) -> RSAKey:
        self.keys.append(_key(kid))
        return self.keys[-1]

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "officer-51@quang-ngai",
            "name": "Võ Thị Hoa",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "antt_role": "decide",
            "antt_jurisdiction": "province:51",
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def token(self, key: RSAKey | None = None, alg: str = "RS256", **overrides: Any) -> str:
        key = key or self.key
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, self.claims(**overrides), key)

    # HTTP --------------------------------------------------------------------------------
    async def _discovery(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        )

    async def _jwks(self, _request: Request) -> Response:
        self.jwks_hits += 1
        return JSONResponse(KeySet(list(self.keys)).as_dict(private=False))

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        if params.get("response_type") != "code" or params.get("client_id") != CLIENT_ID:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return JSONResponse({"error": "invalid_request", "error_description": "PKCE S256 required"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = params
        query = urlencode({"code": code, "state": params.get("state", "")})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302)

    async def _token(self, request: Request) -> Response:
        form = dict(await request.form())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        asked = self.codes.pop(str(form.get("code")), None)
        if asked is None or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("redirect_uri") != asked["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, status_code=400)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != asked["code_challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE verifier"}, status_code=400)
        id_token = self.token(**{"aud": CLIENT_ID, "nonce": asked.get("nonce"), **self.login_claims})
        return JSONResponse(
            {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        )

    def start(self) -> TestProvider:
        app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/jwks", self._jwks),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test identity provider did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()
