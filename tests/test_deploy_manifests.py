"""deploy/: every Kubernetes manifest is valid against the Kubernetes API schema, the unsafe defaults are
overridden (replicas, lock store, API token, CORS, secrets), and the image runs as no root with no secrets.

What an operator would notice: a manifest `kubectl apply` refuses (a typo in a field name is caught by the
strict schema), a second Rasa replica that corrupts conversations (no Redis lock), an open HTTP API, or a
password in a file they commit.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from kubernetes_validate import utils as k8s_schema

from actions.server import OPEN_PATHS, TOKEN_HEADER
from bot import stores
from bot.channels.session import SESSION_HEADER
from bot.launcher import ACTION_TOKEN_ENV, RASA_WITH_TOKEN, TOKEN_ENV
from bot.stores import REDIS_PASSWORD_ENV, TRACKER_URL_ENV

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEPLOY = PROJECT_ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
# The schemas kubernetes-validate 1.28.3 ships (the newest release Rasa 3.6's jsonschema pin allows).
KUBERNETES_VERSION = "1.28"
PLACEHOLDER = "REPLACE_ME"
SECRET_NAME = "shopcue-secrets"
SECRETISH = re.compile(r"PASSWORD|TOKEN|SECRET", re.IGNORECASE)
CREDENTIALS_IN_URL = re.compile(r"://[^/:@\s]+:([^@\s]+)@")


def documents() -> List[Tuple[str, Dict[str, Any]]]:
    """(file name, document) for every YAML document in deploy/k8s/."""
    found = []
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((path.name, document))
    return found


def the(kind: str, name: str) -> Dict[str, Any]:
    matches = [doc for _, doc in documents() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


WORKLOADS = ("Deployment", "StatefulSet", "Job")


def containers(kinds: Tuple[str, ...] = WORKLOADS) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(workload name, container) for every container of every workload."""
    for _, doc in documents():
        if doc["kind"] in kinds:
            pod = doc["spec"]["template"]["spec"]
            for container in pod.get("initContainers", []) + pod["containers"]:
                yield doc["metadata"]["name"], container


def env_of(container: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def endpoints_config() -> Dict[str, Any]:
    return yaml.safe_load(the("ConfigMap", "shopcue-endpoints")["data"]["endpoints.yml"])


def test_manifests_exist() -> None:
    kinds = {doc["kind"] for _, doc in documents()}
    assert {"Namespace", "Secret", "ConfigMap", "Deployment", "StatefulSet", "Service", "Ingress",
            "NetworkPolicy"} <= kinds


@pytest.mark.parametrize("name, document", documents(),
                         ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in documents()])
def test_manifest_is_valid_kubernetes(name: str, document: Dict[str, Any]) -> None:
    # strict: a field the API does not know (a misspelt probe, a key at the wrong level) is an error,
    # where kubectl would drop it silently or refuse the whole file.
    try:
        k8s_schema.validate(document, KUBERNETES_VERSION, strict=True)
    except k8s_schema.ValidationError as error:
        pytest.fail(f"{name}: {document['kind']}/{document['metadata']['name']}: {error}")
    if document["kind"] != "Namespace":
        assert document["metadata"].get("namespace") == "shopcue", f"{name}: not in the shopcue namespace"


def test_rasa_and_actions_run_two_replicas_with_a_disruption_budget() -> None:
    for name in ("rasa", "actions"):
        deployment = the("Deployment", name)
        assert deployment["spec"]["replicas"] >= 2, f"{name} must run at least two replicas"
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert the("PodDisruptionBudget", name)["spec"]["minAvailable"] >= 1


