#!/usr/bin/python3
"""The stand-in systemctl and journalctl: units enabled, started, restarted
on failure, stopped per KillMode, reloaded only on daemon-reload, refused
when malformed, and nothing done for a caller that is not root. Runs in a
mount namespace of its own (private /run and /etc/systemd/system), so it
needs root: exit 77 otherwise."""
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
SYSTEMCTL = os.path.join(HERE, "..", "systemctl")
JOURNALCTL = os.path.join(HERE, "..", "journalctl")
UNITS = "/etc/systemd/system"


def ctl(*args, user=None):
    pre = None
    if user is not None:
        def pre():
            os.setgid(user)
            os.setuid(user)
    return subprocess.run([SYSTEMCTL] + list(args), capture_output=True, text=True, timeout=120,
                          preexec_fn=pre)


def write_unit(name, service, install="[Install]\nWantedBy=multi-user.target\n", unit=""):
    with open(os.path.join(UNITS, name), "w") as f:
        f.write("[Unit]\nDescription=%s\n%s\n[Service]\n%s\n%s" % (name, unit, service,
                                                                    install))


def main_pid(name):
    return int(ctl("show", "-p", "MainPID", "--value", name).stdout.strip() or 0)


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def eventually(check, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.1)
    return check()


class Systemctl(unittest.TestCase):
    def tearDown(self):
        for entry in os.listdir(UNITS):
            if entry.endswith(".service"):
                ctl("stop", entry)

    def test_enable_start_show_and_disable_now(self):
        write_unit("a.service", "ExecStart=/bin/sleep 1000\n")
        r = ctl("enable", "a.service")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Created symlink", r.stderr)
        self.assertEqual(os.readlink(UNITS + "/multi-user.target.wants/a.service"),
                         UNITS + "/a.service")
        self.assertEqual(ctl("is-active", "--quiet", "a.service").returncode, 3)
        self.assertEqual(main_pid("a.service"), 0)
        self.assertEqual(ctl("start", "a").returncode, 0)
        r = ctl("is-active", "a.service")
        self.assertEqual((r.returncode, r.stdout), (0, "active\n"))
        pid = main_pid("a.service")
        with open("/proc/%d/cmdline" % pid) as f:
            self.assertEqual(f.read().split("\0")[:2], ["/bin/sleep", "1000"])
        # started again: nothing changes
        self.assertEqual(ctl("start", "a.service").returncode, 0)
        self.assertEqual(main_pid("a.service"), pid)
        self.assertEqual(ctl("restart", "a.service").returncode, 0)
        self.assertFalse(alive(pid))
        self.assertNotEqual(main_pid("a.service"), pid)
        r = ctl("disable", "--now", "a.service")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.lexists(UNITS + "/multi-user.target.wants/a.service"))
        self.assertEqual(ctl("is-active", "--quiet", "a.service").returncode, 3)

    def test_a_changed_unit_runs_as_loaded_until_daemon_reload(self):
        write_unit("b.service", "ExecStart=/bin/sleep 1001\n")
        self.assertEqual(ctl("start", "b.service").returncode, 0)
        write_unit("b.service", "ExecStart=/bin/sleep 1002\n")
        r = ctl("restart", "b.service")
        self.assertIn("changed on disk. Run 'systemctl daemon-reload'", r.stderr)
        with open("/proc/%d/cmdline" % main_pid("b.service")) as f:
            self.assertIn("1001", f.read())
        self.assertEqual(ctl("daemon-reload").returncode, 0)
        r = ctl("restart", "b.service")
        self.assertNotIn("changed on disk", r.stderr)
        with open("/proc/%d/cmdline" % main_pid("b.service")) as f:
            self.assertIn("1002", f.read())

    def test_restart_on_failure_brings_a_killed_service_back(self):
        write_unit("c.service", "ExecStart=/bin/sleep 1000\nRestart=on-failure\nRestartSec=0.2\n")
        self.assertEqual(ctl("start", "c.service").returncode, 0)
        pid = main_pid("c.service")
        os.kill(pid, 9)
        self.assertTrue(eventually(lambda: main_pid("c.service") not in (0, pid)))
        self.assertEqual(ctl("is-active", "c.service").stdout, "active\n")

    def test_a_service_that_keeps_failing_ends_failed_and_its_output_is_in_the_journal(self):
        # A start limit wide enough that six quick restarts fall inside it
        # however slowly a loaded machine runs them.
        write_unit("d.service", "ExecStart=/bin/sh -c 'echo bad config line 3 >&2; exit 1'\n"
                   "Restart=on-failure\nRestartSec=0.1\n",
                   unit="StartLimitIntervalSec=300\n")
        # Type=simple: the start succeeds once the process is forked, even
        # when the service has failed for good before systemctl looks again
        self.assertEqual(ctl("start", "d.service").returncode, 0)
        self.assertTrue(eventually(lambda: ctl("is-active", "d.service").stdout == "failed\n",
                                   120.0))
        j = subprocess.run([JOURNALCTL, "-u", "d.service", "-n", "20", "--no-pager"],
                           capture_output=True, text=True).stdout
        self.assertIn("bad config line 3", j)
        self.assertIn("Start request repeated too quickly", j)
        self.assertLessEqual(len(j.splitlines()), 20)

    def test_start_succeeds_when_the_service_gave_up_before_systemctl_looked_again(self):
        # A loaded machine may run systemctl again only after the service
        # failed, was restarted and hit its start limit: the start job was
        # still done once the process was forked, as with systemd.
        write_unit("h.service", "ExecStart=/bin/sh -c 'exit 1'\nRestart=on-failure\n"
                   "RestartSec=0\n", unit="StartLimitBurst=2\n")
        late = ("import sys, time\n"
                "sys.path.insert(0, %r)\n"
                "from standin import systemd\n"
                "spawn = systemd._spawn_monitor\n"
                "def descheduled(name, unit):\n"
                "    spawn(name, unit)\n"
                "    while systemd.is_active(name) != 'failed':\n"
                "        time.sleep(0.02)\n"
                "systemd._spawn_monitor = descheduled\n"
                "sys.exit(systemd.systemctl(['start', 'h.service']))\n"
                % os.path.join(HERE, ".."))
        r = subprocess.run([sys.executable, "-c", late], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(ctl("is-active", "h.service").stdout, "failed\n")

    def test_kill_mode_process_spares_the_main_process_children(self):
        marker = "/run/standin-systemd-test.child"
        for mode, survives in (("process", True), ("control-group", False)):
            write_unit("e.service", "ExecStart=/bin/sh -c 'sleep 1003 & echo $! >%s; exec sleep 1000'\n"
                       "KillMode=%s\n" % (marker, mode))
            ctl("daemon-reload")
            self.assertEqual(ctl("start", "e.service").returncode, 0)
            self.assertTrue(eventually(lambda: os.path.exists(marker)))
            with open(marker) as f:
                child = int(f.read())
            self.assertEqual(ctl("stop", "e.service").returncode, 0)
            self.assertEqual(eventually(lambda: not alive(child), 2.0), not survives, mode)
            if alive(child):
                os.kill(child, 9)
            os.unlink(marker)

    def test_malformed_units_are_refused_with_the_file_and_line(self):
        cases = [
            ("ExecStrat=/bin/true\n", "f.service:5: Unknown key name 'ExecStrat' in section 'Service'"),
            ("Type=simple\n", "Service has no ExecStart="),
            ("ExecStart=sleep 10\n", "Neither a valid executable name nor an absolute path"),
            ("ExecStart=/bin/true\nRestart=sometimes\n", "Failed to parse service restart specifier"),
            ("ExecStart=/bin/true\nKillMode=gentle\n", "Failed to parse kill mode"),
            ("ExecStart=/bin/true\nRestartSec=soon\n", "Failed to parse RestartSec= value"),
        ]
        for service, message in cases:
            write_unit("f.service", service)
            ctl("daemon-reload")
            r = ctl("start", "f.service")
            self.assertEqual(r.returncode, 1, service)
            self.assertIn(message, r.stderr, service)
            self.assertEqual(main_pid("f.service"), 0)
        r = ctl("start", "nothere.service")
        self.assertEqual(r.returncode, 5)
        self.assertIn("Unit nothere.service not found.", r.stderr)

    def test_a_caller_that_is_not_root_changes_nothing(self):
        write_unit("g.service", "ExecStart=/bin/sleep 1000\n")
        for verb in ("start", "enable", "restart", "stop", "daemon-reload"):
            r = ctl(verb, "g.service", user=65534)
            self.assertEqual(r.returncode, 1, verb)
            self.assertIn("Interactive authentication required", r.stderr)
        self.assertEqual(main_pid("g.service"), 0)
        self.assertFalse(os.path.lexists(UNITS + "/multi-user.target.wants/g.service"))
        self.assertEqual(ctl("is-active", "g.service", user=65534).stdout, "inactive\n")

    def test_without_systemd_running_it_says_so(self):
        os.rename("/run/systemd/system", "/run/systemd/off")
        try:
            r = ctl("is-active", "a.service")
            self.assertEqual(r.returncode, 1)
            self.assertIn("System has not been booted with systemd", r.stderr)
        finally:
            os.rename("/run/systemd/off", "/run/systemd/system")


def in_private_namespace():
    """Re-runs this file in a mount namespace with a private /run and
    /etc/systemd/system; returns its exit status."""
    script = ("set -e; mount --make-rprivate /; mount -t tmpfs tmpfs /run; "
              "mkdir -p /run/systemd/system /run/netns; "
              # the directory Debian's systemd package makes, empty, when it is missing
              "mkdir -p /etc/systemd/system; mount -t tmpfs tmpfs /etc/systemd/system; "
              "STANDIN_SYSTEMD_NS=1 exec /usr/bin/python3 \"$0\"")
    return subprocess.call(["unshare", "-m", "--", "sh", "-c", script, os.path.realpath(__file__)])


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: the systemctl stand-in test needs root (a mount namespace of its own)")
        sys.exit(77)
    if os.environ.get("STANDIN_SYSTEMD_NS") != "1":
        sys.exit(in_private_namespace())
    unittest.main()
