#!/usr/bin/env python3
"""slowfast-launch --mqtt against a real broker (mosquitto) started here on 127.0.0.1 with a free
port and its own configuration; traffic stays on loopback. Each case is its own meson test:

  cameras   3 cameras from a camera file (--config) in one process: every answer and alert on
            stdout arrives on PREFIX/<id>/answer|alert, byte-identical and in order; the
            retained alert state, the node's online/offline, the status lines and the Home
            Assistant discovery configs are right.
  restart   the broker is stopped for 10 s mid-stream and started again: every answer and alert
            made while it was down arrives afterwards, each window counted once; the retained
            alert state is the last one on stdout.
  overflow  a 12-message outbox, the broker down for the whole run: the overflow is reported
            (log and PREFIX/<node>/outbox), every alert survives, the answers kept are the
            newest, and received + dropped = produced.
  errors    an unresolvable host, a refused connection and bad credentials each give a message
            naming the broker while stdout is the same as without --mqtt; good credentials from
            a file deliver, and the password is never printed; a malformed URL is bad usage.
  surveillance  surveillance.sh --config FILE --mqtt URL: options as defaults, lines delivered.
  tls       mqtts:// with a CA made here: delivered with --mqtt-ca-file; without it the
            certificate is refused with a message naming the broker.

  test_mqtt.py BUILD_DIR CASE
"""
import atexit
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
build, case = sys.argv[1], sys.argv[2]
launcher = os.path.join(build, "pipelines", "slowfast-launch")
model = os.environ.get("SLOWFAST_TEST_MODEL") or os.path.join(
    os.environ.get("SLOWFAST_SHARED", "/nonexistent"), "golden", "a", "model")
if not os.path.isdir(model):
    print("SKIP: no model (SLOWFAST_TEST_MODEL)")
    sys.exit(SKIP)
for tool in ("mosquitto", "mosquitto_sub", "mosquitto_passwd", "gst-launch-1.0"):
    if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
        print(f"SKIP: no {tool} (apt-get install mosquitto mosquitto-clients)")
        sys.exit(SKIP)
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
EXPECT_ALERT = os.environ.get("SLOWFAST_EXPECT_ALERT") == "1"
work = tempfile.mkdtemp(prefix=f"mqtt-{case}-")
CAPS = "video/x-raw,format=I420,width=160,height=120,framerate=8/1"
ELEMENT = ["window-frames=8", "hop-frames=4", "max-new-tokens=4", "temperature=0",
           "dtype=float32", "device=cpu"]
CONDITION = "Is there a white ball? Answer yes or no."


started = []   # every broker and subscriber, ended at exit whatever happens


@atexit.register
def _cleanup():
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait()


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(name, *patterns, frames=48):
    """A raw-video Matroska clip of consecutive videotestsrc patterns at 8 fps."""
    path = os.path.join(work, name + ".mkv")
    args = ["gst-launch-1.0", "-q", "concat", "name=mix", "!", "matroskamux", "!", "filesink",
            f"location={path}"]
    for p in patterns:
        args += ["videotestsrc", f"pattern={p}", f"num-buffers={frames}", "!", CAPS, "!", "mix."]
    subprocess.run(args, check=True, timeout=60)
    return path


