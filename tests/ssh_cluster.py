"""Two "machines" on this one for Ray's `local` node provider: two loopback addresses
(127.N.M.1 and 127.N.M.2), each served by a real OpenSSH server of its own on port 22
(throwaway host and user keys).

Each sshd runs in new PID and mount namespaces (`unshare`), so that what `ray up` does on a
machine stays on that machine, as it would on a real one:

* `ray stop` (the first of `cluster/local.yaml`'s start commands, and `ray down`'s) kills the
  Ray processes it can see: here only that machine's, never another developer's Ray, the test
  session's, or the other machine's;
* every machine has its own `/tmp` (Ray's `/tmp/ray`, session folders, the `local`
  provider's cluster state), `/dev/shm` (the object store) and home `/home/ubuntu` (with
  `~/raytrain-venv`, `~/raytrain`, `~/.ray/auth_token`, `~/ray_bootstrap_config.yaml`);
  the test's own venv stays visible at its path, even under `/tmp` (a clone there made every
  machine's `prepare_venv` fail, and `ray up` then installed Ray and torch from the registry);
* `/mnt/shared` on both is one folder of the test: the shared file system the config expects
  (so its NFS mount line is skipped: `mountpoint -q /mnt/shared` is true);
* the network is the host's (same ports), so every port the config names is rendered free.

The machines log in as the test's own user (root here: `ssh_user` is rendered), whose home
is `/home/ubuntu` there (the machine's own /etc/passwd, bound over the host's). When an sshd
(PID 1 of its namespace) ends, the kernel ends everything left in its namespace.

Imported by tests/cluster/test_ray_up.py (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Ray's cluster launcher always connects to port 22 (its configs have no SSH port), so each
#: test run takes its own pair of loopback addresses (all of 127.0.0.0/8 is this machine):
#: 127.N.M.1 (head) and 127.N.M.2 (worker), with port 22 free on both.
SSH_PORT = 22


def free_address_pair() -> tuple[str, str]:
    import random

    rng = random.SystemRandom()
    for _ in range(200):
        prefix = f"127.{rng.randrange(1, 255)}.{rng.randrange(0, 255)}"
        pair = (f"{prefix}.1", f"{prefix}.2")
        if all(_bindable(ip, SSH_PORT) for ip in pair):
            return pair
    raise RuntimeError("no pair of loopback addresses with port 22 free")


def missing_tools() -> list[str]:
    return [t for t in ("sshd", "ssh", "ssh-keygen", "rsync", "unshare") if not _which(t)]


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


def can_unshare() -> bool:
    try:
        r = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def free_port(*hosts: str) -> int:
    """A TCP port free on every one of `hosts` (and on 0.0.0.0) right now."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if all(_bindable(h, port) for h in (*hosts, "0.0.0.0")):
            return port
    raise RuntimeError("no free port")


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _passwd_with_home(home: str) -> str:
    """/etc/passwd with this user's home set to `home` (for sshd, which sets HOME from it,
    and for ssh, which expands `-i ~/ray_bootstrap_key.pem` from it)."""
    uid = os.getuid()
    lines = []
    for line in Path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) == 7 and fields[2] == str(uid):
            fields[5] = home
        lines.append(":".join(fields))
    return "\n".join(lines) + "\n"


