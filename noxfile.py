"""Every task of the project: ``nox -l`` lists them, ``nox -s NAME`` runs one.

The default test run (``nox -s tests``) needs the local PostgreSQL (127.0.0.1:5432, database
``test``); ``.ci/run`` starts it when it is not running.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"


def _install(session: nox.Session, *groups: str) -> None:
    session.install("-e", ".[all]")
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit, integration (simulator over HTTP, SQLite, PostgreSQL) and property tests."""
    _install(session, "test")
    session.run(
        "pytest",
        "-m",
        "not slow and not reliability",
        "--hypothesis-profile=ci",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict with the returns and pydantic plugins, over src and tests."""
    _install(session, "typecheck")
    session.run("mypy", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The demo: simulator -> full sync into SQLite -> changes -> incremental sync."""
    _install(session)
    session.run("gruponos", "demo", *session.posargs)


#: The build frontend (builds the sdist, then the wheel from the sdist, as an index would).
BUILD = "build>=1.2,<2"


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """The wheel and the sdist into dist/ (the commit built goes into both: gruponos --version)."""
    session.install(BUILD)
    shutil.rmtree("dist", ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", "dist")


@nox.session(python=PYTHON)
def package(session: nox.Session) -> None:
    """The wheel as a user gets it: built, installed into fresh virtualenvs outside the source
    tree, without extras and then with [all], and run there by scripts/install_smoke.py
    (--version, demo, sync, verify, tap-gruponos | target-gruponos into SQLite against the
    simulator, and each command needing an extra refused in one line; with [all] its --help)."""
    session.install(BUILD)
    tmp = Path(tempfile.mkdtemp(prefix="gruponos-package-"))  # outside the source tree
    dist = tmp / "dist"
    session.run("python", "-m", "build", "--wheel", "--outdir", str(dist))
    (wheel,) = dist.glob("gruponos-*.whl")
    smoke = Path("scripts/install_smoke.py").resolve()
    for extras in ("none", "all"):
        venv = tmp / f"installed-{extras}"
        shutil.rmtree(venv, ignore_errors=True)
        session.run("python", "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        requirement = str(wheel) if extras == "none" else f"gruponos[all] @ {wheel.as_uri()}"
        session.run(python, "-m", "pip", "install", "--quiet", requirement, external=True)
        with session.chdir(tmp):  # the source tree is not importable from here
            session.run(
                python, str(smoke), "--bin", str(venv / "bin"), "--extras", extras, external=True
            )
    shutil.rmtree(tmp)


#: The Kubernetes version whose JSON schemas (kubernetes-validate, offline) the manifests must meet.
KUBERNETES_VERSION = "1.34.0"


@nox.session(python=PYTHON)
def deploy(session: nox.Session) -> None:
    """The deployment files (issue 19): yamllint; every manifest under deploy/k8s against the
    Kubernetes JSON schemas of KUBERNETES_VERSION (kubernetes-validate --strict, offline); each
    overlay rendered with `kubectl kustomize` and validated the same way when kubectl is
    installed; the deployment tests (Dockerfile, Compose, manifests, the custom resources against
    deploy/k8s/schemas); and the image's start command run outside a container under tini
    (Debian's package, installed with apt-get when missing)."""
    if shutil.which("tini") is None:
        session.run("apt-get", "update", "-qq", external=True)
        session.run(
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "tini",
            external=True,
            env={"DEBIAN_FRONTEND": "noninteractive"},
        )
    _install(session, "test", "deploy")
    session.run("yamllint", "--strict", "deploy", ".yamllint.yaml")
    manifests = sorted(
        str(p)
        for p in Path("deploy/k8s").rglob("*.yaml")
        if p.name != "kustomization.yaml" and not p.name.endswith(".patch.yaml")
    )
    validate = ("kubernetes-validate", "--strict", "--quiet", "-k", KUBERNETES_VERSION)
    session.run(*validate, *manifests)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        session.log("kubectl is not installed: the overlays are not rendered here")
    else:
        rendered = Path(session.create_tmp()).resolve() / "rendered"
        rendered.mkdir(exist_ok=True)
        for overlay in sorted(Path("deploy/k8s/overlays").iterdir()):
            out = rendered / f"{overlay.name}.yaml"
            text = session.run(kubectl, "kustomize", str(overlay), external=True, silent=True)
            out.write_text(str(text), encoding="utf-8")
            session.run(*validate, str(out))
    session.run(
        "pytest",
        "tests/unit/deploy",
        "tests/integration/deploy",
        "tests/e2e/test_install_without_extras.py",
        "-p",
        "no:cacheprovider",
        "-o",
        "log_cli=false",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """gruponos against dlt, the Singer stack and the floors (needs the local PostgreSQL).

    Competitors get their own virtualenvs under ``.bench-venvs/``; ``nox -s bench -- --sizes
    100000`` passes options to ``benchmarks/pipeline_bench.py``.
    """
    _install(session)
    # An editable install has no bytecode of its own and this machine sets
    # PYTHONDONTWRITEBYTECODE: compile it once, as a regular install of any tool would be.
    session.run("python", "-m", "compileall", "-q", "src")
    session.run("python", "benchmarks/pipeline_bench.py", *session.posargs)


@nox.session(python=PYTHON)
def bench_small(session: nox.Session) -> None:
    """The small runs (issue 21): ``gruponos --version``, an incremental sync with no change and
    with 10,000 changed records, as the command a user starts (needs the local PostgreSQL);
    ``nox -s bench_small -- --runs 10 --hyperfine``."""
    _install(session)
    session.run("python", "benchmarks/small_runs.py", *session.posargs)


@nox.session(python=PYTHON)
def bench_readers(session: nox.Session) -> None:
    """The full sync with 1, 2, 4, 8 readers against a WMS 200 ms away (the simulator's latency
    mode), and the default against one reader on loopback (needs the local PostgreSQL)."""
    _install(session)
    session.run("python", "-m", "compileall", "-q", "src")
    session.run("python", "benchmarks/readers_curve.py", *session.posargs)


@nox.session(python=PYTHON)
def api_load(session: nox.Session) -> None:
    """The API service's load check (needs the local PostgreSQL): GET /api/v1/runs at 200
    requests/s for 30 s, open-loop; prints the latency percentiles that docs/performance.md
    quotes. ``nox -s api_load -- --rate 400 --seconds 10`` passes options on."""
    _install(session)
    session.run("python", "-m", "compileall", "-q", "src")
    session.run("python", "benchmarks/api_load.py", *session.posargs)


# Pinned so the session is reproducible; each tool gets its own virtualenv (Meltano's and the
# Singer SDK's dependencies must not meet gruponos' in one environment).
MELTANO_TOOLS = {
    "meltano": "meltano==4.4.1",
    "target-jsonl": "target-jsonl==0.1.4",
    "tap-rest-api-msdk": "tap-rest-api-msdk==1.4.2",
    "target-postgres": "meltanolabs-target-postgres==0.8.1",  # the quarantine stream as a table
}


@nox.session(python=PYTHON)
def meltano(session: nox.Session) -> None:
    """Meltano end to end against the simulator (install, run, gruponos sync with the Meltano
    state, run again, full sync), Singer interop with third-party plugins, and the quarantine
    stream into the local PostgreSQL through MeltanoLabs' target-postgres (meltano/e2e.py)."""
    _install(session)
    tools = Path(session.create_tmp()).resolve() / "tools"
    executables: list[str] = []
    for name, requirement in MELTANO_TOOLS.items():
        venv = tools / name
        exe = venv / "bin" / name
        if not exe.exists():
            session.run("python", "-m", "venv", str(venv))
            session.run(
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                requirement,
                external=True,
            )
        executables += [f"--{name}", str(exe)]
    session.run("python", "meltano/e2e.py", *executables)


@nox.session(python=PYTHON)
def reliability(session: nox.Session) -> None:
    """The reliability suite (needs the local PostgreSQL, restarts it once): faults, kill -9,
    concurrent runs, source changes, hostile input, bad configuration, secrets. Figures go to
    ``.reliability-results.json``; docs/reliability.md quotes them."""
    _install(session, "test")
    session.run(
        "pytest",
        "tests/reliability",
        "-m",
        "reliability",
        "-p",
        "no:cacheprovider",
        "-o",
        "log_cli=false",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def scaleout(session: nox.Session) -> None:
    """Distributed full syncs of 1,000,000 records on real `gruponos worker` processes (needs the
    local PostgreSQL, /usr/bin/redis-server, and RabbitMQ on 127.0.0.1:5672 for its test): two
    workers; one killed -9 three times; Redis restarted mid-run; RabbitMQ as the broker. Each
    compares every id and mod_ts with the simulator (tests/scaleout; the small ones run in
    `nox -s tests`)."""
    _install(session, "test")
    session.run(
        "pytest",
        "tests/scaleout",
        "-m",
        "slow",
        "-p",
        "no:cacheprovider",
        "-o",
        "log_cli=false",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def scheduler(session: nox.Session) -> None:
    """`gruponos scheduler` as real processes with per-second schedules against the simulator
    (needs the local PostgreSQL for its two-replica test): both pipelines fire, no overlap when
    a run outlasts its interval, catch-up on start, two schedulers fire each time once (~1 min)."""
    _install(session, "test")
    session.run(
        "pytest",
        "tests/integration/scheduler",
        "-m",
        "slow",
        "-p",
        "no:cacheprovider",
        "-o",
        "log_cli=false",
        *session.posargs,
    )


#: Debian's packages of the servers the monitoring end-to-end test runs (as child processes).
MONITORING_PACKAGES = ("prometheus", "prometheus-alertmanager", "prometheus-pushgateway")


#: dbt-oracle only to check that the Oracle profile and models parse (no Oracle server here).
DBT_TOOLS = "dbt-core==1.9.11 dbt-postgres==1.9.1 dbt-oracle==1.9.3"


@nox.session(python=PYTHON)
def analytics(session: nox.Session) -> None:
    """The dbt project in analytics/ on the local PostgreSQL (analytics/e2e.py): a sync from the
    simulator, `dbt build` and `dbt source freshness`, a seeded broken relation that the tests
    catch, and the marts against hand-computed numbers. dbt in a virtualenv of its own."""
    _install(session)
    venv = Path(session.create_tmp()).resolve() / "dbt"
    exe = venv / "bin" / "dbt"
    if not exe.exists():
        session.run("python", "-m", "venv", str(venv))
        session.run(
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            *DBT_TOOLS.split(),
            external=True,
        )
    session.run("python", "analytics/e2e.py", "--dbt", str(exe))


@nox.session(python=PYTHON)
def monitoring(session: nox.Session) -> None:
    """Monitoring end to end with the real servers: promtool checks and unit-tests the alert
    rules, amtool checks the Alertmanager example, then Prometheus scrapes a running gruponos
    service and a Pushgateway, and Alertmanager delivers the failure alert to a local webhook
    (tests/integration/monitoring/test_prometheus_e2e.py). Installs the Debian packages with
    apt-get when a binary is missing; the servers never run as system services."""
    binaries = (
        "prometheus",
        "promtool",
        "prometheus-alertmanager",
        "amtool",
        "prometheus-pushgateway",
    )
    if any(shutil.which(b) is None for b in binaries):
        session.run("apt-get", "update", "-qq", external=True)
        session.run(
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            *MONITORING_PACKAGES,
            external=True,
            env={"DEBIAN_FRONTEND": "noninteractive"},
        )
    _install(session, "test")
    rules = "deploy/prometheus"
    session.run("promtool", "check", "rules", f"{rules}/rules.yml", external=True)
    session.run("promtool", "test", "rules", f"{rules}/rules_test.yml", external=True)
    session.run("amtool", "check-config", f"{rules}/alertmanager.yml", external=True)
    session.run(
        "pytest",
        "tests/integration/monitoring/test_prometheus_e2e.py",
        "-m",
        "slow",
        "-p",
        "no:cacheprovider",
        "-o",
        "log_cli=false",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def oracle_live(session: nox.Session) -> None:
    """The Oracle sink against a live Oracle Database: GRUPONOS_TEST_ORACLE_DSN (and optionally
    GRUPONOS_TEST_ORACLE_SCHEMA, GRUPONOS_TEST_ORACLE_TCPS_DSN, GRUPONOS_TEST_ORACLE_WALLET) must
    be set; docs/sinks.md shows how to start Oracle Database Free in a container."""
    if not os.environ.get("GRUPONOS_TEST_ORACLE_DSN"):  # noqa: TID251 - nox's own environment
        session.error("set GRUPONOS_TEST_ORACLE_DSN=oracle://user:password@host:1521/service")
    _install(session, "test")
    session.run(
        "pytest",
        "tests/integration/sql/test_oracle_live.py",
        "-m",
        "oracle",
        "-p",
        "no:cacheprovider",
        "-rs",
        *session.posargs,
    )