class Broker:
    """mosquitto on 127.0.0.1:port with persistence in its own directory."""

    def __init__(self, extra=""):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(dir=work, prefix="broker-")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\n"
                    f"persistence true\npersistence_location {self.dir}/\n"
                    f"log_dest file {self.dir}/broker.log\n"
                    # mosquitto started as root drops to user "mosquitto", which could not
                    # write here; as anyone else this is ignored.
                    f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
                    + (extra or "allow_anonymous true\n"))
        self.process = None
        self.url_base = f"mqtt://127.0.0.1:{self.port}"

    def start(self):
        self.process = subprocess.Popen([MOSQUITTO, "-c", self.conf],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(self.process)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        fail(f"the broker did not start on port {self.port}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: it saves its persistence file
            self.process.wait(timeout=10)
        self.process = None


class Subscriber:
    """mosquitto_sub on TOPICS, persistent session (QoS 1, fixed id): it reconnects after a
    broker restart and gets what was published meanwhile."""

    def __init__(self, broker, *topics, extra=()):
        self.path = os.path.join(work, f"sub-{len(os.listdir(work))}.txt")
        self.file = open(self.path, "w")
        args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-c",
                "-i", f"test-sub-{os.getpid()}-{len(started)}", "-F", "%r %t %p", *extra]
        for t in topics:
            args += ["-t", t]
        self.process = subprocess.Popen(args, stdout=self.file, stderr=subprocess.STDOUT)
        started.append(self.process)
        time.sleep(0.5)

    def messages(self):
        """[(retained, topic, payload)] so far."""
        out = []
        with open(self.path) as f:
            for line in f.read().splitlines():
                if line.count(" ") >= 2 and line[0] in "01":
                    retained, topic, payload = line.split(" ", 2)
                    out.append((retained == "1", topic, payload))
        return out

    def wait_for(self, predicate, seconds, what):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if predicate(self.messages()):
                return
            time.sleep(0.2)
        fail(f"timed out after {seconds} s waiting for {what}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.file.close()


def retained(broker, topic):
    """The retained message on the topic, or None."""
    r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic,
                        "-C", "1", "-W", "3", "--retained-only"],
                       capture_output=True, text=True, timeout=10)
    return r.stdout.strip() or None


def pipeline(source_id, clip, alert=True, paced=False, raise_after=2, clear_after=1,
             sample_fps=8):
    """slowfast-launch tokens for one camera on a clip; `paced` plays it in real time."""
    args = ["filesrc", f"location={clip}", "!", "matroskademux", "!"]
    if paced:
        args += ["identity", "sync=true", "!"]
    args += ["videoconvert", "!", "slowfastmllm", f"name={source_id}", f"source-id={source_id}",
             f"model-location={model}", f"sample-fps={sample_fps}"] + ELEMENT
    if alert:
        args += [f"prompt={CONDITION}", f"alert-raise-after={raise_after}",
                 f"alert-clear-after={clear_after}"]
    args += ["!", "fakesink", "sync=false", "async=false"]
    return args


def stdout_events(text):
    """[(raw line, parsed)] of slowfast-launch's stdout."""
    return [(line, json.loads(line)) for line in text.splitlines() if line.strip()]


def by_topic(messages, topic):
    """The payloads published on the topic while subscribed. Those flagged retained are the
    broker's replay of retained messages when mosquitto_sub subscribes again after a
    reconnection, not publications."""
    return [payload for was_retained, t, payload in messages if t == topic and not was_retained]


def run(args, timeout=180):
    started = time.time()
    r = subprocess.run([launcher] + args, capture_output=True, text=True, timeout=timeout)
    return r, time.time() - started


