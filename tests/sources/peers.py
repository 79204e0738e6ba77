"""Real protocol peers for the sources tests: Debian snmpd and OpenSSH sshd on loopback.

Each is started by the test with its own configuration in a temp dir, on a free port.
Under ``CI=true`` a missing binary is a failure (with what to install); elsewhere a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
PASS_SCRIPT = HERE / "snmp_pass.py"
IF_TABLE = "1.3.6.1.2.1.2.2.1"
IF_X_TABLE = "1.3.6.1.2.1.31.1.1.1"
CIENA_ALARM_ACTIVE = "1.3.6.1.4.1.1271.2.1.24.1.3.1.1"
V3_USER, V3_AUTH, V3_PRIV = "opsc", "authpass-123", "privpass-456"


def need_binary(name: str, package: str) -> str:
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.path.exists(p)),
                                      None)
    if path:
        return path
    msg = f"{name} not found: apt-get install -y {package}"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SnmpAgent:
    """snmpd with a v2c community, a v3 authPriv user, and IF-MIB/Ciena rows served from a file
    (through a `pass_persist` script, so the test changes link states by rewriting the file)."""

    def __init__(self, workdir: Path, community: str = "s3cret-community", port: int | None = None):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.community = community
        self.location = "opsconductor-test"
        self.port = port or free_udp_port()
        self.state_file = self.dir / "state.json"
        self.interfaces: dict[int, dict[str, Any]] = {}
        self.alarms: dict[str, dict[str, Any]] = {}
        self.counters: dict[int, dict[str, Any]] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.binary = need_binary("snmpd", "snmpd")
        self.engine_id: str | None = None  # e.g. "0x80001f8880aabbccdd01"; snmpd picks one otherwise

    # -- the data the test controls ------------------------------------------------------
    def set_interface(self, index: int, name: str, descr: str, oper: int, admin: int = 1) -> None:
        self.interfaces[index] = {"name": name, "descr": descr, "oper": oper, "admin": admin}
        self.write_state()

    def set_counters(self, index: int, *, in_errors_per_s: float = 0.0, in_errors_base: int = 0,
                     in_octets_per_s: float = 0.0, speed_mbps: int = 1000) -> None:
        """Running counters of an interface (read at request time by the pass script): ifInErrors
        (Counter32, wraps at 2^32), ifHCInOctets (Counter64) and ifHighSpeed (Gauge32, Mb/s)."""
        now = time.time()
        self.counters[index] = {
            "errors": {"base": in_errors_base, "per_s": in_errors_per_s, "since": now, "mod": 2**32},
            "octets": {"base": 0, "per_s": in_octets_per_s, "since": now, "mod": 2**64},
            "speed": speed_mbps,
        }
        self.write_state()

    def set_alarm(self, index: str, severity: int, descr: str, instance: str) -> None:
        self.alarms[index] = {"severity": severity, "descr": descr, "instance": instance}
        self.write_state()

    def clear_alarm(self, index: str) -> None:
        self.alarms.pop(index, None)
        self.write_state()

    def write_state(self) -> None:
        oids: dict[str, list[Any]] = {}
        for i, itf in self.interfaces.items():
            oids[f"{IF_TABLE}.1.{i}"] = ["integer", i]
            oids[f"{IF_TABLE}.2.{i}"] = ["string", itf["descr"]]
            oids[f"{IF_TABLE}.7.{i}"] = ["integer", itf["admin"]]
            oids[f"{IF_TABLE}.8.{i}"] = ["integer", itf["oper"]]
            oids[f"{IF_X_TABLE}.1.{i}"] = ["string", itf["name"]]
        for i, c in self.counters.items():
            oids[f"{IF_TABLE}.14.{i}"] = ["counter", c["errors"]]
            oids[f"{IF_X_TABLE}.6.{i}"] = ["counter64", c["octets"]]
            oids[f"{IF_X_TABLE}.15.{i}"] = ["gauge", c["speed"]]
        for idx, a in self.alarms.items():
            oids[f"{CIENA_ALARM_ACTIVE}.1.{idx}"] = ["integer", a["severity"]]
            oids[f"{CIENA_ALARM_ACTIVE}.5.{idx}"] = ["string", a["instance"]]
            oids[f"{CIENA_ALARM_ACTIVE}.7.{idx}"] = ["string", a["descr"]]
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"oids": oids}))
        tmp.replace(self.state_file)  # atomic: snmpd's pass script never sees half a file

    # -- process -------------------------------------------------------------------------
    def config(self) -> str:
        passcmd = f"{sys.executable} {PASS_SCRIPT} {self.state_file}"  # no /usr/bin/python3 needed
        return "\n".join([
            f"agentAddress udp:127.0.0.1:{self.port}",
            f"rocommunity {self.community} 127.0.0.1",
            f'createUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"',
            f"rouser {V3_USER} priv",
            f"sysLocation {self.location}",
            f"pass_persist -p 10 .1.3.6.1.2.1.2.2 {passcmd}",
            f"pass_persist -p 10 .1.3.6.1.2.1.31.1.1 {passcmd}",
            f"pass_persist .1.3.6.1.4.1.1271.2.1.24.1.3 {passcmd}",
            *([f"exactEngineID {self.engine_id}"] if self.engine_id else []),
            "",
        ])

    def start(self) -> SnmpAgent:
        if not self.state_file.exists():
            self.write_state()
        conf = self.dir / "snmpd.conf"
        conf.write_text(self.config())
        persist = self.dir / "persist"
        persist.mkdir(exist_ok=True)
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(persist), "MIBS": ""}
        self.proc = subprocess.Popen(
            [self.binary, "-f", "-C", "-c", str(conf), "-Lf", str(self.dir / "snmpd.log"),
             "-p", str(self.dir / "snmpd.pid")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.started_at = time.monotonic()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        get = shutil.which("snmpget")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"snmpd exited: {(self.dir / 'snmpd.log').read_text(errors='replace')}")
            if get is None:
                time.sleep(0.5)
                return
            r = subprocess.run([get, "-v2c", "-c", self.community, "-t", "0.3", "-r", "0",
                                f"127.0.0.1:{self.port}", "1.3.6.1.2.1.1.3.0"], capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("snmpd did not answer within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """A device reboot: sysUpTime starts again from zero."""
        self.stop()
        self.start()


class SshServer:
    """OpenSSH sshd on a loopback port; key login as the current user; a fake device CLI.

    ``ForceCommand`` sends every command to ``device_cli.sh``, which answers from files the
    test writes (``<dir>/cli/<command with spaces as _>.txt``), like a network OS would.
    """

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_tcp_port()
        self.binary = need_binary("sshd", "openssh-server")
        self.keygen = need_binary("ssh-keygen", "openssh-client")
        self.user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
        self.cli_dir = self.dir / "cli"
        self.cli_dir.mkdir(exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.client_key_file = self.dir / "client_key"

    def set_output(self, command: str, text: str) -> None:
        path = self.cli_dir / (command.replace(" ", "_") + ".txt")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)

    def credential_json(self) -> str:
        return json.dumps({"username": self.user, "private_key": self.client_key_file.read_text()})

    def start(self) -> SshServer:
        host_key = self.dir / "host_key"
        if not host_key.exists():
            subprocess.run([self.keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
            subprocess.run([self.keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(self.client_key_file)],
                           check=True)
        (self.dir / "authorized_keys").write_text((self.dir / "client_key.pub").read_text())
        cli = self.dir / "device_cli.sh"
        cli.write_text(
            "#!/bin/sh\n"
            f'f="{self.cli_dir}/$(echo "$SSH_ORIGINAL_COMMAND" | tr " " _).txt"\n'
            'if [ -f "$f" ]; then cat "$f"; else echo "% Invalid command: $SSH_ORIGINAL_COMMAND" >&2; exit 1; fi\n'
        )
        cli.chmod(0o755)
        conf = self.dir / "sshd_config"
        conf.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
            f"PidFile {self.dir / 'sshd.pid'}", f"ForceCommand {cli}", "MaxSessions 10", "LogLevel ERROR", "",
        ]))
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory sshd insists on
        self.proc = subprocess.Popen([self.binary, "-D", "-e", "-f", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "sshd.log", "wb"))  # noqa: SIM115
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text(errors='replace')}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("sshd did not listen within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.proc = None