@dataclass
class Machine:
    name: str
    ip: str
    root: Path  # this machine's own folders (home, tmp) live here on the host
    proc: subprocess.Popen | None = None

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def pids(self) -> list[int]:
        """Live (non-zombie) processes in this machine's PID namespace, sshd included."""
        if self.proc is None:
            return []
        try:
            ns = os.readlink(f"/proc/{self.namespace_init()}/ns/pid")
        except (OSError, RuntimeError):
            return []
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "ns/pid") != ns:
                    continue
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                out.append(int(entry.name))
        return out

    def namespace_init(self) -> int:
        """The host PID of the namespace's PID 1 (the sshd): `unshare --fork`'s child."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        if not children.split():
            raise RuntimeError(f"{self.name}: sshd is not running")
        return int(children.split()[0])

    def commands(self, pids: list[int] | None = None) -> list[str]:
        """The command lines of `pids` (default: every process on this machine)."""
        out = []
        for pid in self.pids() if pids is None else pids:
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                out.append(f"{pid}: {cmd.decode(errors='replace').strip()}")
        return out


@dataclass
class SSHCluster:
    root: Path
    port: int = SSH_PORT
    key: Path = field(init=False)
    head: Machine = field(init=False)
    worker: Machine = field(init=False)

    def __post_init__(self) -> None:
        self.key = self.root / "user_key"
        self.shared = self.root / "shared"
        head_ip, worker_ip = free_address_pair()
        self.head = Machine("head", head_ip, self.root / "head")
        self.worker = Machine("worker", worker_ip, self.root / "worker")

    @property
    def machines(self) -> list[Machine]:
        return [self.head, self.worker]

    def start(self) -> None:
        self.shared.mkdir(parents=True, exist_ok=True)
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        subprocess.run([*keygen, "-f", str(self.key)], check=True)
        subprocess.run([*keygen, "-f", str(self.root / "host_key")], check=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation dir
        for m in self.machines:
            (m.home / ".ssh").mkdir(parents=True)
            m.tmp.mkdir(parents=True)
            shutil.copy(self.key.with_suffix(".pub"), m.home / ".ssh" / "authorized_keys")
            (m.root / "passwd").write_text(_passwd_with_home("/home/ubuntu"))
            config = self.root / f"sshd_{m.name}.conf"
            config.write_text(
                textwrap.dedent(f"""\
                Port {self.port}
                ListenAddress {m.ip}
                HostKey /mnt/t/host_key
                PidFile none
                AuthorizedKeysFile /home/ubuntu/.ssh/authorized_keys
                PermitRootLogin prohibit-password
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                UsePAM no
                StrictModes no
                LogLevel ERROR
                """)
            )
            script = textwrap.dedent(f"""\
                set -e
                mount -t tmpfs tmpfs /mnt
                mkdir /mnt/t /mnt/shared /mnt/venv
                mount --bind {self.root} /mnt/t
                mount --bind {self.shared} /mnt/shared
                mount --bind {sys.prefix} /mnt/venv
                mount -t tmpfs tmpfs /home
                mkdir /home/ubuntu
                mount --bind {m.home} /home/ubuntu
                mount --bind {m.root / "passwd"} /etc/passwd
                mount --bind {m.tmp} /tmp
                mkdir -p {sys.prefix}
                mount --bind /mnt/venv {sys.prefix}
                mount -t tmpfs tmpfs /dev/shm
                exec {_which("sshd")} -D -e -f /mnt/t/sshd_{m.name}.conf
                """)
            log = open(self.root / f"sshd_{m.name}.log", "wb")  # noqa: SIM115 — lives with sshd
            m.proc = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "bash", "-c", script],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for m in self.machines:
            self._wait_for_login(m)

    def ssh(self, machine: Machine, command: str, timeout: float = 60) -> str:
        r = subprocess.run(
            [
                "ssh",
                *("-i", str(self.key), "-p", str(self.port)),
                *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"),
                *("-o", "LogLevel=ERROR", "-o", "BatchMode=yes"),
                f"{_user()}@{machine.ip}",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if r.returncode:
            raise RuntimeError(f"ssh {machine.ip} {command!r}: {r.returncode}\n{r.stderr}")
        return r.stdout

    def _wait_for_login(self, m: Machine, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.ssh(m, "echo $HOME", timeout=10).strip() == "/home/ubuntu":
                    return
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                if time.monotonic() > deadline:
                    log = (self.root / f"sshd_{m.name}.log").read_text(errors="replace")
                    raise RuntimeError(f"sshd on {m.ip}:{self.port} never let us in\n{log}") from e
            time.sleep(0.3)

    def stop(self) -> None:
        """End both machines: their sshd is PID 1, so everything in them ends with it."""
        for m in self.machines:
            if m.proc is None:
                continue
            with contextlib.suppress(ProcessLookupError, RuntimeError, OSError):
                os.kill(m.namespace_init(), signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(m.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                m.proc.wait(timeout=10)


def prepare_venv(cluster: SSHCluster, machine: Machine, python: str = sys.executable) -> None:
    """`~/raytrain-venv` of a machine, made before `ray up` so that the config's setup commands
    run without downloading Ray and torch (~1 GB): a real venv (with pip), made on the machine
    by the test's interpreter, whose site-packages also see that interpreter's installed
    packages (a `.pth` line), plus the `ray` command that `pip install ray` would have written.
    The config's own `pip install "ray[...]==2.60.0" -e ~/raytrain` then runs for real: Ray is
    already satisfied, raytrain is installed (editable) from the synced folder."""
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A plain path line: the shared packages, without running their own .pth files (so the
    # host's editable raytrain does not shadow the one the setup commands install).
    script = f"""
set -e
{python} -m venv ~/raytrain-venv
vsite=$(~/raytrain-venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo {site} > "$vsite/zz_host_packages.pth"
printf '#!%s\\nimport sys\\nfrom ray.scripts.scripts import main\\nsys.exit(main())\\n' \\
    "$HOME/raytrain-venv/bin/python" > ~/raytrain-venv/bin/ray
chmod +x ~/raytrain-venv/bin/ray
"""
    cluster.ssh(machine, script, timeout=120)


def render_local_yaml(text: str, cluster: SSHCluster, ports: dict[str, int], name: str) -> str:
    """cluster/local.yaml for these two machines. Only values change: the cluster's name,
    the machines' addresses, the SSH user and key, the ports the start lines name (this
    machine's network is shared with other Ray sessions) and the example NFS server."""
    import yaml

    cfg = yaml.safe_load(text)
    cfg["cluster_name"] = name
    cfg["provider"]["head_ip"] = cluster.head.ip
    cfg["provider"]["worker_ips"] = [cluster.worker.ip]
    cfg["auth"]["ssh_user"] = _user()
    cfg["auth"]["ssh_private_key"] = str(cluster.key)
    defaults = {"gcs": 6379, "dashboard": 8265, "agent": 52365, "client": 10001}
    flags = {
        "gcs": ["--port={}", "$RAY_HEAD_IP:{}"],
        "dashboard": ["--dashboard-port={}"],
        "agent": ["--dashboard-agent-listen-port={}"],
        "client": ["--ray-client-server-port={}"],
    }
    # the example NFS mount is skipped (/mnt/shared is a mount already); only its server is named
    cfg["initialization_commands"] = [
        c.replace("NFS-SERVER-REPLACE-ME", "nfs.example.invalid")
        for c in cfg["initialization_commands"]
    ]
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        rendered = []
        for command in cfg[key]:
            for what, patterns in flags.items():
                for pattern in patterns:
                    command = command.replace(
                        pattern.format(defaults[what]), pattern.format(ports[what])
                    )
            rendered.append(command)
        cfg[key] = rendered
    return yaml.safe_dump(cfg, sort_keys=False)