# ------------------------------------------------------------------------------------------
def case_cameras():
    broker = Broker()
    broker.start()
    ball, smpte, mix = render("ball", "ball"), render("smpte", "smpte"), \
        render("mix", "ball", "smpte", frames=32)
    cams = os.path.join(work, "cameras.ini")
    with open(cams, "w") as f:
        f.write(f"""[defaults]
model = {model}
window-frames = 8
hop-frames = 4
sample-fps = 8
max-new-tokens = 4
properties = temperature=0;dtype=float32;device=cpu

[yard]
uri = {ball}
condition = {CONDITION}
raise-after = 2
clear-after = 1
device-class = motion

[gate]
uri = {smpte}
prompt = Describe what happens in this video.

[hall]
uri = {mix}
condition = {CONDITION}
raise-after = 2
clear-after = 1
""")
    sub = Subscriber(broker, "site1/#", "homeassistant/#")
    r, took = run(["--config", cams, "--mqtt", broker.url_base + "/site1", "--mqtt-node", "node1",
                   "--mqtt-discovery"])
    print(r.stderr)
    check(r.returncode == 0, f"exit status {r.returncode}")
    events = stdout_events(r.stdout)
    wanted = [line for line, e in events if e["type"] in ("slowfast-answer", "slowfast-alert")]
    sub.wait_for(lambda m: sum(1 for _, t, _p in m if t.endswith(("/answer", "/alert")))
                 >= len(wanted) and ("site1/node1/status" in [t for _, t, p in m if p == "offline"]),
                 20, f"{len(wanted)} answers and alerts and the node's offline")
    messages = sub.messages()
    sub.stop()
    raises = 0
    for cam in ("yard", "gate", "hall"):
        for kind, name in (("answer", "slowfast-answer"), ("alert", "slowfast-alert")):
            printed = [line for line, e in events if e["type"] == name and e["source-id"] == cam]
            got = by_topic(messages, f"site1/{cam}/{kind}")
            check(got == printed, f"{cam}/{kind}: {len(got)} messages differ from the {len(printed)}"
                  f" stdout lines:\n{got[:3]}\n{printed[:3]}")
            print(f"{cam}/{kind}: {len(got)} messages, byte-identical to stdout, in order")
        # 48 frames (64 for hall), windows of 8 every 4: 11 (15) answers.
        n = 15 if cam == "hall" else 11
        check(len(by_topic(messages, f"site1/{cam}/answer")) == n, f"{cam}: {n} answers expected")
        alerts = [e for _, e in events if e["type"] == "slowfast-alert" and e["source-id"] == cam]
        raises += sum(1 for a in alerts if a["state"] == "raised")
        states = by_topic(messages, f"site1/{cam}/alert/state")
        if cam == "gate":
            check(states == [], f"gate is not in alert mode: {states}")
        else:
            check(states == ["cleared"] + [a["state"] for a in alerts],
                  f"{cam}: states {states} for alerts {[a['state'] for a in alerts]}")
            last = alerts[-1]["state"] if alerts else "cleared"
            check(retained(broker, f"site1/{cam}/alert/state") == last,
                  f"{cam}: retained state is not {last}")
            print(f"{cam}: alert states {states}, retained {last}")
        status = [json.loads(p)["state"] for p in by_topic(messages, f"site1/{cam}/status")]
        check(status == ["playing", "ended"], f"{cam}: status {status}")
    if EXPECT_ALERT:
        check(raises >= 1, "no alert raised on the ball")
        hall = [e["state"] for _, e in events if e["type"] == "slowfast-alert"
                and e["source-id"] == "hall"]
        check("raised" in hall and hall[-1] == "cleared", f"hall: ball then smpte: {hall}")
    node = by_topic(messages, "site1/node1/status")
    check(node[0] == "online" and node[-1] == "offline", f"node status {node}")
    check(retained(broker, "site1/node1/status") == "offline", "retained node status")
    # Home Assistant discovery: a binary_sensor per alert camera, a sensor per camera.
    for cam in ("yard", "hall"):
        config = json.loads(retained(broker, f"homeassistant/binary_sensor/node1/{cam}_alert/config"))
        check(config["state_topic"] == f"site1/{cam}/alert/state" and config["payload_on"] ==
              "raised" and config["availability_topic"] == "site1/node1/status", config)
        check(config["device_class"] == ("motion" if cam == "yard" else "occupancy"), config)
    check(retained(broker, "homeassistant/binary_sensor/node1/gate_alert/config") is None,
          "gate has no alert sensor")
    for cam in ("yard", "gate", "hall"):
        config = json.loads(retained(broker, f"homeassistant/sensor/node1/{cam}_answer/config"))
        check(config["state_topic"] == f"site1/{cam}/answer", config)
    broker.stop()
    print(f"ok: {len(wanted)} answers and alerts of 3 cameras delivered in {took:.1f} s")