def test_conversations_in_postgres_and_locks_in_redis_as_rasa_reads_them(monkeypatch) -> None:
    """The ConfigMap's endpoints.yml read the way Rasa reads it (with ${...} from the environment), and
    each store's keys are ones Rasa's store takes (a misspelt key would fail at start)."""
    from rasa.core.lock_store import LockStore, RedisLockStore
    from rasa.shared.utils.io import read_yaml
    from rasa.utils.endpoints import EndpointConfig

    database = "postgresql://shopcue:pg-pass@postgres/shopcue"
    for variable, value in {ACTION_TOKEN_ENV: "act-token", TRACKER_URL_ENV: database,
                            REDIS_PASSWORD_ENV: "redis-pass", "SHOPCUE_DATABASE_URL": database}.items():
        monkeypatch.setenv(variable, value)
    config = read_yaml(the("ConfigMap", "shopcue-endpoints")["data"]["endpoints.yml"])

    assert config["tracker_store"] == {"type": "SQL", "url": database}
    lock = config["lock_store"]
    assert lock["type"] == "redis" and lock["password"] == "redis-pass"
    store = LockStore.create(EndpointConfig.from_dict(lock))  # builds the client; connects on first use
    assert isinstance(store, RedisLockStore)
    assert store.red.connection_pool.connection_kwargs["password"] == "redis-pass"
    assert config["action_endpoint"]["headers"] == {TOKEN_HEADER: "act-token"}
    assert config["event_broker"]["url"] == database


def test_store_sections_are_the_ones_the_launcher_writes() -> None:
    """One home for the store settings (bot/stores.py): the cluster's sections are what make run and
    deploy/cluster.py write for a PostgreSQL tracker URL and a Redis with a password."""
    config = endpoints_config()
    lock = config["lock_store"]
    redis_url = f"redis://:a-password@{lock['url']}:{lock['port']}/{lock['db']}"
    written = yaml.safe_load("\n".join(stores.endpoint_sections(redis_url)))
    assert {key: config[key] for key in ("tracker_store", "lock_store")} == written


def test_endpoints_name_the_cluster_services() -> None:
    config = endpoints_config()
    services = {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == "Service"}
    action_host = config["action_endpoint"]["url"].split("//", 1)[1].split(":", 1)[0]
    for host in (config["lock_store"]["url"], action_host):
        assert host.split(".", 1)[0] in services, f"{host}: no such Service"
    assert config["lock_store"]["port"] == services["redis"]["spec"]["ports"][0]["port"]
    rasa_env = env_of(the("Deployment", "rasa")["spec"]["template"]["spec"]["containers"][0])
    tracker = rasa_env[TRACKER_URL_ENV]["value"]
    host, port = tracker.split("@", 1)[1].split("/", 1)[0].split(":")
    assert host.split(".", 1)[0] == "postgres"
    assert int(port) == services["postgres"]["spec"]["ports"][0]["port"]


def test_rasa_api_needs_the_token_from_the_secret_and_cors_is_not_open() -> None:
    container = the("Deployment", "rasa")["spec"]["template"]["spec"]["containers"][0]
    command = container["command"]
    assert command[:4] == ["python", "-m", "bot.launcher", RASA_WITH_TOKEN]
    assert "--enable-api" in command
    assert not any(arg.startswith(("--auth-token", "--jwt")) for arg in command), "a token in argv"
    assert "--cors" not in command and "*" not in command
    assert env_of(container)[TOKEN_ENV]["valueFrom"]["secretKeyRef"]["name"] == SECRET_NAME
    endpoints_volume = [v for v in the("Deployment", "rasa")["spec"]["template"]["spec"]["volumes"]
                        if v.get("configMap")]
    assert endpoints_volume[0]["configMap"]["name"] == "shopcue-endpoints"
    mount = next(m for m in container["volumeMounts"] if m["name"] == endpoints_volume[0]["name"])
    assert command[command.index("--endpoints") + 1] == f"{mount['mountPath']}/endpoints.yml"


def test_rasa_command_line_is_one_rasa_accepts() -> None:
    from rasa.__main__ import create_argument_parser

    command = the("Deployment", "rasa")["spec"]["template"]["spec"]["containers"][0]["command"]
    arguments = create_argument_parser().parse_args(command[4:])
    assert arguments.enable_api and arguments.port == 5005
    assert arguments.cors is None and arguments.auth_token is None
    assert (PROJECT_ROOT / arguments.credentials).is_file()


def test_every_command_runs_a_module_of_this_project() -> None:
    for workload, container in containers(("Deployment",)):
        command = container["command"]
        assert command[:2] == ["python", "-m"], workload
        assert importlib.util.find_spec(command[2]) is not None, f"{workload}: no module {command[2]}"


