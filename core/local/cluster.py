"""Start, inspect and stop a real local Apache Kafka cluster (KRaft, combined broker+controller).

The state of a running cluster (pids, ports, data dir) is written to a JSON file so that
`status` and `down` work from another shell. Every wait is a condition with a deadline.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import psutil

from core.errors import LocalClusterError
from core.local.jars import KAFKA_VERSION, ensure_jars, find_java, java_classpath

DEFAULT_PORT = 9092
BROKER_JVM_FLAGS = [
    "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]
TOOL_JVM_FLAGS = ["-Xms64m", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class BrokerProcess:
    """One broker+controller node of the local cluster."""

    node_id: int
    port: int
    controller_port: int
    config_file: str
    log_file: str
    pid: int = 0
    secure_port: int = 0  # the SASL_SSL listener's port; 0 when the cluster has none

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        return f"127.0.0.1:{self.secure_port}" if self.secure_port else ""


@dataclass
class ClusterState:
    """What `up` recorded: enough for `status` and `down` from another process."""

    cluster_id: str
    kafka_version: str
    data_dir: str
    brokers: list[BrokerProcess]
    started_at: float = field(default_factory=time.time)

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers)

    @property
    def secure_bootstrap(self) -> str:
        """The SASL_SSL listeners ("" when the cluster was started without one)."""
        return ",".join(b.secure_bootstrap for b in self.brokers if b.secure_port)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ClusterState:
        raw = json.loads(text)
        raw["brokers"] = [BrokerProcess(**b) for b in raw["brokers"]]
        return cls(**raw)


@dataclass(frozen=True)
class ClusterStatus:
    state: ClusterState
    alive: dict[int, bool]
    metadata_brokers: tuple[int, ...] | None  # None: the cluster did not answer metadata

    @property
    def healthy(self) -> bool:
        return all(self.alive.values()) and self.metadata_brokers is not None and len(
            self.metadata_brokers
        ) == len(self.state.brokers)


@dataclass(frozen=True)
class SecureListener:
    """A SASL_SSL listener next to the PLAINTEXT one, with SCRAM users and ACLs.

    The PLAINTEXT client listener, the inter-broker listener and the controller listener stay
    PLAINTEXT: their principal is `User:ANONYMOUS`, which is a super user so that the brokers
    and controllers may talk to each other. Authorization is therefore only meaningful on the
    SASL_SSL listener (the tests' security proofs use that one; the PLAINTEXT one is the
    harness's back door, as on a broker whose plaintext port is firewalled).
    """

    keystore: str  # PEM: the broker's PKCS#8 private key followed by its certificate chain
    truststore: str  # PEM: CA certificate(s) to trust (client certificates, with client_auth)
    scram_users: tuple[tuple[str, str], ...] = ()  # (name, password), created at format time
    mechanism: str = "SCRAM-SHA-512"  # SCRAM-SHA-256 or SCRAM-SHA-512
    key_password: str | None = None  # when the key in `keystore` is encrypted
    client_auth: str = "none"  # none | requested | required (mutual TLS)
    authorizer: bool = True  # StandardAuthorizer, deny when no ACL matches
    super_users: tuple[str, ...] = ("admin",)

    def broker_config(self) -> dict[str, str]:
        prefix = "listener.name.sasl_ssl."
        mech = self.mechanism.lower()
        config = {
            "sasl.enabled.mechanisms": self.mechanism,
            f"{prefix}sasl.enabled.mechanisms": self.mechanism,
            f"{prefix}{mech}.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            f"{prefix}ssl.keystore.type": "PEM",
            f"{prefix}ssl.keystore.location": self.keystore,
            f"{prefix}ssl.truststore.type": "PEM",
            f"{prefix}ssl.truststore.location": self.truststore,
            f"{prefix}ssl.client.auth": self.client_auth,
        }
        if self.key_password is not None:
            config[f"{prefix}ssl.key.password"] = self.key_password
        if self.authorizer:
            supers = ["User:ANONYMOUS", *(f"User:{u}" for u in self.super_users)]
            config.update({
                "authorizer.class.name":
                    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "super.users": ";".join(supers),
                "allow.everyone.if.no.acl.found": "false",
            })
        return config

    def format_args(self) -> list[str]:
        """StorageTool arguments that create the SCRAM users with the cluster's metadata."""
        args = []
        for name, password in self.scram_users:
            for text, what in ((name, "user name"), (password, "password")):
                if not text or any(c in text for c in '",[]=\\'):
                    raise LocalClusterError(f"SCRAM {what} may not be empty or hold , [ ] = \\ \"")
            args += ["--add-scram", f'{self.mechanism}=[name={name},password="{password}"]']
        return args


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nexus-tui" / "local"


def new_cluster_id() -> str:
    """16 random bytes, URL-safe base64 without padding, never starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _os_free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _os_free_ports_except(count: int, taken: list[int]) -> list[int]:
    while True:
        ports = _os_free_ports(count)
        if not set(ports) & set(taken):
            return ports


def choose_ports(brokers: int, port: int | None) -> list[int]:
    """2×brokers ports: broker listeners first, then controllers.

    With `port` given they are port, port+1, ... and a taken one is an error; otherwise the
    usual 9092, 9093, ... when free, else ports the OS picks.
    """
    base = port if port is not None else DEFAULT_PORT
    wanted = [base + i for i in range(2 * brokers)]
    taken = [p for p in wanted if not port_free(p)]
    if not taken:
        return wanted
    if port is not None:
        which = ", ".join(map(str, taken))
        raise LocalClusterError(
            f"port {which} is already in use (--port {port} needs ports {wanted[0]}-{wanted[-1]}"
            "); choose another --port or omit it to pick free ports"
        )
    return _os_free_ports(2 * brokers)


def broker_config(
    node: BrokerProcess, voters: str, data_dir: Path, brokers: int, extra: dict[str, str],
    secure: SecureListener | None = None,
) -> dict[str, str]:
    rf, min_isr = (3, 2) if brokers >= 3 else (brokers, 1)
    listeners = f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
    protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    if secure is not None:
        listeners += f",SASL_SSL://127.0.0.1:{node.secure_port}"
        protocols += ",SASL_SSL:SASL_SSL"
    config = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": listeners,
        "advertised.listeners": listeners,
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": protocols,
        "log.dirs": str(data_dir / f"node-{node.node_id}" / "data"),
        "offsets.topic.replication.factor": str(rf),
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "3",
        "share.coordinator.state.topic.replication.factor": str(rf),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "share.coordinator.state.topic.num.partitions": "1",
        "default.replication.factor": str(rf),
        "min.insync.replicas": str(min_isr),
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": "2097152",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "controlled.shutdown.enable": "false",
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "3000",
        # a tool tailing thousands of partitions (the TUI's traffic watcher) leaves every
        # completed fetch in the fetch purgatory's watch lists until a purge, by default every
        # 1,000 requests: with thousands of partitions that outgrew the broker's heap
        # (OutOfMemoryError, BENCHMARKS.md §6); purging every 10 keeps it bounded
        "fetch.purgatory.purge.interval.requests": "10",
    }
    if secure is not None:
        config.update(secure.broker_config())
    config.update(extra)
    return config


def _write_properties(path: Path, config: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in config.items()))


def _log_tail(path: str, lines: int = 12) -> str:
    """The last lines of a broker log that say something (Java stack frames left out)."""
    try:
        text = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    said = [ln for ln in text if not ln.startswith("\tat ") and not ln.startswith("\t... ")]
    return "\n".join(said[-lines:]) or "(empty log)"


def _owned(broker: BrokerProcess) -> psutil.Process | None:
    """The live process of this broker, if its pid still runs our broker (not a reused pid)."""
    try:
        proc = psutil.Process(broker.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc if broker.config_file in " ".join(proc.cmdline()) else None
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def metadata_broker_ids(bootstrap: str, timeout: float = 2.0) -> tuple[int, ...] | None:
    """Ids of the brokers the cluster reports, or None when it does not answer in time."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(
        {"bootstrap.servers": bootstrap, "log_level": 0, "socket.connection.setup.timeout.ms": 1000}
    )
    try:
        md = admin.list_topics(timeout=timeout)
    except Exception:  # KafkaException: not reachable yet
        return None
    return tuple(sorted(md.brokers))