# ------------------------------------------------------------------------------------------
def case_restart():
    broker = Broker()
    broker.start()
    # 30 s each in real time: the alert goes up, down and up for one camera, the other way for
    # the other.
    a = render("a", "ball", "smpte", "ball", frames=80)
    b = render("b", "smpte", "ball", "smpte", frames=80)
    sub = Subscriber(broker, "site/#")
    out_path, err_path = os.path.join(work, "out.jsonl"), os.path.join(work, "err.txt")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([launcher, "--mqtt", broker.url_base + "/site", "--mqtt-node", "n1",
                                 "--mqtt-retry-max", "2"]
                                + pipeline("cam-a", a, paced=True, clear_after=2, sample_fps=2)
                                + ["::"]
                                + pipeline("cam-b", b, paced=True, clear_after=2, sample_fps=2),
                                stdout=out, stderr=err)

        def lines():
            with open(out_path) as f:
                return [l for l in f.read().splitlines() if l.strip()]
        deadline = time.time() + 60
        while len(lines()) < 6:
            check(time.time() < deadline and proc.poll() is None, "no answers within 60 s")
            time.sleep(0.2)
        broker.stop()
        down_from = len(lines())
        print(f"broker stopped after {down_from} lines")
        time.sleep(10)
        down_to = len(lines())
        broker.start()
        print(f"broker started again; {down_to - down_from} lines were printed while it was down")
        check(proc.wait(timeout=120) == 0, "slowfast-launch failed")
    with open(err_path) as f:
        stderr = f.read()
    print(stderr)
    events = stdout_events(open(out_path).read())
    wanted = [(line, e) for line, e in events if e["type"] in ("slowfast-answer", "slowfast-alert")]
    produced_down = [e for line, e in wanted[down_from:down_to]]
    check(len(produced_down) >= 5, f"only {len(produced_down)} answers while the broker was down")
    topic = lambda e: f"site/{e['source-id']}/{'answer' if e['type'] == 'slowfast-answer' else 'alert'}"
    sub.wait_for(lambda m: set((t, p) for _, t, p in m) >= set((topic(e), l) for l, e in wanted),
                 30, "every answer and alert after the restart")
    messages = sub.messages()
    sub.stop()
    got = [(t, p) for r, t, p in messages if t.endswith(("/answer", "/alert")) and not r]
    distinct = set(got)
    check(distinct == set((topic(e), l) for l, e in wanted),
          f"{len(distinct)} distinct messages for {len(wanted)} printed")
    for cam in ("cam-a", "cam-b"):
        windows = [json.loads(p)["window-end"] for t, p in got if t == f"site/{cam}/answer"]
        first_seen = list(dict.fromkeys(windows))
        check(first_seen == sorted(first_seen), f"{cam}: out of order {first_seen}")
        printed = [e["window-end"] for _, e in wanted if e["source-id"] == cam
                   and e["type"] == "slowfast-answer"]
        check(first_seen == printed, f"{cam}: windows {first_seen} != {printed}")
        alerts = [e["state"] for _, e in wanted if e["source-id"] == cam
                  and e["type"] == "slowfast-alert"]
        last = alerts[-1] if alerts else "cleared"
        check(retained(broker, f"site/{cam}/alert/state") == last, f"{cam}: state not {last}")
        print(f"{cam}: {len(printed)} windows, each delivered ({len(windows) - len(printed)} "
              f"duplicates); alerts {alerts}; retained state {last}")
    check("lost the connection to " + broker.url_base in stderr, "no message about the loss")
    check("connected to " + broker.url_base in stderr, "no message about the reconnection")
    if EXPECT_ALERT:
        check(any(e["type"] == "slowfast-alert" for _, e in wanted), "no alerts")
    broker.stop()
    print(f"ok: {len(produced_down)} answers and alerts made while the broker was down were "
          f"delivered after it came back; {len(got) - len(distinct)} duplicates")


