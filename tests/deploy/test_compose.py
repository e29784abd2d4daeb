"""deploy/compose.yaml: parsed and checked for what the stack needs to run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from course_app.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SPEC: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = SPEC["services"]
#: What the app's processes read besides its Settings: gunicorn.conf.py's
#: variables, and the Redis that chapter 07's shared cache uses.
SERVER_VARIABLES = {
    "HOST",
    "PORT",
    "WORKERS",
    "WORKER_TIMEOUT",
    "GRACEFUL_TIMEOUT",
    "KEEPALIVE",
    "FORWARDED_ALLOW_IPS",
    "LOG_LEVEL",
    "REDIS_URL",
}
#: Settings whose defaults are wrong in production: a SQLite file inside the
#: container, and a throwaway signing key per worker (tokens fail across them).
MUST_SET = {"DATABASE_URL", "SECRET_KEY", "REDIS_URL"}


def env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in SERVICES[service]["environment"].items()}


def test_the_stack_has_its_four_services() -> None:
    assert set(SERVICES) == {"app", "db", "redis", "nginx"}


def test_every_service_has_a_health_check() -> None:
    for name, service in SERVICES.items():
        check = service.get("healthcheck", {})
        assert check.get("test", [None])[0] in ("CMD", "CMD-SHELL"), name
        assert "interval" in check, name


def test_services_start_once_what_they_need_is_healthy() -> None:
    for name, needs in {"app": {"db", "redis"}, "nginx": {"app"}}.items():
        depends = SERVICES[name]["depends_on"]
        assert set(depends) == needs
        assert {d["condition"] for d in depends.values()} == {"service_healthy"}


def test_the_app_gets_every_setting_it_needs_and_only_known_ones() -> None:
    app_env = env("app")
    assert set(app_env) >= MUST_SET
    known = {name.upper() for name in Settings.model_fields} | SERVER_VARIABLES
    assert set(app_env) <= known, set(app_env) - known
    assert app_env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@db:5432/" in app_env["DATABASE_URL"]
    assert app_env["REDIS_URL"] == "redis://redis:6379/0"


def test_no_secret_is_committed() -> None:
    # Each secret is a required variable (${NAME:?message}): compose refuses
    # to start without it, and the file holds no value to leak.
    required = re.compile(r"\$\{(\w+):\?[^}]+\}")
    assert required.fullmatch(env("app")["SECRET_KEY"]).group(1) == "SECRET_KEY"
    password = env("db")["POSTGRES_PASSWORD"]
    assert required.fullmatch(password).group(1) == "POSTGRES_PASSWORD"
    assert "${POSTGRES_PASSWORD:?" in env("app")["DATABASE_URL"]
    example = (DEPLOY / "env.example").read_text()
    assert re.findall(r"^(SECRET_KEY|POSTGRES_PASSWORD)=(.*)$", example, re.M) == [
        ("SECRET_KEY", ""),
        ("POSTGRES_PASSWORD", ""),
    ]


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        if "image" in service:
            assert re.fullmatch(r"[\w./-]+:\d+(\.\d+)+-\w+", service["image"]), name
    build = SERVICES["app"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


def test_nginx_renders_deploy_nginx_conf_with_every_placeholder_set() -> None:
    nginx = SERVICES["nginx"]
    (volume,) = nginx["volumes"]
    source, target, mode = volume.split(":")
    assert (DEPLOY / source).resolve() == DEPLOY / "nginx.conf"
    assert target == "/etc/nginx/templates/nginx.conf.template"
    assert mode == "ro"
    nginx_env = env("nginx")
    assert nginx_env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    used = set(re.findall(r"\$\{(\w+)\}", (DEPLOY / "nginx.conf").read_text()))
    assert used <= set(nginx_env), used - set(nginx_env)
    assert nginx_env["NGINX_UPSTREAM_SERVERS"] == "server app:8000;"


def test_the_app_trusts_forwarded_headers_from_nginx_only() -> None:
    address = SERVICES["nginx"]["networks"]["backend"]["ipv4_address"]
    assert env("app")["FORWARDED_ALLOW_IPS"] == address
    assert "ports" not in SERVICES["app"]  # reachable only through nginx


def test_docker_compose_accepts_it() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI here: the structural checks above still ran")
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        pytest.skip("this docker CLI has no compose plugin")
    done = subprocess.run(
        [docker, "compose", "--file", str(COMPOSE), "config", "--quiet"],
        env={**os.environ, "SECRET_KEY": "s" * 40, "POSTGRES_PASSWORD": "p" * 20},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
