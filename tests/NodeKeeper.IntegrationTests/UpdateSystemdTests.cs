using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// `nk update` as systemd sees it (the unit of `nk startup`, Type=notify: a fake $NOTIFY_SOCKET stands in for systemd),
/// and the daemon's part as a child subreaper across the exec: orphans of apps are still reparented to it and reaped,
/// and end with their app; an app started after the update is the new image's own child.
/// </summary>
public sealed class UpdateSystemdTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Under_systemd_nk_update_keeps_the_main_pid_says_RELOADING_then_READY_and_the_daemon_still_stops_cleanly(bool abstractName)
    {
        await using var home = new TestHome();
        await using var systemd = new FakeNotifySocket(abstractName ? $"@nk-notify-{Guid.NewGuid():N}" : Path.Combine(home.Configs, "notify"));
        // As the unit runs it: `nk-full daemon` in the foreground, with NOTIFY_SOCKET set.
        await using var daemon = new ForegroundDaemon(home, ("NOTIFY_SOCKET", systemd.Name));
        var pid = daemon.Pid;
        // Microsoft.Extensions.Hosting.Systemd says READY=1 at the first start only under systemd itself (parent pid 1):
        // here nothing is said before the update.
        await Eventually.Until(async () => (await home.RunAsync("ping")).Code, c => c == 0, TimeSpan.FromSeconds(20), "nk daemon to serve");
        home.DaemonPid().Should().Be(pid, "the foreground process is the daemon");

        var config = home.WriteConfig(TestHome.App("w", "worker.js", "env = { TICK_MS = \"200\" }"));
        await home.OkAsync("start", config);
        var before = await home.WaitForAsync("w", i => i.Status == "online" && i.Pid is not null, "w online");
        // Its SIGTERM handler is installed once it runs its script: a job done says so (online is as soon as it spawned).
        await home.WaitForLogAsync("w", "job 1 done");
        var exeBefore = Exe(pid);

        var update = await home.RunAsync("update");
        update.Code.Should().Be(0, $"{update}\ndaemon.log:\n{home.DaemonLogTail()}");
        update.Out.Should().Contain($"(pid {pid})");

        // The same process (systemd's main pid), a new image: the exec's argv, and the process the test started still runs.
        daemon.HasExited.Should().BeFalse("the process started as `nk daemon` runs on");
        home.DaemonPid().Should().Be(pid, "the main pid does not change");
        Cmdline(pid).Should().Contain("--adopt", "the image was replaced by execve (same pid, the hand-over's argv)");
        Exe(pid).Should().Be(exeBefore, "no --path: the binary it was started from");

        // RELOADING=1 (with the monotonic time systemd >= 253 checks) before the exec, READY=1 from the new image.
        var said = await Eventually.Until(() => Task.FromResult(systemd.Received), d => d.Any(m => m.StartsWith("READY=1")),
            TimeSpan.FromSeconds(10), "READY=1 on the notify socket");
        var reloading = said.FindIndex(m => m.StartsWith("RELOADING=1\n"));
        reloading.Should().BeGreaterThanOrEqualTo(0, string.Join(" | ", said));
        said.Take(reloading).Should().BeEmpty("outside systemd the hosting library says nothing: what is heard is NodeKeeper's own");
        var ready = said.FindIndex(reloading, m => m.StartsWith("READY=1\n"));
        ready.Should().BeGreaterThan(reloading, "READY=1 comes after RELOADING=1: " + string.Join(" | ", said));
        said.Count(m => m.StartsWith("RELOADING=1")).Should().Be(1);
        said[ready].Should().Contain("STATUS=nk update: daemon").And.NotContain("failed");
        var usec = Field(said[reloading], "MONOTONIC_USEC");
        usec.Should().NotBeNull(said[reloading]);
        // CLOCK_MONOTONIC in microseconds (what systemd compares with its own): before now, and not long before.
        var now = Stopwatch.GetTimestamp() / (Stopwatch.Frequency / 1_000_000);
        long.Parse(usec!).Should().BeInRange(now - 60_000_000, now, said[reloading]);
        Field(said[reloading], "STATUS").Should().NotBeNullOrEmpty();

        // The app was adopted as it ran, and the new image serves it.
        var after = await home.InstanceAsync("w");
        after.Pid.Should().Be(before.Pid);
        after.Status.Should().Be("online");
        Ppid(before.Pid!.Value).Should().Be(pid, "the app is still the daemon's child");

        // systemctl stop: SIGTERM to the main pid; every app stops, the daemon exits 0, nothing is left.
        Procs.Signal(pid, 15, home.Home);
        var code = await daemon.ExitAsync(TimeSpan.FromSeconds(15));
        code.Should().Be(0, $"{daemon.Output}\ndaemon.log:\n{home.DaemonLogTail()}");
        await Eventually.Until(() => Task.FromResult(Procs.OwnedBy(home.Home).Select(Procs.Describe).ToList()), l => l.Count == 0,
            TimeSpan.FromSeconds(10), "no process of this home left");
        File.ReadAllText(Path.Combine(home.Logs, "w.out.log")).Should().Contain($"worker {before.Pid}: finishing", "the adopted app got its SIGTERM");
        File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Should().Contain("daemon stopped");
    }

    [Fact]
    public async Task After_nk_update_orphans_are_reparented_to_the_daemon_reaped_and_end_with_their_app_and_a_new_app_restarts()
    {
        await using var home = new TestHome();
        var orphans = Path.Combine(home.Configs, "orphans");
        Directory.CreateDirectory(orphans);
        // At start and on each SIGUSR2, leaves behind a `sleep 60` (the shell that started it in the background exits
        // at once, so it is reparented to the nearest subreaper) and writes its pid to ORPHANS/N.
        var script = Path.Combine(home.Configs, "leaver.js");
        File.WriteAllText(script, """
            'use strict';
            const { spawn } = require('child_process');
            const dir = process.env.ORPHANS;
            let n = 0;
            const leave = () => { const f = `${dir}/${n++}`; spawn('sh', ['-c', `sleep 60 & echo $! > ${f}.tmp && mv ${f}.tmp ${f}`], { stdio: 'ignore' }); };
            leave();
            process.on('SIGUSR2', leave);
            setInterval(() => {}, 1 << 30);
            """);
        var config = home.WriteConfig(
            $"[[app]]\nname = \"o\"\nscript = \"{script}\"\nkill_timeout = \"2s\"\nenv = {{ ORPHANS = \"{orphans}\" }}\n" +
            TestHome.App("sp", "spawner.js", "kill_timeout = \"2s\""));
        await home.OkAsync("start", config);
        var app = await home.WaitForAsync("o", i => i.Status == "online" && i.Pid is not null, "o online");
        var line = await home.WaitForLogAsync("sp", "detached");
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var detached = int.Parse(words[Array.IndexOf(words, "detached") + 1]);
        var daemon = home.DaemonPid()!.Value;
        var first = await OrphanAsync(orphans, 0, daemon);

        var update = await home.RunAsync("update");
        update.Code.Should().Be(0, $"{update}\ndaemon.log:\n{home.DaemonLogTail()}");
        home.DaemonPid().Should().Be(daemon);
        Cmdline(daemon).Should().Contain("--adopt", "a new image in the same process");
        (await home.InstanceAsync("o")).Pid.Should().Be(app.Pid, "adopted, not restarted");

        // An orphan from before the update: still the daemon's child, and reaped by the new image once it ends.
        Ppid(first).Should().Be(daemon);
        await EndsAndIsReapedAsync(first, daemon, home);

        // An orphan left after the update: the new image is still a child subreaper (not init, not the test host).
        Procs.Signal(app.Pid!.Value, 12, home.Home);
        var second = await OrphanAsync(orphans, 1, daemon);
        await EndsAndIsReapedAsync(second, daemon, home);

        // One more left behind, and the spawner's detached child: both end with their app when it is stopped.
        Procs.Signal(app.Pid!.Value, 12, home.Home);
        var third = await OrphanAsync(orphans, 2, daemon);
        await home.OkAsync("stop", "o", "sp");
        foreach (var pid in new[] { third, detached, app.Pid!.Value })
        {
            Procs.IsAlive(pid).Should().BeFalse($"{Procs.Describe(pid)} ends with its app");
            Procs.IsZombie(pid).Should().BeFalse($"{Procs.Describe(pid)} is reaped");
        }

        // An app started after the update is the new image's own child: it crashes, its exit code is read, it restarts.
        // (A config file of its own: `nk start` again with the first one would start the stopped apps.)
        var crash = home.WriteConfig(TestHome.App("c", "crasher.js", "restart_delay = \"100ms\"\nenv = { EXIT_CODE = \"3\", CRASH_AFTER_MS = \"300\" }"), "crash.toml");
        await home.OkAsync("start", crash, "--no-wait");
        var crashed = await home.WaitForAsync("c", i => i.Restarts >= 2 && i.LastExit is not null, "c restarted twice", 15);
        crashed.LastExit!.Code.Should().Be(3, "the exit code of a child the new image started");
        crashed.LastExit.Signal.Should().BeNull();
        crashed.LastExit.Reason.Should().Be("crash");
        await home.WaitForAsync("c", i => i.Pid is { } p && Ppid(p) == daemon, "c running again as the daemon's child");
        await Eventually.Until(() => Task.FromResult(ZombieChildren(daemon)), z => z.Count == 0, TimeSpan.FromSeconds(3), "no zombie child of the daemon");
        (await home.InstanceAsync("o")).Status.Should().Be("stopped");
    }

    [Fact]
    public async Task Adopted_apps_that_exit_while_the_new_image_starts_keep_their_exit_codes()
    {
        await using var home = new TestHome();
        // Each instance exits with 7 a little after the daemon has exec'd its new image (its command line then carries
        // --adopt): instance N after N × 30 ms, so that some end while the new image starts, before and after it has
        // taken on the apps' pids (the ahead-of-time compiled nk-full starts in a few ms); each exit's status must reach
        // the new image, not be reaped as an orphan's. (An exit before the exec, in the instant the old image's runtime
        // collects it, is outside this test: see the README's notes on nk update.)
        var script = Path.Combine(home.Configs, "exit-on-update.js");
        File.WriteAllText(script, """
            'use strict';
            const fs = require('fs');
            const delay = Number(process.env.NK_INSTANCE) * 30;
            const poll = setInterval(() => {
              let cmdline = '';
              try { cmdline = fs.readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8'); } catch {}
              if (cmdline.includes('--adopt')) { clearInterval(poll); setTimeout(() => process.exit(7), delay); }
            }, 2);
            setInterval(() => {}, 1 << 30);
            """);
        var config = home.WriteConfig($"[[app]]\nname = \"x\"\nscript = \"{script}\"\ninstances = 6\nrestart = \"never\"\n");
        await home.OkAsync("start", config);
        await home.WaitForAllAsync("x", i => i.Status == "online" && i.Pid is not null, "x online");
        var daemon = home.DaemonPid()!.Value;

        var update = await home.RunAsync("update");
        update.Code.Should().Be(0, $"{update}\ndaemon.log:\n{home.DaemonLogTail()}");
        home.DaemonPid().Should().Be(daemon);
        var ended = await home.WaitForAllAsync("x", i => i.Pid is null && i.LastExit is not null, "every instance of x to have exited", 15);
        ended.Select(i => $"x:{i.Instance} code {i.LastExit!.Code?.ToString() ?? "null"}").Should()
            .AllSatisfy(e => e.Should().EndWith("code 7"), $"each exit status is read by the new image\ndaemon.log:\n{home.DaemonLogTail(40)}");
        await Eventually.Until(() => Task.FromResult(ZombieChildren(daemon)), z => z.Count == 0, TimeSpan.FromSeconds(3), "no zombie child of the daemon");
    }

    /// <summary>Waits for the pid of orphan N, then for it to be reparented to the daemon.</summary>
    private static async Task<int> OrphanAsync(string dir, int n, int daemon)
    {
        var file = Path.Combine(dir, n.ToString());
        await Eventually.Until(() => File.Exists(file), TimeSpan.FromSeconds(10), $"orphan {n} to be left");
        var pid = int.Parse(File.ReadAllText(file).Trim());
        await Eventually.Until(() => Task.FromResult(Ppid(pid)), p => p == daemon, TimeSpan.FromSeconds(5), $"orphan {n} ({Procs.Describe(pid)}) to be reparented to the daemon {daemon}");
        // `sleep 60 &` forks a shell that then execs sleep: for a moment the orphan may still be that shell.
        await Procs.UntilRunsAsync(pid, "sleep", TimeSpan.FromSeconds(5));
        return pid;
    }

    /// <summary>Ends an orphan of the daemon; it must be reaped at once (SIGCHLD), not by the sampler's pass every 5 s.</summary>
    private static async Task EndsAndIsReapedAsync(int pid, int daemon, TestHome home)
    {
        Procs.Signal(pid, 15, home.Home);
        await Eventually.Until(() => Task.FromResult(Procs.Describe(pid)), _ => !Procs.IsAlive(pid) && !Procs.IsZombie(pid),
            TimeSpan.FromSeconds(2), $"the orphan {pid} to end and be reaped by the daemon {daemon}", TimeSpan.FromMilliseconds(20));
    }

    private static int Ppid(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
        }
        catch (Exception ex) when (ex is IOException or FormatException) { return -1; }
    }

    private static string Cmdline(int pid) => File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();

    private static string Exe(int pid) => new FileInfo($"/proc/{pid}/exe").LinkTarget ?? "";

    private static string? Field(string message, string key) =>
        message.Split('\n').FirstOrDefault(l => l.StartsWith(key + "="))?[(key.Length + 1)..];

    private static List<string> ZombieChildren(int daemon)
    {
        var zombies = new List<string>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{daemon}/task"))
                foreach (var word in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    if (int.TryParse(word, out var pid) && Procs.IsZombie(pid)) zombies.Add(Procs.Describe(pid));
        }
        catch (IOException) { }
        return zombies;
    }

    /// <summary>What systemd listens on: a Unix datagram socket (a path, or "@name" in the abstract namespace) and what it received.</summary>
    private sealed class FakeNotifySocket : IAsyncDisposable
    {
        private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        private readonly List<string> _received = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _receiving;

        public FakeNotifySocket(string name)
        {
            Name = name;
            _socket.Bind(new UnixDomainSocketEndPoint(name[0] == '@' ? "\0" + name[1..] : name));
            _receiving = Task.Run(async () =>
            {
                var buffer = new byte[4096];
                try
                {
                    while (true)
                    {
                        var n = await _socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                        lock (_received) _received.Add(Encoding.UTF8.GetString(buffer, 0, n));
                    }
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException) { }
            });
        }

        /// <summary>The value of NOTIFY_SOCKET.</summary>
        public string Name { get; }

        public List<string> Received { get { lock (_received) return [.. _received]; } }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _receiving;
            _socket.Dispose();
            _stop.Dispose();
            if (Name[0] != '@') File.Delete(Name);
        }
    }

    /// <summary>`nk-full daemon` in the foreground, as the unit of `nk startup` runs it; killed by its own handle when disposed.</summary>
    private sealed class ForegroundDaemon : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _out = new();

        public ForegroundDaemon(TestHome home, params (string Name, string Value)[] env)
        {
            var psi = new ProcessStartInfo(Repo.NkFull)
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = home.Configs,
            };
            psi.ArgumentList.Add("daemon");
            psi.Environment["NODEKEEPER_HOME"] = home.Home;
            psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            foreach (var (name, value) in env) psi.Environment[name] = value;
            _process = Process.Start(psi)!;
            _process.OutputDataReceived += (_, e) => { lock (_out) _out.AppendLine(e.Data); };
            _process.ErrorDataReceived += (_, e) => { lock (_out) _out.AppendLine(e.Data); };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public int Pid => _process.Id;
        public bool HasExited => _process.HasExited;
        public string Output { get { lock (_out) return _out.ToString(); } }

        /// <summary>Waits for the daemon to exit; returns its exit code.</summary>
        public async Task<int> ExitAsync(TimeSpan timeout)
        {
            try { await _process.WaitForExitAsync().WaitAsync(timeout); }
            catch (TimeoutException) { throw new TimeoutException($"nk daemon did not exit within {timeout.TotalSeconds}s; it printed:\n{Output}"); }
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            // Our own child, by its handle; what it left is killed by pid by the TestHome, after its check.
            if (!_process.HasExited) _process.Kill();
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
