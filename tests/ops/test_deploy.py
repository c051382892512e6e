"""The files in deploy/ are consistent with the code: they cannot run here, so they are checked."""

from __future__ import annotations

import configparser
import contextlib
import json
import logging.config
import os
import re
import runpy
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from node.cli import cli
from node.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ENV_NAME = re.compile(r"^#?\s*(MUTUALAID_[A-Z0-9_]+)=", re.MULTILINE)


def settings_names() -> set[str]:
    return {f"MUTUALAID_{name.upper()}" for name in Settings.model_fields}


def test_environment_example_documents_every_setting() -> None:
    text = (DEPLOY / "mutualaid.env.example").read_text()
    named = ENV_NAME.findall(text)
    missing = settings_names() - set(named)
    unknown = set(named) - settings_names()
    assert not missing, f"document these settings in deploy/mutualaid.env.example: {sorted(missing)}"
    assert not unknown, f"deploy/mutualaid.env.example names settings that do not exist: {sorted(unknown)}"
    lines = text.splitlines()
    for number, line in enumerate(lines):
        match = ENV_NAME.match(line)
        if match and lines[number - 1].startswith("#") and not ENV_NAME.match(lines[number - 1]):
            continue
        if match:
            # A setting right under another one shares its comment (host, port, user, ...).
            above = number - 1
            while above >= 0 and ENV_NAME.match(lines[above]):
                above -= 1
            assert lines[above].startswith("# "), f"{match.group(1)} has no comment"


def test_compose_file_parses_and_references_only_what_it_defines() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services: dict[str, Any] = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    volumes = set(compose.get("volumes", {}))
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on undefined service {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in volumes, f"{name} uses undeclared volume {source}"
        for key in service.get("environment", {}):
            if key.startswith("MUTUALAID_"):
                assert key in settings_names(), f"{name} sets unknown setting {key}"
        env_file = service.get("env_file")
        if env_file:
            assert (DEPLOY / f"{env_file}.example").exists(), f"{env_file} has no example to copy"
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    for name in ("web", "worker", "beat"):
        assert services[name]["environment"]["MUTUALAID_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert services[name]["environment"]["MUTUALAID_BROKER_URL"].startswith("redis://")


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


def test_systemd_units_run_existing_commands() -> None:
    commands = set(cli.commands)
    for name in ("mutualaid-web.service", "mutualaid-worker.service", "mutualaid-beat.service"):
        parsed = unit(name)
        assert {"Unit", "Service", "Install"} <= set(parsed.sections())
        service = parsed["Service"]
        assert service["User"] == "mutualaid"
        assert service["EnvironmentFile"] == "/etc/mutualaid/mutualaid.env"
        for key in ("ExecStartPre", "ExecStart"):
            if key not in service:
                continue
            argv = shlex.split(service[key])
            if argv[0].endswith("/mutualaid"):
                assert argv[1] in commands, f"{name}: no command 'mutualaid {argv[1]}'"
            else:
                assert argv[0].endswith("/gunicorn") and argv[-1] == "node:create_app()"
    target = unit("mutualaid.target")
    assert "mutualaid-beat.service" in target["Unit"]["Wants"]


def test_gunicorn_configuration_loads(tmp_path: Path) -> None:
    before = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    try:
        config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    finally:
        if before is None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = before
    assert (tmp_path / "metrics").is_dir()
    assert config["bind"] == "127.0.0.1:8000"
    assert config["worker_class"] == "gthread"
    logging.config.dictConfig(config["logconfig_dict"])
    handler = logging.getLogger("gunicorn.error").handlers[0]
    assert type(handler).__name__ == "StderrHandler"
    logging.getLogger("gunicorn.error").handlers.clear()


def test_nginx_site_is_balanced_and_proxies_to_gunicorn() -> None:
    site = (DEPLOY / "nginx" / "mutualaid.conf").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in site.splitlines())
    assert code.count("{") == code.count("}")
    assert "upstream mutualaid" in code and "server 127.0.0.1:8000" in code
    assert "proxy_pass http://mutualaid;" in code
    assert re.search(r"location = /metrics \{[^}]*deny all;", code)
    assert "X-Request-ID" in (DEPLOY / "nginx" / "mutualaid_proxy.conf").read_text()


@pytest.mark.e2e
def test_gunicorn_serves_a_node_with_the_deploy_configuration(tmp_path: Path) -> None:
    """gunicorn with deploy/gunicorn.conf.py runs a node: health, shared metrics, JSON access log."""
    instance, metrics = tmp_path / "instance", tmp_path / "metrics"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUTUALAID_", "PROMETHEUS_"))}
    env.update(
        {
            "MUTUALAID_INSTANCE_PATH": str(instance),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            "WEB_CONCURRENCY": "2",
            "GUNICORN_THREADS": "2",
        }
    )
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [str(bin_dir / "mutualaid"), "init"], env=env, check=True, capture_output=True, timeout=300
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(bin_dir / "gunicorn"), "-c", str(DEPLOY / "gunicorn.conf.py"), "node:create_app()"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer /healthz"
            time.sleep(0.3)
        for _ in range(6):  # spread over both worker processes
            assert requests.get(url + "/healthz", timeout=5, headers={"X-Request-ID": "probe-1"}).ok
        text = requests.get(url + "/metrics", timeout=5).text
        counted = [
            line
            for line in text.splitlines()
            if line.startswith('mutualaid_http_requests_total{endpoint="health.healthz"')
        ]
        assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 7, text[:2000]
        assert list(metrics.glob("counter_*.db"))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [e for e in lines if e["logger"] == "gunicorn.access" and "rid=probe-1" in e["message"]]
    assert access, log.read_text()[-3000:]


def test_local_region_script_runs_the_demo_command() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    out = subprocess.run(["sh", str(DEPLOY / "local-region.sh"), "--help"], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "--neighbourhoods" in out and "--base-port" in out and "--dir" in out
