"""The agent's command executor: each task is a real process (`sh -c CMD`
or ARGV) in its sandbox under work_dir, with the environment the framework
gave plus the MESOS_* variables, reported TASK_STARTING, TASK_RUNNING and
then TASK_FINISHED / TASK_FAILED / TASK_KILLED with the executor's messages
(src/launcher/executor.cpp), and COMMAND health checks run beside it
(src/checks/health_checker.cpp)."""
import os
import signal
import subprocess
import threading
import time
import uuid

from . import log

COMPONENT = "mesos-agent"
TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE")
KEEP_TERMINAL = 50


class Task:
    def __init__(self, framework_id, spec, sandbox):
        self.framework_id = framework_id
        self.spec = spec
        self.id = spec["id"]
        self.sandbox = sandbox
        self.state = "TASK_STAGING"
        self.statuses = []
        self.proc = None
        self.killing = False
        self.healthy = None
        self.message = ""
        self.reason = ""
        self.lock = threading.Lock()

    def update(self, state, message="", reason="", healthy=None):
        with self.lock:
            if self.state in TERMINAL:
                return
            self.state = state
            self.message = message
            self.reason = reason
            st = {"state": state, "timestamp": time.time(), "source": "SOURCE_EXECUTOR"}
            if message:
                st["message"] = message
            if reason:
                st["reason"] = reason
            if healthy is not None:
                self.healthy = healthy
            if self.healthy is not None:
                st["healthy"] = self.healthy
            self.statuses.append(st)
        log.info(COMPONENT, "Status update %s for task %s" % (state, self.id), message=message or "-")

    def view(self):
        with self.lock:
            out = {"id": self.id, "name": self.spec.get("name", self.id), "framework_id": self.framework_id,
                   "state": self.state, "statuses": list(self.statuses), "message": self.message,
                   "reason": self.reason, "sandbox": self.sandbox,
                   "resources": self.spec.get("resources", {}), "updated": time.time()}
            if self.healthy is not None:
                out["healthy"] = self.healthy
            if self.spec.get("container"):
                out["container"] = self.spec["container"]
            return out


