namespace NodeKeeper.ReliabilityTests;

/// <summary>
/// What an app inherits from whoever started the daemon: no file descriptor beyond 0-2 and those NodeKeeper passes on
/// purpose, and for a `user` app (or one with clean_env) none of the daemon's own environment.
/// </summary>
public sealed class InheritanceTests
{
    [Fact]
    public async Task Fds_left_open_by_the_starting_shell_reach_no_app_and_do_not_hold_its_pipes()
    {
        if (Environment.UserName != "root") throw new InvalidOperationException("this test needs root: one app runs as uid 65534");
        await using var home = new TestHome();
        var secret = Path.Combine(home.Configs, "root-only-secret");
        File.WriteAllText(secret, "s3cret\n");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead);
        var config = home.WriteConfig(TestHome.App("plain", "worker.js") + TestHome.App("nobody", "worker.js", "user = \"nobody\""));

        // As `(exec 77</root-only/secret; out=$(nk start …))` would: fd 77 is the secret, fd 3 the substitution's pipe,
        // which the shell reads until every writer has closed it.
        var started = await home.RunWithAsync(["timeout", "60", "bash", "-c",
            "exec 77<\"$1\"; out=$(\"$2\" start \"$3\" 3>&1); echo \"$out\"", "bash", secret, Repo.Nk, config]);
        started.Code.Should().Be(0, "the command substitution ends once nk does: the daemon kept none of its pipes\n" + started);

