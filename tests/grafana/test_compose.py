"""compose.yaml hangs together: Docker images cannot be pulled on the build machines, so the stack
is checked by structure — its services, that every file it mounts exists, that each URL and port
one service uses to reach another is what that other one serves, and that the Prometheus config it
mounts passes promtool with the files mounted as compose mounts them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from boards import GRAFANA, ROOT, bind_mounts, compose, host_path, prometheus_config

from rapport.api.settings import Settings

SERVICES = {"rapport", "prometheus", "grafana", "mailpit"}
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"][name]
    return found


def published(name: str) -> dict[int, int]:
    """``name``'s published ports: container port → host port."""
    ports = {}
    for mapping in service(name).get("ports", []):
        host, container = str(mapping).split(":")
        ports[int(container)] = int(host)
    return ports


def environment(name: str) -> dict[str, str]:
    env: dict[str, str] = service(name).get("environment", {})
    return env


def test_the_stack_is_rapport_prometheus_grafana_and_mailpit() -> None:
    assert set(compose()["services"]) == SERVICES
    assert service("rapport")["build"] == "."
    assert all("image" in service(s) for s in SERVICES - {"rapport"})


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_file_a_service_mounts_exists(name: str) -> None:
    missing = [
        str(source.relative_to(ROOT))
        for source in bind_mounts(name).values()
        if not source.exists() and source.parent != ROOT / "secrets"
    ]
    assert missing == []


def test_the_scrape_token_is_a_secret_file_git_ignores_and_the_readme_explains() -> None:
    (token,) = [s for s in bind_mounts("prometheus").values() if s.parent == ROOT / "secrets"]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(token)], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0
    assert (ROOT / "secrets" / "README.md").exists()
    assert "secrets/rapport_read_token" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_prometheus_scrapes_the_rapport_service_on_the_port_it_serves() -> None:
    config = yaml.safe_load((GRAFANA / "prometheus" / "prometheus.yml").read_text())
    ((target,),) = [c["targets"] for job in config["scrape_configs"] for c in job["static_configs"]]
    host, port = target.split(":")
    assert host == "rapport"
    assert re.search(rf"RAPPORT_PORT={port}\b", DOCKERFILE)
    assert f"EXPOSE {port}" in DOCKERFILE
    assert int(port) in published("rapport")
    token_file = config["scrape_configs"][0]["authorization"]["credentials_file"]
    assert host_path("prometheus", token_file) == ROOT / "secrets" / "rapport_read_token"


def test_grafana_reads_the_prometheus_service_and_the_mounted_boards() -> None:
    url = urlsplit(environment("grafana")["PROMETHEUS_URL"])
    assert url.hostname == "prometheus" and url.port in published("prometheus")
    datasources = (GRAFANA / "provisioning" / "datasources").glob("*.yaml")
    (datasource,) = [d for f in datasources for d in yaml.safe_load(f.read_text())["datasources"]]
    assert datasource["url"] == "${PROMETHEUS_URL}"
    assert host_path("grafana", "/etc/grafana/provisioning") == GRAFANA / "provisioning"
    providers = (GRAFANA / "provisioning" / "dashboards").glob("*.yaml")
    (provider,) = [p for f in providers for p in yaml.safe_load(f.read_text())["providers"]]
    boards = host_path("grafana", provider["options"]["path"])
    assert boards == GRAFANA / "dashboards" and any(boards.glob("*.json"))


def test_rapport_sends_mail_to_mailpit_and_links_to_the_published_ports() -> None:
    env = environment("rapport")
    smtp = urlsplit(env["RAPPORT_SMTP_URL"])
    assert smtp.hostname == "mailpit" and smtp.port in published("mailpit")
    public = urlsplit(env["RAPPORT_PUBLIC_URL"])
    assert public.port == published("rapport")[8000]
    grafana = urlsplit(env["RAPPORT_GRAFANA_URL"])
    assert grafana.port == published("grafana")[3000]


def test_every_rapport_variable_the_stack_sets_is_a_setting() -> None:
    names = {f"RAPPORT_{field.upper()}" for field in Settings.model_fields}
    dockerfile_env = set(re.findall(r"\b(RAPPORT_[A-Z_]+)=", DOCKERFILE))
    assert set(environment("rapport")) | dockerfile_env <= names


def test_the_image_runs_unprivileged_keeps_data_on_the_volume_and_checks_health() -> None:
    assert re.search(r"^USER (?!root\b)\w+", DOCKERFILE, re.MULTILINE)
    assert "VOLUME /data" in DOCKERFILE
    assert "RAPPORT_DATABASE_URL=sqlite:////data/" in DOCKERFILE
    assert "rapport-data:/data" in service("rapport")["volumes"]
    (healthcheck,) = re.findall(r"HEALTHCHECK[^\n]*\n[^\n]*", DOCKERFILE)
    assert "/-/healthy" in healthcheck


def test_the_mounted_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed: apt-get install prometheus (.ci/run installs it)")
    token = tmp_path / "token"
    token.write_text("t")
    config = prometheus_config(target="127.0.0.1:8000", token_file=token)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 2 rule files found" in done.stdout + done.stderr