class LocalCluster:
    """The local cluster whose state lives in `state_dir` (one cluster per state dir)."""

    def __init__(self, state_dir: Path | None = None, progress: Progress | None = None):
        self.state_dir = Path(state_dir) if state_dir else default_state_dir()
        self.progress = progress or _quiet
        self._children: dict[int, subprocess.Popen[bytes]] = {}  # node id -> started here

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def load_state(self) -> ClusterState | None:
        try:
            return ClusterState.from_json(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError) as exc:
            raise LocalClusterError(
                f"unreadable local cluster state {self.state_file}: {exc}; delete it"
            ) from exc

    def _save_state(self, state: ClusterState) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(state.to_json())
        tmp.replace(self.state_file)

    # ---- up -------------------------------------------------------------------------------

    def up(
        self,
        brokers: int = 1,
        port: int | None = None,
        timeout: float = 90.0,
        extra_config: dict[str, str] | None = None,
        secure: SecureListener | None = None,
    ) -> ClusterState:
        """Format fresh storage, start `brokers` nodes detached and wait until all answer.

        With `secure`, every node also listens with SASL_SSL on a port of its own (see
        `ClusterState.secure_bootstrap`), SCRAM users are created at format time and, unless
        disabled, the StandardAuthorizer denies what no ACL allows on that listener."""
        if brokers not in (1, 3):
            raise LocalClusterError(f"--brokers must be 1 or 3, not {brokers}")
        existing = self.load_state()
        if existing is not None:
            if any(_owned(b) for b in existing.brokers):
                raise LocalClusterError(
                    f"a local cluster is already up at {existing.bootstrap} "
                    "(`nexus-tui local down` stops it)"
                )
            self._cleanup(existing)  # stale state of a cluster that is gone
        java = find_java()
        libs = ensure_jars(progress=self.progress)
        ports = choose_ports(brokers, port)
        secure_ports = _os_free_ports_except(brokers, ports) if secure else [0] * brokers
        data_dir = Path(tempfile.mkdtemp(prefix="nexus-tui-kafka-"))
        nodes = [
            BrokerProcess(
                node_id=i + 1,
                port=ports[i],
                controller_port=ports[brokers + i],
                config_file=str(data_dir / f"node-{i + 1}" / "server.properties"),
                log_file=str(data_dir / f"node-{i + 1}" / "server.log"),
                secure_port=secure_ports[i],
            )
            for i in range(brokers)
        ]
        state = ClusterState(new_cluster_id(), KAFKA_VERSION, str(data_dir), nodes)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
        try:
            for node in nodes:
                Path(node.config_file).parent.mkdir(parents=True)
                config = broker_config(node, voters, data_dir, brokers, extra_config or {},
                                       secure)
                _write_properties(Path(node.config_file), config)
            self.progress(f"formatting storage for {brokers} node(s)")
            self._format(java, libs, state, secure.format_args() if secure else [],
                         [pw for _, pw in secure.scram_users] if secure else [])
            self.progress(f"starting {brokers} broker(s) on {state.bootstrap}")
            for node in nodes:
                self._launch(java, libs, node)
            self._save_state(state)
            self._wait_ready(state, timeout)
        except BaseException:
            self._stop_processes(state, grace=2.0)
            self._cleanup(state)
            raise
        return state

    def _format(self, java: str, libs: Path, state: ClusterState,
                extra_args: list[str] | None = None, secrets: list[str] | None = None) -> None:
        procs = [
            subprocess.Popen(
                [java, *TOOL_JVM_FLAGS, "-cp", java_classpath(libs),
                 f"-Dlog4j2.configurationFile={tools_log_config()}",
                 "kafka.tools.StorageTool", "format", "-t", state.cluster_id,
                 "-c", node.config_file, *(extra_args or [])],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for node in state.brokers
        ]
        for node, proc in zip(state.brokers, procs, strict=True):
            out, _ = proc.communicate(timeout=120)
            if proc.returncode != 0:
                lines = [ln for ln in out.strip().splitlines() if not ln.startswith("\tat ")]
                for secret in secrets or []:  # never echo a SCRAM password
                    lines = [ln.replace(secret, "***") for ln in lines]
                raise LocalClusterError(
                    f"formatting node {node.node_id} failed: {' | '.join(lines[-3:])}"
                )

    def _launch(self, java: str, libs: Path, node: BrokerProcess) -> None:
        log_dir = Path(node.log_file).parent
        with open(node.log_file, "ab") as log:
            proc = subprocess.Popen(
                [java, *BROKER_JVM_FLAGS,
                 f"-Dlog4j2.configurationFile={broker_log_config()}",
                 f"-Dkafka.logs.dir={log_dir}",
                 "-cp", java_classpath(libs), "kafka.Kafka", node.config_file],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        node.pid = proc.pid
        self._children[node.node_id] = proc

    def _wait_ready(self, state: ClusterState, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        want = tuple(b.node_id for b in state.brokers)
        while True:
            for node in state.brokers:
                # our own child: poll() is exact (its cmdline is Python's until exec is done)
                if self._children[node.node_id].poll() is not None:
                    raise LocalClusterError(
                        f"broker {node.node_id} exited during start; last lines of "
                        f"{node.log_file}:\n{_log_tail(node.log_file)}"
                    )
            if all(port_listening(n.port) for n in state.brokers):
                if metadata_broker_ids(state.bootstrap, timeout=2.0) == want:
                    return
            if time.monotonic() > deadline:
                raise LocalClusterError(
                    f"the cluster did not report all {len(want)} broker(s) within {timeout:.0f} s;"
                    f" last lines of {state.brokers[0].log_file}:\n"
                    f"{_log_tail(state.brokers[0].log_file)}"
                )
            time.sleep(0.2)  # poll interval of the readiness condition above

    # ---- status ---------------------------------------------------------------------------

    def require_state(self) -> ClusterState:
        state = self.load_state()
        if state is None:
            raise LocalClusterError("no local cluster is up (`nexus-tui local up` starts one)")
        return state

    def status(self) -> ClusterStatus:
        state = self.require_state()
        alive = {b.node_id: _owned(b) is not None for b in state.brokers}
        ids = metadata_broker_ids(state.bootstrap) if any(alive.values()) else None
        return ClusterStatus(state, alive, ids)

    # ---- faults (for reliability tests) ---------------------------------------------------

    def kill_broker(self, node_id: int, sig: int = signal.SIGKILL) -> None:
        node = self._node(node_id)
        proc = _owned(node)
        if proc is None:
            raise LocalClusterError(f"broker {node_id} is not running")
        proc.send_signal(sig)
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.wait(timeout=30)

    def start_broker(self, node_id: int, timeout: float = 60.0) -> None:
        """Start a stopped node again on its own data and ports."""
        self.start_brokers([node_id], timeout)

    def start_brokers(self, node_ids: list[int], timeout: float = 60.0) -> None:
        """Start stopped nodes again together (after a full outage a quorum of controllers
        must come back at once) and wait until every one of them is in the metadata."""
        state = self.require_state()
        nodes = [self._node(node_id, state) for node_id in node_ids]
        for node in nodes:
            if _owned(node) is not None:
                raise LocalClusterError(f"broker {node.node_id} is already running")
        java, libs = find_java(), ensure_jars()
        for node in nodes:
            self._launch(java, libs, node)
        self._save_state(state)
        deadline = time.monotonic() + timeout
        while not set(node_ids) <= set(metadata_broker_ids(state.bootstrap) or ()):
            for node in nodes:
                if self._children[node.node_id].poll() is not None:
                    raise LocalClusterError(f"broker {node.node_id} exited during start:\n"
                                            f"{_log_tail(node.log_file)}")
            if time.monotonic() > deadline:
                which = ", ".join(str(n) for n in node_ids)
                raise LocalClusterError(f"broker(s) {which} did not rejoin within {timeout:.0f} s")
            time.sleep(0.2)  # poll interval of the rejoin condition above

    def _node(self, node_id: int, state: ClusterState | None = None) -> BrokerProcess:
        state = state or self.require_state()
        for node in state.brokers:
            if node.node_id == node_id:
                return node
        raise LocalClusterError(f"no broker {node_id} in the local cluster")

    # ---- down -----------------------------------------------------------------------------

    def down(self, grace: float = 15.0) -> ClusterState:
        """Stop every process of the cluster (SIGTERM, bounded wait, SIGKILL); remove its data."""
        state = self.require_state()
        running = [b for b in state.brokers if _owned(b)]
        self._stop_processes(state, grace)
        self._cleanup(state)
        if not running:
            raise LocalClusterError(
                f"no local cluster was running (removed the stale state of {state.bootstrap})"
            )
        return state

    def _stop_processes(self, state: ClusterState, grace: float) -> None:
        procs = [p for p in (_owned(b) for b in state.brokers) if p is not None]
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=grace)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=10)

    def _cleanup(self, state: ClusterState) -> None:
        shutil.rmtree(state.data_dir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()


def broker_log_config() -> Path:
    return Path(str(resources.files("core.local").joinpath("log4j2.properties")))


def tools_log_config() -> Path:
    return Path(str(resources.files("core.local").joinpath("tools-log4j2.properties")))