        var daemon = home.DaemonPid()!.Value;
        // Once node has started (the preload's first report): while it starts, node has files of its own open without
        // close-on-exec for a moment (OpenSSL reads /etc/ssl/openssl.cnf and the CA bundle with fopen).
        foreach (var name in new[] { "plain", "nobody" })
            await home.WaitForAsync(name, i => i.HeapUsedBytes is not null, "node started (its first report)");
        var apps = new[] { (await home.InstanceAsync("plain")).Pid!.Value, (await home.InstanceAsync("nobody")).Pid!.Value };
        // The daemon closed them (and may have opened files of its own under those numbers since).
        foreach (var pid in apps.Append(daemon))
            OpenFds(pid).Values.Should().NotContain(secret, $"pid {pid} holds no fd of the secret");
        foreach (var pid in apps)
            OpenFds(pid).Should().NotContainKey(77, $"app {pid} has no fd 77");
        foreach (var pid in apps)
        {
            // An app's fds are 0-2 (the daemon's pipes), the IPC channel the daemon passes (NODE_CHANNEL_FD), and what
            // node opened itself (all of which node opened after it started: none of them is a pipe of the shell's).
            var channel = int.Parse(Procs.Environ(pid)["NODE_CHANNEL_FD"]);
            OpenFds(pid).Keys.Where(fd => fd > 2 && fd != channel).Should().OnlyContain(fd => OpenedByNode(pid, fd),
                $"pid {pid}'s other fds are its own: {string.Join(", ", OpenFds(pid).Select(kv => $"{kv.Key}={kv.Value}"))}");
        }
        // The test runner may leave fds of its own open too: the list holds at least the shell's two.
        var said = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(Path.Combine(home.Home, "daemon.log")),
            @"Closed \d+ file descriptors inherited from the process that started the daemon \(fds ([0-9, ]+)\): no app gets them");
        said.Success.Should().BeTrue("daemon.log says what it closed");
        said.Groups[1].Value.Split(", ").Select(int.Parse).Should().Contain([3, 77]);
    }

    [Fact]
    public async Task A_user_app_and_a_clean_env_app_get_none_of_the_daemons_environment_and_a_plain_app_inherits_it()
    {
        if (Environment.UserName != "root") throw new InvalidOperationException("this test needs root: one app runs as uid 65534");
        await using var home = new TestHome();
        var config = home.WriteConfig(
            TestHome.App("plain", "worker.js", "env = { FROM_CONFIG = \"1\" }")
            + TestHome.App("nobody", "worker.js", "user = \"nobody\"\nenv = { FROM_CONFIG = \"1\" }")
            + TestHome.App("clean", "worker.js", "clean_env = true\nenv = { FROM_CONFIG = \"1\" }"));
        var started = await home.RunWithAsync(["env", "DAEMON_SECRET=root-token", "NODE_OPTIONS=--no-warnings", "LANG=C.UTF-8", "LC_TIME=C", "TZ=UTC",
            Repo.Nk], "start", config);
        started.Code.Should().Be(0, started.ToString());

        var plain = Procs.Environ((await home.InstanceAsync("plain")).Pid!.Value);
        plain.Should().Contain("DAEMON_SECRET", "root-token", "an app without user or clean_env inherits the daemon's environment, as under PM2");

        foreach (var name in new[] { "nobody", "clean" })
        {
            var env = Procs.Environ((await home.InstanceAsync(name)).Pid!.Value);
            env.Keys.Should().NotContain(["DAEMON_SECRET", "NODE_OPTIONS"], $"{name}: the daemon's own variables stay with the daemon");
            env.Should().Contain("FROM_CONFIG", "1").And.Contain("LANG", "C.UTF-8").And.Contain("LC_TIME", "C").And.Contain("TZ", "UTC")
                .And.Contain("NK_APP", name).And.ContainKey("PATH");
            var unexpected = env.Keys.Where(k => !(k is "FROM_CONFIG" or "LANG" or "LC_TIME" or "TZ" or "PATH" or "HOME" or "USER" or "LOGNAME"
                or "SHELL" or "PWD" or "TMPDIR" or "NODE_APP_INSTANCE" or "NODEKEEPER_HOME" or "NK_APP" or "NK_INSTANCE" or "NK_INSTANCE_PID"
                or "NODE_CHANNEL_FD" or "NODE_CHANNEL_SERIALIZATION_MODE" or "NK_PRELOAD_ROLE" or "NK_CAPTURE" or "NK_REPORT_QUIET_MS" || k.StartsWith("LC_")));
            unexpected.Should().BeEmpty($"{name} gets a minimal environment");
        }
        var nobody = Procs.Environ((await home.InstanceAsync("nobody")).Pid!.Value);
        (nobody["USER"], nobody["LOGNAME"], nobody["HOME"]).Should().Be(("nobody", "nobody", "/nonexistent"));
        var clean = Procs.Environ((await home.InstanceAsync("clean")).Pid!.Value);
        (clean["USER"], clean["LOGNAME"], clean["HOME"]).Should().Be(("root", "root", "/root"), "a clean environment of the daemon's user still says who that is");
    }

    /// <summary>
    /// What the daemon's runtime changed for itself stays with it: .NET ignores SIGPIPE and blocks some signals on its
    /// threads, and an exec keeps both. The interpreter here is a shell script that writes down what it was handed (its
    /// ignored and blocked signals, its standard input) and then execs node.
    /// </summary>
    [Fact]
    public async Task An_app_starts_with_every_signal_at_its_default_none_blocked_and_dev_null_as_its_input()
    {
        await using var home = new TestHome();
        var seen = Path.Combine(home.Configs, "seen.txt");
        var wrapper = Path.Combine(home.Configs, "node-wrapper.sh");
        // Read with builtins only, first: the shell blocks every signal while it waits for a command it ran.
        File.WriteAllText(wrapper, "#!/bin/sh\nwhile IFS= read -r line; do case \"$line\" in SigIgn:*|SigBlk:*) echo \"$line\";; esac; done " +
            "< /proc/$$/status > \"$SEEN.tmp\"\n" +
            "echo \"stdin: $(readlink /proc/$$/fd/0)\" >> \"$SEEN.tmp\"\nmv \"$SEEN.tmp\" \"$SEEN\"\nexec node \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await home.OkAsync("start", home.WriteConfig(TestHome.App("wrapped", "worker.js",
            $"interpreter = \"{wrapper}\"\nenv = {{ SEEN = \"{seen}\" }}")));
        await home.WaitForAsync("wrapped", i => i.Status == "online" && i.HeapUsedBytes is not null, "node started through the wrapper");

        var lines = File.ReadAllLines(seen).ToDictionary(l => l[..l.IndexOf(':')], l => l[(l.IndexOf(':') + 1)..].Trim());
        // glibc before 2.38 leaves its own two internal signals (32 and 33) ignored in a posix_spawn child; glibc installs
        // its handler for either before it uses it, and no program may use them.
        var ignored = Convert.ToUInt64(lines["SigIgn"], 16) & ~((1UL << 31) | (1UL << 32));
        ignored.Should().Be(0UL, $"no signal is ignored (the daemon's runtime ignores SIGPIPE): SigIgn {lines["SigIgn"]}");
        lines["SigBlk"].Should().Be("0000000000000000", "no signal is blocked");
        lines["stdin"].Should().Be("/dev/null");
    }

    /// <summary>
    /// A daemon started with SIGCHLD ignored (a parent's choice, which exec keeps) would have .NET reap every child on
    /// SIGCHLD, before the daemon could take its status: it puts SIGCHLD back to its default first thing, and an app's
    /// exit is still seen, with its code.
    /// </summary>
    [Fact]
    public async Task A_daemon_started_with_SIGCHLD_ignored_still_sees_an_app_exit_with_its_code()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("worker", "worker.js"));
        var started = await home.RunWithAsync(["perl", "-e", "$SIG{CHLD} = 'IGNORE'; exec @ARGV or die", Repo.Nk], "start", config);
        started.Code.Should().Be(0, started.ToString());
        var daemon = home.DaemonPid()!.Value;
        var first = await home.WaitForAsync("worker", i => i.Status == "online" && i.HeapUsedBytes is not null, "online");

        Procs.Signal(first.Pid!.Value, 9, home.Home);
        var after = await home.WaitForAsync("worker", i => i.Restarts == 1 && i.Status == "online", "restarted after the kill");
        after.LastExit.Should().NotBeNull();
        after.LastExit!.Signal.Should().Be("SIGKILL", "the exit's status reached the daemon");
        Convert.ToUInt64(File.ReadLines($"/proc/{daemon}/status").First(l => l.StartsWith("SigIgn:"))["SigIgn:".Length..].Trim(), 16)
            .Should().Match(v => (v & (1UL << 16)) == 0, "SIGCHLD is not ignored by the daemon");
    }

    private static Dictionary<int, string> OpenFds(int pid)
    {
        var fds = new Dictionary<int, string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            try { fds[int.Parse(Path.GetFileName(entry))] = new FileInfo(entry).LinkTarget ?? ""; }
            catch (IOException) { }
        }
        return fds;
    }

    // node (libuv) opens every fd of its own with O_CLOEXEC; an inherited one (not close-on-exec) is nobody's but the parent's.
    private static bool OpenedByNode(int pid, int fd)
    {
        try
        {
            var flags = File.ReadLines($"/proc/{pid}/fdinfo/{fd}").First(l => l.StartsWith("flags:"));
            return (Convert.ToInt32(flags["flags:".Length..].Trim(), 8) & 0x80000 /*O_CLOEXEC*/) != 0;
        }
        catch (IOException) { return true; } // closed meanwhile
    }
}