# ------------------------------------------------------------------------------------------
def case_overflow():
    outbox = 12
    broker = Broker()
    broker.start()
    clip = render("mix", "ball", "smpte", frames=48)
    sub = Subscriber(broker, "site/#")   # makes the persistent session
    broker.stop()
    err_path = os.path.join(work, "err.txt")
    with open(err_path, "w") as err:
        proc = subprocess.Popen([launcher, "--mqtt", broker.url_base + "/site", "--mqtt-node", "n1",
                                 "--mqtt-outbox", str(outbox), "--mqtt-retry-max", "1",
                                 "--mqtt-flush-timeout", "60"] + pipeline("cam", clip),
                                stdout=subprocess.PIPE, stderr=err, text=True)
        # The whole stream is answered with the broker down; it waits for the broker to flush.
        deadline = time.time() + 120
        while "end of stream" not in open(err_path).read():
            check(time.time() < deadline and proc.poll() is None, "no end of stream")
            time.sleep(0.2)
        broker.start()
        out, _ = proc.communicate(timeout=90)
        check(proc.returncode == 0, "slowfast-launch failed")
    stderr = open(err_path).read()
    print(stderr)
    events = stdout_events(out)
    answers = [line for line, e in events if e["type"] == "slowfast-answer"]
    alerts = [line for line, e in events if e["type"] == "slowfast-alert"]
    n_alert_class = 1 + 2 * len(alerts)   # the initial "cleared" state, each alert and its state
    check(len(answers) == 23, f"{len(answers)} answers")
    check(n_alert_class + 2 < outbox, f"{len(alerts)} alerts: too many for this test's outbox")
    sub.wait_for(lambda m: any(t == "site/n1/outbox" for _, t, _p in m) and
                 len(by_topic(m, "site/cam/alert")) >= len(alerts) and
                 any(json.loads(p).get("state") == "ended" for p in by_topic(m, "site/cam/status")),
                 30, "the overflow report, the alerts and the end")
    time.sleep(1)
    messages = sub.messages()
    sub.stop()
    report = json.loads(by_topic(messages, "site/n1/outbox")[0])
    print("report:", report)
    got_answers = by_topic(messages, "site/cam/answer")
    got_other = by_topic(messages, "site/cam/status")
    check(by_topic(messages, "site/cam/alert") == alerts, "an alert was lost")
    check(by_topic(messages, "site/cam/alert/state") ==
          ["cleared"] + [json.loads(a)["state"] for a in alerts],
          f"alert states lost: {by_topic(messages, 'site/cam/alert/state')} for {len(alerts)} alerts")
    check(report["dropped-alerts"] == 0, "alerts were dropped")
    check(report["dropped-answers"] >= 1 and report["dropped"] == report["dropped-answers"]
          + report["dropped-alerts"] + report["dropped-other"], report)
    check(len(got_answers) + report["dropped-answers"] == len(answers),
          f"{len(got_answers)} received + {report['dropped-answers']} dropped != {len(answers)}")
    kept = outbox - n_alert_class - len(got_other)
    check(got_answers == answers[len(answers) - kept:], f"not the newest {kept} answers kept")
    check(report["outbox-size"] == outbox, report)
    check("the outbox is full" in stderr and "overflowed" in stderr, "no overflow in the log")
    if EXPECT_ALERT:
        check(len(alerts) >= 1, "no alert")
    broker.stop()
    print(f"ok: {len(answers)} answers and {len(alerts)} alerts with the broker down; the outbox "
          f"of {outbox} kept every alert and the newest {len(got_answers)} answers, "
          f"{report['dropped']} messages dropped and reported")