def test_the_database_is_prepared_once_by_a_job_before_the_servers() -> None:
    """Two replicas starting at once would race to create Rasa's tables and build the catalog: a Job runs
    deploy/cluster.py's prepare_database (what the local scaled topology runs) instead, with the same model
    path the Rasa pods load, and the network policy lets it reach PostgreSQL."""
    from deploy.cluster import prepare_database

    job = the("Job", "shopcue-prepare")
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert "from deploy.cluster import prepare_database" in script
    assert list(inspect.signature(prepare_database).parameters)[:2] == ["url", "model"]
    rasa = the("Deployment", "rasa")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert rasa[rasa.index("--model") + 1] in script
    postgres_policy = the("NetworkPolicy", "postgres-from-shopcue")
    allowed = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
               for rule in postgres_policy["spec"]["ingress"] for peer in rule["from"]}
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] in allowed
    assert "deploy" not in DOCKERIGNORE.read_text().split(), "the image needs deploy/cluster.py"


def test_no_plain_secrets_in_the_manifests() -> None:
    secret = the("Secret", SECRET_NAME)
    assert "data" not in secret
    for key, value in secret["stringData"].items():
        assert value.startswith(PLACEHOLDER), f"Secret key {key} must hold a placeholder, not a value"
    for workload, container in containers():
        for name, item in env_of(container).items():
            if SECRETISH.search(name):
                reference = item.get("valueFrom", {}).get("secretKeyRef")
                assert reference and "value" not in item, f"{workload}: {name} must come from a Secret"
            for password in CREDENTIALS_IN_URL.findall(item.get("value", "")):
                assert re.fullmatch(r"\$\([A-Z_]+\)", password), f"{workload}: {name} has a password in it"
        for argument in container.get("command", []) + container.get("args", []):
            # `ps` shows every process's argv: a secret there is no secret (--auth-token=..., password:...)
            assert not re.search(r"(password|token|secret)[=:]\S", argument, re.IGNORECASE), workload
    config = endpoints_config()
    assert re.fullmatch(r"\$\{[A-Z_]+\}", config["lock_store"]["password"])
    assert re.fullmatch(r"\$\{[A-Z_]+\}", config["tracker_store"]["url"]), "the URL holds the password"


def test_every_secret_and_variable_reference_resolves() -> None:
    keys = set(the("Secret", SECRET_NAME)["stringData"])
    for workload, container in containers():
        defined: List[str] = []
        for item in container.get("env", []):
            reference = item.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                assert reference["name"] == SECRET_NAME and reference["key"] in keys, (workload, item["name"])
            # Kubernetes expands $(VAR) only from variables defined earlier in the list.
            for used in re.findall(r"\$\(([A-Z_]+)\)", item.get("value", "")):
                assert used in defined, f"{workload}: {item['name']} uses $({used}) before it is defined"
            defined.append(item["name"])
    rasa_env = env_of(the("Deployment", "rasa")["spec"]["template"]["spec"]["containers"][0])
    endpoints_text = the("ConfigMap", "shopcue-endpoints")["data"]["endpoints.yml"]
    for variable in re.findall(r"\$\{([A-Z_]+)\}", endpoints_text):
        assert variable in rasa_env, f"endpoints.yml needs {variable} in the Rasa pod"
    actions_env = env_of(the("Deployment", "actions")["spec"]["template"]["spec"]["containers"][0])
    assert actions_env[ACTION_TOKEN_ENV]["valueFrom"] == rasa_env[ACTION_TOKEN_ENV]["valueFrom"]


def test_actions_are_reachable_from_rasa_only() -> None:
    policies = [doc for _, doc in documents() if doc["kind"] == "NetworkPolicy"]
    deny_all = [p for p in policies if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")]
    assert deny_all, "no default-deny ingress policy"
    for_actions = [p for p in policies
                   if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": "actions"}]
    assert len(for_actions) == 1
    sources = [peer for rule in for_actions[0]["spec"]["ingress"] for peer in rule["from"]]
    assert sources == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "rasa"}}}]
    assert the("Service", "actions")["spec"]["type"] == "ClusterIP"


