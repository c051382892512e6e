"""Secrets at rest and in the open: the node key file is private and may be encrypted, and no
key, token, password or passphrase shows in the logs or error pages of a two-node exchange."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask

from federation import keys, signing
from federation.identity import key_path, local_identity
from node.observability import RedactingFilter
from tests.conftest import PASSWORD, TEST_SECRET
from tests.federation.network import Network, member, post_batch
from tests.node.factories import need

PASSPHRASE = "plum-orchard-passphrase-77"


def test_the_node_key_file_is_private_and_refused_when_others_can_read_it(app: Flask) -> None:
    path = key_path(app)
    assert os.stat(path).st_mode & 0o777 == 0o600
    for mode in (0o640, 0o604, 0o660):
        os.chmod(path, mode)
        with pytest.raises(keys.NodeKeyError, match="readable by other users"):
            keys.load(path)
    os.chmod(path, 0o600)
    assert signing.public_key_text(keys.load(path)) == local_identity(app).public_key


def test_an_encrypted_key_loads_only_with_its_passphrase(tmp_path: Path) -> None:
    key = keys.generate()
    path = tmp_path / keys.KEY_FILE
    keys.save(key, path, PASSPHRASE)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    for wrong in (None, "", "plum-orchard-passphrase-78"):
        with pytest.raises(keys.NodeKeyError):
            keys.load(path, wrong)
    assert signing.public_key_text(keys.load(path, PASSPHRASE)) == signing.public_key_text(key)


def secrets_of(app: Flask) -> list[str]:
    """Every form in which the node's private key could leak."""
    key = local_identity(app).key
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    body = "".join(pem.splitlines()[1:-1])
    return [signing.b64encode(raw), raw.hex(), body, body[:40], key_path(app).read_text().splitlines()[1]]


def test_logs_and_error_pages_of_an_exchange_hold_no_secret(
    network: Network, caplog: pytest.LogCaptureFixture
) -> None:
    a = network.node("a", log_level="DEBUG")
    b = network.node("b", key_passphrase=PASSPHRASE, log_level="DEBUG")
    # Records pass the same redacting filter as the node's own handler, at DEBUG.
    caplog.handler.addFilter(RedactingFilter())
    caplog.set_level(logging.DEBUG)
    network.peer("a", "b")
    ana = member(a, "ana")
    assert ana.post("/needs", json=need(title="Rice for 4")).status_code == 201
    assert network.pump() > 0
    pages = [
        ana.client.get("/api/v1/needs", headers={"Authorization": f"Bearer {ana.token}x"}),
        ana.client.get("/api/v1/no-such-thing", headers={"Authorization": f"Bearer {ana.token}"}),
        ana.client.post("/api/v1/needs", json={"title": PASSWORD},
                        headers={"Authorization": f"Bearer {ana.token}"}),
        b.test_client().get("/no-such-page"),
        post_batch(b, [{"sig": ana.token, "body": PASSWORD}]),
        a.test_client().post("/login", data={"handle": "ana", "password": PASSWORD + "!"}),
    ]
    # A careless log line with every secret in it: the redactor must blank it too.
    pem = key_path(a).read_text()
    logging.getLogger("careless").debug("key %s secret %s passphrase %s token Bearer %s", pem, TEST_SECRET,
                                        PASSPHRASE, ana.token)
    logged = "\n".join(caplog.handler.format(record) for record in caplog.records)
    text = logged + "\n".join(page.get_data(as_text=True) for page in pages)
    assert "careless" in logged and all(page.status_code >= 400 for page in pages[:4]), logged[-2000:]
    secrets = [*secrets_of(a), *secrets_of(b), PASSPHRASE, TEST_SECRET, str(ana.token), PASSWORD]
    found = [secret for secret in secrets if secret in text]
    assert found == []