# ------------------------------------------------------------------------------------------
def case_errors():
    clip = render("ball", "ball")
    base = pipeline("cam", clip)

    def essence(stdout):
        return [(e["type"], e.get("window-end"), e.get("text"), e.get("state"))
                for _, e in stdout_events(stdout)]

    reference, took = run(["-q"] + base)
    check(reference.returncode == 0, reference.stderr)
    expected = essence(reference.stdout)
    check(len([x for x in expected if x[0] == "slowfast-answer"]) == 11, "reference answers")
    print(f"reference run without --mqtt: {len(expected)} lines in {took:.1f} s")

    port = free_port()   # nothing listens there
    password = "pw-" + str(os.getpid()) + "-secret"
    secure = Broker(extra="allow_anonymous false\npassword_file PASSWORDS\n")
    pwfile = os.path.join(secure.dir, "passwd")
    subprocess.run(["mosquitto_passwd", "-b", "-c", pwfile, "camera", password], check=True)
    with open(secure.conf) as f:
        conf = f.read().replace("PASSWORDS", pwfile)
    with open(secure.conf, "w") as f:
        f.write(conf)
    secure.start()
    good, bad = os.path.join(work, "good"), os.path.join(work, "bad")
    with open(good, "w") as f:
        f.write(f"# for {secure.url_base}\nusername = camera\npassword = {password}\n")
    with open(bad, "w") as f:
        f.write("username = camera\npassword = wrong-" + password + "\n")
    os.chmod(good, 0o600)
    os.chmod(bad, 0o600)

    cases = [
        ("unresolvable host", ["--mqtt", "mqtt://no-such-broker.invalid:1883/x"],
         "mqtt://no-such-broker.invalid:1883", "could not be resolved"),
        ("refused connection", ["--mqtt", f"mqtt://127.0.0.1:{port}/x"],
         f"mqtt://127.0.0.1:{port}", "Connection refused"),
        ("bad credentials", ["--mqtt", secure.url_base + "/x", "--mqtt-credentials", bad],
         secure.url_base, "not authorised"),
    ]
    for name, args, broker_name, reason in cases:
        r, took = run(["-q", "--mqtt-flush-timeout", "1"] + args + base, timeout=120)
        print(f"{name}: exit {r.returncode} after {took:.1f} s; stderr:\n{r.stderr}")
        check(r.returncode == 0, f"{name}: exit status {r.returncode}")
        check(essence(r.stdout) == expected, f"{name}: stdout differs from the run without --mqtt")
        problem = [l for l in r.stderr.splitlines() if broker_name in l and reason in l]
        check(problem, f"{name}: no message naming {broker_name} with '{reason}'")
        check(password not in r.stderr + r.stdout, f"{name}: the password was printed")

    sub = Subscriber(secure, "x/#", extra=["-u", "camera", "-P", password])
    r, took = run(["--mqtt", secure.url_base + "/x", "--mqtt-node", "n", "--mqtt-credentials", good]
                  + base)
    check(r.returncode == 0 and essence(r.stdout) == expected, "good credentials: stdout")
    check(password not in r.stderr + r.stdout, "the password was printed")
    sub.wait_for(lambda m: len(by_topic(m, "x/cam/answer")) == 11, 10, "11 answers with a password")
    sub.stop()
    print("good credentials from a file: 11 answers delivered")

    r, _ = run(["--mqtt", "http://127.0.0.1/x"] + base)
    check(r.returncode == 2 and "mqtt://" in r.stderr, f"malformed URL: {r.returncode} {r.stderr}")
    print("malformed URL:", r.stderr.strip())
    secure.stop()
    print("ok")


