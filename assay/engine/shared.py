"""One engine per (checkpoint, engine settings) on a machine, shared by the jobs of a run.

Why: most engine jobs of a study load the same few base models, and on a CPU each start
costs ``import vllm``, the weights and the KV cache (5-15 s with vLLM, plus the imports of
torch and transformers in the job). A job that talks to a running engine imports neither.

How: the first job that asks for an engine starts an *engine server*, a process of its own
(``python -m assay.engine.shared``, in a new session so that it outlives the job) that
loads the engine and listens on a Unix socket in a private folder (``ASSAY_ENGINE_DIR``,
else ``/tmp/assay-engines-<uid>``, mode 0700, plus a random key per server). Later jobs
with the same checkpoint and settings connect to it. A call (``generate``,
``token_logprobs``) travels whole and runs through the same :class:`Engine` code as in a
per-job engine, one call at a time, so the outputs are a per-job engine's (greedy outputs
equal: tested; the sampling generator is reseeded at every call in both). The engine's
progress lines are forwarded to the calling job's log; its start is logged in
``<folder>/<id>.log``.

Trained variants: a job that generates with a checkpoint trained from a base model (the
same architecture, tokenizer and generation config: :mod:`assay.engine.variants`) connects
to the base model's server and names the variant's checkpoint in its calls; the server
loads those weights in place before the call (:meth:`Engine.load_weights`: about a second
instead of an engine start) and the base's again when a call for the base comes. A server
whose engine cannot load them answers so, and the job starts an engine of its own; a server
whose load failed half-way serves no more calls and ends.

Lifetime: a server ends once no job is connected and either every run that used it has
ended (jobs announce their run: the Snakemake process, ``ASSAY_RUN_PID``, else the job's
own process) or no call came for ``engine.share_idle_s`` seconds, or a job asked it to
end because it needs the memory (:func:`stop_idle_servers`, :mod:`assay.memory`). A
finished, failed or kill -9'd workflow leaves no server for longer than a few seconds
after its last job.

Fallbacks: a server that does not start, or that dies mid-call, is logged and the job goes
on with a per-job engine (the call is redone there), so nothing half-computed is published.
Under SLURM (``SLURM_JOB_ID`` set) sharing is off: each job is its own allocation, and a
process that outlived one would be killed with it.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import logging
import os
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from assay.engine.base import Completion, Engine, EngineSpec, Prompt, SamplingSpec
from assay.errors import AssayError, EngineError

log = logging.getLogger(__name__)

#: The calls a server runs: everything a stage asks of an engine.
CALLS = ("generate", "token_logprobs")
#: How often a server looks at its runs and its idle time, seconds.
WATCH_S = 1.0
#: How long a job waits for a server to load its engine before starting its own.
START_TIMEOUT_S = 900.0


def engine_dir() -> Path:
    """The private folder of this user's engine servers (created 0700)."""
    folder = Path(os.environ.get("ASSAY_ENGINE_DIR") or f"/tmp/assay-engines-{os.getuid()}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def sharing_enabled(spec: EngineSpec) -> tuple[bool, str]:
    """Whether this job may use a shared engine, and why not when it may not. ``auto``
    shares on CPU machines only: a GPU server would hold device memory that training jobs
    need between its calls."""
    if spec.share is False:
        return False, "engine.share is off"
    if os.environ.get("SLURM_JOB_ID"):
        return False, "a SLURM job is its own allocation"
    if spec.share == "auto":
        from assay.gpus import machine_gpus

        if machine_gpus():
            return False, "engine.share: auto shares on CPU machines only"
    return True, ""


def share_id(checkpoint: Path, spec: EngineSpec, backend: str) -> str:
    """What tells servers apart: the checkpoint folder and every engine setting."""
    settings = {**spec.as_dict(), "backend": backend}
    settings.pop("share", None)
    settings.pop("share_idle_s", None)
    text = json.dumps({"checkpoint": str(Path(checkpoint).resolve()), "settings": settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_owner() -> tuple[str, int]:
    """The run a job belongs to: the workflow's process (exported by rules/common.smk),
    else the job's own process."""
    pid = os.environ.get("ASSAY_RUN_PID")
    host = os.environ.get("ASSAY_RUN_HOST", socket.gethostname())
    return (host, int(pid)) if pid else (socket.gethostname(), os.getpid())


def owner_alive(owner: tuple[str, int]) -> bool:
    """A process on another host counts as alive: only the idle time ends that server."""
    from assay.locks import pid_alive

    host, pid = owner
    return host != socket.gethostname() or pid_alive(pid)


@contextmanager
def _locked(path: Path, blocking: bool = True) -> Iterator[bool]:
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Paths:
    """The files of one server: socket, key, request, log, lock."""

    def __init__(self, folder: Path, ident: str) -> None:
        self.ident = ident
        self.socket = folder / f"{ident}.sock"
        self.key = folder / f"{ident}.key"
        self.request = folder / f"{ident}.json"
        self.log = folder / f"{ident}.log"
        self.lock = folder / f"{ident}.lock"

    def clear(self) -> None:
        """Remove what says a server listens (its log and lock stay)."""
        for path in (self.socket, self.key, self.request):
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------- the job's side


class SharedEngine(Engine):
    """A job's handle on an engine server: the same calls as a per-job engine."""

    shared = True

    def __init__(
        self,
        conn: Connection,
        paths: _Paths,
        checkpoint: Path,
        spec: EngineSpec,
        info: dict,
        waited: float,
        weights: Path | None = None,
    ) -> None:
        """``checkpoint``: the model the job generates with (a per-job engine loads it if
        the server fails); ``weights``: the same, when it is a variant the server (started
        on its base model) loads in place for each call."""
        self.conn: Connection | None = conn
        self.paths, self.checkpoint, self.spec = paths, checkpoint, spec
        self.weights = str(weights) if weights is not None else None
        self.name = info["engine"]
        self.started = bool(info.get("started_for_this_job"))
        self.start_seconds = waited
        self.local: Engine | None = None

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingSpec) -> list[Completion]:
        return self._call("generate", list(prompts), sampling)

    def token_logprobs(
        self, prompts: Sequence[Prompt], prefixes: Sequence[str], candidates: Sequence[str]
    ) -> list[list[float]]:
        return self._call("token_logprobs", list(prompts), list(prefixes), list(candidates))

    def _generate(self, prompts: Sequence[Prompt], sampling: SamplingSpec) -> list[Completion]:
        return self.generate(prompts, sampling)

    def _call(self, method: str, *args: Any) -> Any:
        if self.conn is not None:
            try:
                self.conn.send(("call", method, args, self.weights))
                while True:
                    message = self.conn.recv()
                    if message[0] == "log":
                        log.log(message[1], "%s", message[2])
                    elif message[0] == "result":
                        return message[1]
                    elif message[0] == "unsupported":
                        log.warning(
                            "the shared engine %s cannot serve %s (%s): starting a per-job engine",
                            self.paths.ident,
                            self.checkpoint,
                            message[1],
                        )
                        self.close()
                        break
                    else:
                        raise EngineError(f"the shared engine {self.paths.ident} failed: {message[1]}")
            except (EOFError, OSError) as error:
                log.warning(
                    "the shared engine %s ended mid-call (%s; its log: %s): redoing it on a per-job engine",
                    self.paths.ident,
                    type(error).__name__,
                    self.paths.log,
                )
                self.conn = None
        if self.local is None:
            from assay.engine import load_engine

            self.local = load_engine(self.checkpoint, self.spec)
            self.start_seconds += self.local.start_seconds
            self.started = True
        return getattr(self.local, method)(*args)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.send(("bye",))
            except OSError:
                pass
            self.conn.close()
            self.conn = None
        if self.local is not None:
            self.local.close()


def _try_connect(paths: _Paths) -> Connection | None:
    if not (paths.socket.exists() and paths.key.exists()):
        return None
    try:
        return Client(str(paths.socket), family="AF_UNIX", authkey=paths.key.read_bytes())
    except (OSError, EOFError):
        return None


def connect(
    checkpoint: Path, spec: EngineSpec, backend: str, need_mb: int | None = None, weights: Path | None = None
) -> SharedEngine | None:
    """A handle on the server of this checkpoint and these settings, started if none runs
    (after idle servers of other models ended, if ``need_mb`` is not available: see
    :mod:`assay.memory`); None (with a log line saying why) when no server can be had.
    ``weights``: a variant of ``checkpoint`` (:mod:`assay.engine.variants`) the server
    loads in place for this job's calls."""
    paths = _Paths(engine_dir(), share_id(checkpoint, spec, backend))
    started = time.time()
    with _locked(paths.lock):
        conn = _try_connect(paths)
        fresh = conn is None
        if fresh:
            from assay.memory import make_room

            make_room(need_mb, keep=paths.ident)
            conn = _start_server(paths, checkpoint, spec, backend)
            if conn is None:
                return None
        try:
            conn.send(("hello", run_owner()))
            info = conn.recv()
        except (EOFError, OSError) as error:
            log.warning(
                "the shared engine %s did not answer (%s): starting a per-job engine", paths.ident, error
            )
            return None
    waited = time.time() - started
    info["started_for_this_job"] = fresh
    for warning in info.get("warnings", []):
        log.warning("the shared engine %s: %s", paths.ident, warning)
    log.info(
        "%s the shared %s engine %s on %s in %.1f s%s (log: %s)",
        "started" if fresh else "connected to",
        info["engine"],
        paths.ident,
        checkpoint,
        waited,
        f", to serve {weights} with its weights loaded in place" if weights is not None else "",
        paths.log,
    )
    return SharedEngine(conn, paths, Path(weights or checkpoint), spec, info, waited, weights)


def server_command(folder: Path, ident: str) -> list[str]:
    """The server's command line (its own Python: a job's conda environment, say)."""
    return [sys.executable, "-m", "assay.engine.shared", str(folder), ident]


def _start_server(paths: _Paths, checkpoint: Path, spec: EngineSpec, backend: str) -> Connection | None:
    """Start a server (the caller holds the lock) and wait until it listens."""
    paths.clear()
    request = {"checkpoint": str(checkpoint), "spec": {**spec.as_dict(), "backend": backend}}
    paths.request.write_text(json.dumps(request))
    descriptor = os.open(paths.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    with open(paths.log, "w") as server_log:
        process = subprocess.Popen(
            server_command(paths.socket.parent, paths.ident),
            stdin=subprocess.DEVNULL,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        conn = _try_connect(paths)
        if conn is not None:
            return conn
        if process.poll() is not None:
            tail = paths.log.read_text().strip().splitlines()[-3:]
            log.warning(
                "the shared engine %s did not start (exit %s: %s): starting a per-job engine",
                paths.ident,
                process.returncode,
                " | ".join(tail) or "no output",
            )
            return None
        time.sleep(0.2)
    process.kill()
    log.warning(
        "the shared engine %s did not start in %.0f s: starting a per-job engine",
        paths.ident,
        START_TIMEOUT_S,
    )
    return None


def servers(stop: bool = False) -> list[dict[str, Any]]:
    """The state of every server in this user's folder (``assay engines``); with ``stop``,
    each is asked to end once no job is connected. A socket nobody answers is a server
    that was killed: it is reported and its files removed."""
    found = []
    for sock in sorted(engine_dir().glob("*.sock")):
        paths = _Paths(sock.parent, sock.stem)
        conn = _try_connect(paths)
        if conn is None:
            with _locked(paths.lock, blocking=False) as free:
                if free:  # not a server that is starting
                    paths.clear()
            found.append({"ident": paths.ident, "state": "gone (files removed)"})
            continue
        with conn:
            conn.send(("stop",) if stop else ("status",))
            found.append({**conn.recv(), "state": "stopping" if stop else "running"})
    return found


def stop_idle_servers(keep: str | None = None) -> dict[str, int]:
    """Ask every server with no job connected (but ``keep``) to end; {ident: pid} of those
    asked (:func:`assay.memory.make_room`). A job that connects in between is served and
    the server ends after it."""
    asked = {}
    for sock in sorted(engine_dir().glob("*.sock")):
        paths = _Paths(sock.parent, sock.stem)
        if paths.ident == keep:
            continue
        conn = _try_connect(paths)
        if conn is None:
            continue
        with conn:
            conn.send(("status",))
            state = conn.recv()
            if state["jobs_connected"] == 0:
                conn.send(("stop",))
                conn.recv()
                asked[paths.ident] = int(state["pid"])
    return asked


# ---------------------------------------------------------------- the server's side


class _Forward(logging.Handler):
    """Sends the engine's log lines of one call to the job that made it."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(logging.INFO)
        self.conn = conn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.conn.send(("log", record.levelno, record.getMessage()))
        except OSError:
            pass


class EngineServer:
    """An engine behind a Unix socket, ending on its own. Calls run one at a time on the
    main thread, where the engine was made (vLLM binds its OpenMP threads there); a thread
    per connection reads requests and queues them."""

    def __init__(
        self, engine: Engine, paths: _Paths, idle_s: float, warnings: list[str] | None = None
    ) -> None:
        self.engine, self.paths, self.idle_s = engine, paths, idle_s
        self.warnings = warnings or []
        self.calls: queue.Queue[tuple[Connection, str, tuple, str | None, threading.Event]] = queue.Queue()
        #: Whose weights the engine holds: None for its own checkpoint's, else a variant's
        #: folder; ``broken`` once a load failed half-way (no call is served after it).
        self.weights: str | None = None
        self.broken: str | None = None
        self.state = threading.Lock()
        self.connections = 0
        self.last_call = time.monotonic()
        self.owners: set[tuple[str, int]] = set()
        self.started_at, self.calls_served, self.stopping = time.time(), 0, False

    @functools.cached_property
    def checkpoint(self) -> Path:
        """The checkpoint the server's engine started on (its request file)."""
        return Path(json.loads(self.paths.request.read_text())["checkpoint"])

    def status(self) -> dict[str, Any]:
        """What ``assay engines`` prints."""
        with self.state:
            return {
                "ident": self.paths.ident,
                "pid": os.getpid(),
                "engine": self.engine.name,
                "checkpoint": str(self.checkpoint),
                "up_s": round(time.time() - self.started_at),
                "calls": self.calls_served,
                "idle_s": round(time.monotonic() - self.last_call),
                "jobs_connected": self.connections - 1,  # less the asking connection
                "runs": len(self.owners),
                "weights": self.weights or "its own",
            }

    def serve(self) -> None:
        listener = Listener(str(self.paths.socket), family="AF_UNIX", authkey=self.paths.key.read_bytes())
        log.info("listening on %s", self.paths.socket)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()
        while True:
            conn, method, args, weights, done = self.calls.get()
            try:
                if self._load(conn, weights):
                    self._call(conn, method, args)
            finally:
                done.set()

    def _accept(self, listener: Listener) -> None:
        while True:
            try:
                conn = listener.accept()
            except (OSError, EOFError) as error:  # a client that fails the handshake
                log.warning("refused a connection: %s", error)
                continue
            with self.state:
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: Connection) -> None:
        job = False  # a job's connection (not `assay engines` asking): its end counts as use
        try:
            while True:
                message = conn.recv()
                if message[0] == "hello":
                    job = True
                    with self.state:
                        self.owners.add(tuple(message[1]))
                    conn.send({"engine": self.engine.name, "pid": os.getpid(), "warnings": self.warnings})
                elif message[0] == "status":
                    conn.send(self.status())
                elif message[0] == "stop":
                    self.stopping = True
                    conn.send(self.status())
                elif message[0] == "call" and message[1] in CALLS:
                    done = threading.Event()
                    weights = message[3] if len(message) > 3 else None
                    self.calls.put((conn, message[1], message[2], weights, done))
                    done.wait()
                else:
                    break
        except (EOFError, OSError):
            pass
        finally:
            conn.close()
            with self.state:
                self.connections -= 1
                if job:
                    self.last_call = time.monotonic()

    def _load(self, conn: Connection, weights: str | None) -> bool:
        """Hold ``weights`` (None: the server's own checkpoint's) before a call; False, the
        job told so, when they cannot be loaded. A load that failed may have left the
        engine with some of each checkpoint's weights: it serves nothing after that and ends."""
        if self.broken is None and weights == self.weights:
            return True
        reason = self.broken or self._cannot_load(weights)
        if reason is None:
            target = Path(weights) if weights is not None else self.checkpoint
            try:
                self.engine.load_weights(target)
                self.weights = weights
                return True
            except AssayError as error:
                reason = self.broken = str(error)
                log.warning("could not load the weights of %s (%s): serving no more calls", target, error)
        try:
            conn.send(("unsupported", reason))
        except OSError:
            pass
        return False

    def _cannot_load(self, weights: str | None) -> str | None:
        """Why this engine cannot serve ``weights`` (a variant's folder, or None for its own
        checkpoint's), or None when it can."""
        if not self.engine.loads_weights:
            return f"the {self.engine.name} engine cannot load other weights in place"
        if weights is None:
            return None
        from assay.engine.variants import same_model

        return same_model(self.checkpoint, Path(weights))

    def _call(self, conn: Connection, method: str, args: tuple) -> None:
        forward = _Forward(conn)
        logging.getLogger("assay").addHandler(forward)
        self.engine.abandoned = conn.poll  # the job sends nothing mid-call: readable = closed
        try:
            reply: tuple = ("result", getattr(self.engine, method)(*args))
        except AssayError as error:
            log.warning("the call %s failed: %s", method, error)
            reply = ("error", f"{type(error).__name__}: {error}")
        except Exception as error:  # noqa: BLE001 - the job gets the message, this log the trace
            log.exception("the call %s failed", method)
            reply = ("error", f"{type(error).__name__}: {error}")
        finally:
            self.engine.abandoned = None
            logging.getLogger("assay").removeHandler(forward)
            with self.state:
                self.last_call = time.monotonic()
                self.calls_served += 1
        try:
            conn.send(reply)
        except OSError as error:
            log.warning("the job that made a %s call has gone (%s)", method, error)

    def _watch(self) -> None:
        while True:
            time.sleep(WATCH_S)
            reason = self._reason_to_end()
            if reason is None:
                continue
            with _locked(self.paths.lock, blocking=False) as free:
                if not free:  # a job is connecting right now
                    continue
                with self.state:
                    if self.connections:
                        continue
                self.paths.clear()
            log.info("ending: %s", reason)
            logging.shutdown()
            os._exit(0)

    def _reason_to_end(self) -> str | None:
        with self.state:
            if self.connections:
                return None
            self.owners = {owner for owner in self.owners if owner_alive(owner)}
            idle = time.monotonic() - self.last_call
            if self.broken is not None:
                return f"a load of other weights failed ({self.broken})"
            if self.stopping:
                return "asked to stop (assay engines --stop)"
            if not self.owners:
                return "every run that used this engine has ended"
            if idle > self.idle_s:
                return f"no call for {idle:.0f} s (engine.share_idle_s: {self.idle_s:g})"
        return None


def main(folder: str, ident: str) -> None:
    """The server process: load the engine the request file names, then serve."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    paths = _Paths(Path(folder), ident)
    request = json.loads(paths.request.read_text())
    spec = EngineSpec.from_dict(request["spec"])
    from assay.engine import load_engine

    warnings = _Collect()  # a CPU unlike the planner's, say: every job using the engine logs it
    logging.getLogger("assay").addHandler(warnings)
    engine = load_engine(Path(request["checkpoint"]), spec)
    logging.getLogger("assay").removeHandler(warnings)
    log.info("engine %s on %s started in %.1f s", engine.name, request["checkpoint"], engine.start_seconds)
    EngineServer(engine, paths, float(spec.share_idle_s), warnings.lines).serve()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


if __name__ == "__main__":
    main(*sys.argv[1:3])