class Executor:
    def __init__(self, agent):
        self.agent = agent
        self.tasks = {}
        self.lock = threading.Lock()

    def snapshot(self):
        with self.lock:
            tasks = list(self.tasks.values())
        return [t.view() for t in tasks]

    def _forget_old(self):
        done = [t for t in self.tasks.values() if t.state in TERMINAL]
        for t in done[:-KEEP_TERMINAL]:
            del self.tasks[t.id]

    def launch(self, body):
        fid, spec = body["framework_id"], body["task"]
        with self.lock:
            if spec["id"] in self.tasks:
                return {"accepted": False, "message": "Task %s already exists" % spec["id"]}
            cid = str(uuid.uuid4())
            sandbox = os.path.join(self.agent.work_dir, "slaves", self.agent.id or "unregistered", "frameworks", fid,
                                   "executors", spec["id"], "runs", cid)
            task = Task(fid, spec, sandbox)
            self.tasks[task.id] = task
            self._forget_old()
        threading.Thread(target=self._run, args=(task,), daemon=True).start()
        return {"accepted": True}

    def _env(self, task):
        env = {"PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
               "HOME": task.sandbox,
               "MESOS_SANDBOX": task.sandbox, "MESOS_DIRECTORY": task.sandbox,
               "MESOS_FRAMEWORK_ID": task.framework_id, "MESOS_EXECUTOR_ID": task.id,
               "MESOS_AGENT_ENDPOINT": "%s:%d" % (self.agent.ip, self.agent.adv_port),
               "MESOS_SLAVE_ID": self.agent.id or "", "MESOS_CONTAINER_NAME": "mesos-" + task.id}
        env.update({k: str(v) for k, v in (task.spec.get("env") or {}).items()})
        return env

    def _run(self, task):
        spec = task.spec
        container = spec.get("container") or {}
        if container.get("type") == "DOCKER" and "docker" not in self.agent.containerizers:
            log.error(COMPONENT, "Container for executor '%s' of framework %s failed to start: None of the enabled "
                      "containerizers (%s) could create a container for the provided TaskInfo/ExecutorInfo "
                      "message" % (task.id, task.framework_id, ",".join(self.agent.containerizers)))
            task.update("TASK_FAILED", "Abnormal executor termination: unknown container",
                        "REASON_EXECUTOR_TERMINATED")
            return
        cmd = spec.get("command") or {}
        try:
            os.makedirs(task.sandbox, exist_ok=True)
            out = open(os.path.join(task.sandbox, "stdout"), "ab")
            err = open(os.path.join(task.sandbox, "stderr"), "ab")
        except OSError as e:
            task.update("TASK_FAILED", "Failed to create sandbox: %s" % e, "REASON_CONTAINER_LAUNCH_FAILED")
            return
        argv = ["/bin/sh", "-c", cmd.get("value", "")] if cmd.get("shell", True) else \
            [cmd.get("value")] + list(cmd.get("arguments") or [])[1:]
        task.update("TASK_STARTING")
        try:
            task.proc = subprocess.Popen(argv, cwd=task.sandbox, env=self._env(task), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, start_new_session=True)
        except OSError as e:
            task.update("TASK_FAILED", "Failed to launch command: %s" % e.strerror, "REASON_CONTAINER_LAUNCH_FAILED")
            return
        finally:
            out.close()
            err.close()
        task.update("TASK_RUNNING")
        if (spec.get("health_check") or {}).get("type") == "COMMAND":
            threading.Thread(target=self._health, args=(task,), daemon=True).start()
        code = task.proc.wait()
        if task.killing:
            task.update("TASK_KILLED", "Command terminated with signal %s" % _signame(-code) if code < 0 else
                        "Command exited with status %d" % code)
        elif code == 0:
            task.update("TASK_FINISHED", "Command exited with status 0")
        elif code < 0:
            task.update("TASK_FAILED", "Command terminated with signal %s" % _signame(-code),
                        "REASON_COMMAND_EXECUTOR_FAILED")
        else:
            task.update("TASK_FAILED", "Command exited with status %d" % code, "REASON_COMMAND_EXECUTOR_FAILED")

    def kill(self, task_id, grace=None):
        with self.lock:
            task = self.tasks.get(task_id)
        if not task or task.state in TERMINAL:
            return False
        task.killing = True
        if task.proc is None:
            task.update("TASK_KILLED", "Killed before launch")
            return True
        grace = task.spec.get("kill_grace_seconds", 3.0) if grace is None else grace
        threading.Thread(target=_terminate, args=(task.proc, grace), daemon=True).start()
        return True

    def shutdown(self):
        with self.lock:
            tasks = list(self.tasks.values())
        for t in tasks:
            self.kill(t.id, grace=2.0)
        deadline = time.monotonic() + 5
        for t in tasks:
            if t.proc:
                try:
                    t.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass

    def _health(self, task):
        hc = task.spec["health_check"]
        grace = float(hc.get("grace_period_seconds", 300))
        interval = float(hc.get("interval_seconds", 60))
        timeout = float(hc.get("timeout_seconds", 20))
        max_failures = int(hc.get("consecutive_failures", 3))
        start = time.monotonic()
        time.sleep(float(hc.get("delay_seconds", 0)))
        failures, succeeded = 0, False
        while task.state == "TASK_RUNNING" and not task.killing:
            try:
                ok = subprocess.run(["/bin/sh", "-c", hc["command"]], cwd=task.sandbox, env=self._env(task),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    timeout=timeout).returncode == 0
            except subprocess.TimeoutExpired:
                ok = False
            if ok:
                failures, succeeded = 0, True
                if task.healthy is not True:
                    task.update("TASK_RUNNING", healthy=True)
            elif succeeded or time.monotonic() - start > grace:
                failures += 1
                if task.healthy is not False:
                    task.update("TASK_RUNNING", "Health check failed", healthy=False)
                if max_failures and failures > max_failures:
                    log.warn(COMPONENT, "Killing task %s after %d consecutive failed health checks" %
                             (task.id, failures))
                    self.kill(task.id)
                    return
            time.sleep(interval)


def _terminate(proc, grace):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except OSError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass


def _signame(num):
    names = {signal.SIGTERM: "Terminated", signal.SIGKILL: "Killed", signal.SIGINT: "Interrupt",
             signal.SIGSEGV: "Segmentation fault", signal.SIGABRT: "Aborted"}
    return names.get(num, "%d" % num)