# ------------------------------------------------------------------------------------------
def case_surveillance():
    """surveillance.sh --config FILE --mqtt URL: the script's options are the cameras'
    defaults, and what it prints arrives on the broker."""
    broker = Broker()
    broker.start()
    ball, smpte = render("ball", "ball"), render("smpte", "smpte")
    cams = os.path.join(work, "cameras.ini")
    with open(cams, "w") as f:
        f.write(f"[yard]\nuri = {ball}\ncondition = {CONDITION}\n\n"
                f"[gate]\nuri = {smpte}\nwindow-frames = 12\n")
    sub = Subscriber(broker, "s/#")
    source_root = os.environ.get("SLOWFAST_SOURCE_ROOT",
                                 os.path.join(os.path.dirname(__file__), "..", ".."))
    r = subprocess.run(["bash", os.path.join(source_root, "pipelines", "surveillance.sh"),
                        "--config", cams, "--model", model, "--window-frames", "8",
                        "--hop-frames", "4", "--sample-fps", "8", "--max-new-tokens", "4",
                        "--set", "temperature=0", "--set", "dtype=float32", "--set", "device=cpu",
                        "--raise-after", "1", "--mqtt", broker.url_base + "/s",
                        "--mqtt-node", "box"],
                       capture_output=True, text=True, timeout=180,
                       env=dict(os.environ, BUILD_DIR=build))
    print(r.stderr)
    check(r.returncode == 0, f"surveillance.sh: exit status {r.returncode}")
    events = stdout_events(r.stdout)
    for cam, n in (("yard", 11), ("gate", 10)):
        answers = [e for _, e in events if e["type"] == "slowfast-answer" and e["source-id"] == cam]
        # gate's own window (12 frames) beats --window-frames 8: windows due at 12, 16, ..., 48.
        check(len(answers) == n, f"{cam}: {len(answers)} answers, expected {n}")
        check(all(a["frames"] == (12 if cam == "gate" else 8) for a in answers), f"{cam}: frames")
        if cam == "gate":
            check(all(a["prompt"].startswith("Describe") for a in answers), "gate: narration")
    yard_alerts = [e for _, e in events if e["type"] == "slowfast-alert"]
    if EXPECT_ALERT:
        check(yard_alerts and yard_alerts[0]["consecutive"] == 1, "--raise-after 1 as default")
    printed = [line for line, e in events if e["type"] in ("slowfast-answer", "slowfast-alert")]
    sub.wait_for(lambda m: sum(1 for r_, t, _ in m if not r_ and
                               t.endswith(("/answer", "/alert"))) >= len(printed), 20, "all lines")
    got = [p for r_, t, p in sub.messages() if not r_ and t.endswith(("/answer", "/alert"))]
    sub.stop()
    check(sorted(got) == sorted(printed), "the broker's messages differ from stdout")
    broker.stop()
    print(f"ok: surveillance.sh --config: {len(printed)} lines, the same on the broker")


# ------------------------------------------------------------------------------------------
def case_tls():
    """mqtts:// with --mqtt-ca-file: a broker with a certificate from a CA made here for
    127.0.0.1 delivers; without the CA file (the system's CAs) the TLS failure names the
    broker and the pipeline goes on."""
    if shutil.which("openssl") is None:
        print("SKIP: no openssl")
        sys.exit(SKIP)
    d = tempfile.mkdtemp(dir=work, prefix="tls-")
    ca_key, ca, key, csr, cert = (os.path.join(d, n) for n in
                                  ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    ssl = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=60)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", "/CN=slowfast test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=127.0.0.1")
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
        "-days", "2", "-extfile", ext)
    broker = Broker(extra=f"allow_anonymous true\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n")
    broker.start()
    url = f"mqtts://127.0.0.1:{broker.port}/t"
    clip = render("ball", "ball")
    sub = Subscriber(broker, "t/#", extra=["--cafile", ca])
    r, took = run(["--mqtt", url, "--mqtt-ca-file", ca, "--mqtt-node", "n"] + pipeline("cam", clip))
    print(r.stderr)
    check(r.returncode == 0, f"exit status {r.returncode}")
    printed = [l for l, e in stdout_events(r.stdout) if e["type"] == "slowfast-answer"]
    sub.wait_for(lambda m: len(by_topic(m, "t/cam/answer")) >= len(printed), 15, "the answers")
    check(by_topic(sub.messages(), "t/cam/answer") == printed, "answers over TLS differ")
    sub.stop()
    print(f"mqtts with --mqtt-ca-file: {len(printed)} answers delivered")
    r, took = run(["-q", "--mqtt", url, "--mqtt-flush-timeout", "1"] + pipeline("cam", clip))
    print(r.stderr)
    check(r.returncode == 0, f"without the CA: exit status {r.returncode}")
    check(sum(1 for _, e in stdout_events(r.stdout) if e["type"] == "slowfast-answer") == 11,
          "without the CA: stdout lost answers")
    check(any(f"mqtts://127.0.0.1:{broker.port}" in l and "cannot connect" in l
              for l in r.stderr.splitlines()), "without the CA: no message naming the broker")
    broker.stop()
    print("ok")


try:
    {"tls": case_tls, "surveillance": case_surveillance, "cameras": case_cameras, "restart": case_restart, "overflow": case_overflow,
     "errors": case_errors}[case]()
finally:
    shutil.rmtree(work, ignore_errors=True)