def test_ingress_hashes_on_the_session_and_exposes_only_the_web_chat() -> None:
    chat = the("Ingress", "shopcue-chat")
    header = "$http_" + SESSION_HEADER.lower().replace("-", "_")
    assert chat["metadata"]["annotations"]["nginx.ingress.kubernetes.io/upstream-hash-by"] == header
    assert chat["spec"]["ingressClassName"] == "nginx" and chat["spec"]["tls"]
    paths = [path for rule in chat["spec"]["rules"] for path in rule["http"]["paths"]]
    assert [(p["path"], p["backend"]["service"]["name"]) for p in paths] == [("/webhooks/webchat", "rasa")]
    backends = {p["backend"]["service"]["name"] for _, doc in documents() if doc["kind"] == "Ingress"
                for rule in doc["spec"]["rules"] for p in rule["http"]["paths"]}
    assert backends == {"rasa", "console"}, "only the chat and the console face the internet"


def test_probes_use_routes_that_need_no_token() -> None:
    rasa = the("Deployment", "rasa")["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert rasa[probe]["httpGet"]["path"] == "/", "Rasa's /status needs the API token"
    actions = the("Deployment", "actions")["spec"]["template"]["spec"]["containers"][0]
    assert actions["readinessProbe"]["httpGet"]["path"] in OPEN_PATHS


def test_pods_run_as_non_root_without_privilege_escalation() -> None:
    for _, doc in documents():
        if doc["kind"] not in WORKLOADS:
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            image = container["image"]
            assert ":" in image and not image.endswith(":latest"), f"{image}: pin a tag"
    shopcue_images = {c["image"] for _, c in containers(("Deployment", "Job"))}
    assert len(shopcue_images) == 1, "rasa, actions, console and the prepare Job must run the same build"


# ---- the image --------------------------------------------------------------------------------------


def dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(DOCKERFILE))


def final_stage(parser: DockerfileParser) -> List[Dict[str, Any]]:
    starts = [i for i, item in enumerate(parser.structure) if item["instruction"] == "FROM"]
    return parser.structure[starts[-1]:]


def test_image_is_multi_stage_and_runs_as_a_numeric_non_root_user() -> None:
    parser = dockerfile()
    assert len([i for i in parser.structure if i["instruction"] == "FROM"]) >= 2
    users = [item["value"] for item in final_stage(parser) if item["instruction"] == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) > 0, "a numeric UID lets Kubernetes check runAsNonRoot"
    pod_users = {doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
                 for _, doc in documents() if doc["kind"] == "Deployment"}
    assert pod_users == {int(user)}


def test_image_holds_no_secrets() -> None:
    parser = dockerfile()
    for item in parser.structure:
        if item["instruction"] in ("ENV", "ARG", "LABEL"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", item["value"]):
                assert not SECRETISH.search(name), f"{item['instruction']} {name}: secrets come from the pod"
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    # var/ holds make run's API token, the web chat secret and the databases; models/ and .venv are big.
    assert {"var", "models", ".git", "**/.venv", "**/*.db"} <= ignored


def test_image_copies_what_exists_and_installs_from_the_lock() -> None:
    parser = dockerfile()
    runs = " ".join(item["value"] for item in parser.structure if item["instruction"] == "RUN")
    assert "scripts/install.sh" in runs
    for item in parser.structure:
        if item["instruction"] == "COPY" and "--from=" not in item["value"]:
            source = item["value"].split()[-2]
            assert (PROJECT_ROOT / source).exists(), f"COPY {source}: no such path"
    # The model the Rasa pods load is the one the image bakes in, and the image's default command is Rasa's.
    rasa = the("Deployment", "rasa")["spec"]["template"]["spec"]["containers"][0]["command"]
    model = rasa[rasa.index("--model") + 1]
    assert any(item["instruction"] == "COPY" and item["value"].endswith(model) for item in parser.structure)
    default_command = [item["value"] for item in final_stage(parser) if item["instruction"] == "CMD"][-1]
    assert RASA_WITH_TOKEN in default_command and model in default_command
