using System.Diagnostics;
using Xunit.Abstractions;

namespace NodeKeeper.ReliabilityTests;

/// <summary>
/// The daemon itself fails: a kill -9 in the middle of a restart storm (the next daemon takes over from state.json),
/// and a SIGTERM while several apps reload.
/// </summary>
public sealed class DaemonFaultTests(ITestOutputHelper output)
{
    /// <summary>
    /// Crashing apps restart all the time, and the test keeps SIGKILLing the instances of two servers and two workers;
    /// the daemon is killed with SIGKILL right after it launched a replacement. The next `nk status` starts a daemon that must end
    /// every process of the old generation (also one launched a moment before the kill) and bring every app back
    /// exactly once: never two live processes for one instance.
    /// </summary>
    [Fact]
    public async Task Kill_9_of_the_daemon_during_a_restart_storm_leaves_no_orphan_and_no_duplicate_instance()
    {
        await using var home = new TestHome();
        var ports = new[] { FreePort.Next(), FreePort.Next() };
        var crashers = Enumerable.Range(0, 2).Select(i => $"k{i}").ToList();
        var servers = new[] { "w0", "w1" };
        var quietWorkers = new[] { "q0", "q1" };
        var killable = servers.Concat(quietWorkers).ToArray();
        // A server and a worker that write nothing (as many do between requests): after the daemon's death no write
        // into a broken log pipe ends them, so only the next daemon can.
        var quiet = Path.Combine(home.Configs, "quiet.js");
        File.WriteAllText(quiet, "require('http').createServer((q, s) => s.end(`quiet ${process.pid}\\n`)).listen(Number(process.env.PORT));\n");
        var idle = Path.Combine(home.Configs, "idle.js");
        File.WriteAllText(idle, "setInterval(() => {}, 1 << 30);\n");
        var expected = new Dictionary<string, int> { ["k0"] = 2, ["k1"] = 2, ["w0"] = 2, ["w1"] = 2, ["q0"] = 2, ["q1"] = 2, ["bg"] = 2 };
        var config = home.WriteConfig(
            string.Concat(crashers.Select(n => TestHome.App(n, "crasher.js",
                "instances = 2\nmax_restarts = 1000\nrestart_delay = \"50ms\"\nmax_restart_delay = \"200ms\"\nenv = { CRASH_AFTER_MS = \"200\" }"))) +
            string.Concat(servers.Select((n, i) => $"[[app]]\nname = \"{n}\"\nscript = \"{quiet}\"\n" +
                $"port = {ports[i]}\nhost = \"127.0.0.1\"\ninstances = 2\nmin_uptime = \"100ms\"\nmax_restarts = 1000\nkill_timeout = \"2s\"\n")) +
            string.Concat(quietWorkers.Select(n => $"[[app]]\nname = \"{n}\"\nscript = \"{idle}\"\ninstances = 2\nmin_uptime = \"100ms\"\nmax_restarts = 1000\nkill_timeout = \"2s\"\n")) +
            TestHome.App("bg", "worker.js", "instances = 2\nkill_timeout = \"2s\""));
        var phase = Stopwatch.StartNew();
        await home.OkAsync("start", config, "--no-wait");
        await Eventually.Until(() => NkFootprint.StatusAsync(home), r => r.Where(i => killable.Contains(i.Name)).Count(i => i.Status == "online") == 8,
            TimeSpan.FromSeconds(30), "the servers and workers online");
        output.WriteLine($"started in {phase.ElapsedMilliseconds} ms");
        var daemon = home.DaemonPid() ?? throw new InvalidOperationException("no daemon");

        // The storm: the crashers restart every few hundred ms; the other instances are killed one after another.
        var rng = new Random();
        var storm = Stopwatch.StartNew();
        var kills = 0;
        while (storm.Elapsed < TimeSpan.FromSeconds(2))
        {
            if (KillOneInstance(home, killable, rng)) kills++;
            await Task.Delay(150); // the pace of the storm, not a wait for a state
        }
        // Every such instance on one live process again (a SIGKILLed one may linger a moment before it is a zombie).
        var settled = await Eventually.Last(() => Task.FromResult(NkFootprint.InstancesByName(home.Home).Where(kv => killable.Contains(kv.Key.App)).ToList()),
            l => l.Count == 8 && l.All(kv => kv.Value.Count == 1), TimeSpan.FromSeconds(10), every: TimeSpan.FromMilliseconds(100));
        settled.Should().HaveCount(8).And.OnlyContain(kv => kv.Value.Count == 1, "each instance runs once before the daemon is killed");
        // The last kill (of a quiet worker: a server's replacement reports "listening" over the IPC channel, and that
        // write into a dead daemon's channel crashes it), and the daemon's death the moment its replacement runs: its
        // pid is not yet in state.json, which is rewritten 100 ms after a change.
        var victim = settled.Where(kv => quietWorkers.Contains(kv.Key.App)).ElementAt(rng.Next(4)).Key;
        var victimPid = settled.Single(kv => kv.Key == victim).Value.Single();
        var children = DaemonChildren(daemon);
        Procs.Signal(victimPid, 9, home.Home);
        kills++;
        // Watched closely (the daemon's children lists, no scan of /proc): the first new child that runs the victim.
        var relaunch = Stopwatch.StartNew();
        int? replacement = null;
        while (replacement is null && relaunch.Elapsed < TimeSpan.FromSeconds(10))
        {
            foreach (var child in DaemonChildren(daemon))
                if (!children.Contains(child) && Procs.Environ(child).GetValueOrDefault("NK_APP") == victim.App
                    && Procs.Environ(child).GetValueOrDefault("NK_INSTANCE") == victim.Instance.ToString())
                    replacement = child;
            if (replacement is null) await Task.Yield();
        }
        replacement.Should().NotBeNull($"{victim.App}:{victim.Instance} is relaunched");
        Procs.KillOwned(daemon, home.Home); // SIGKILL from this process: no `kill` to start first
        output.WriteLine($"daemon SIGKILLed {relaunch.ElapsedMilliseconds} ms after the kill of {victim.App}:{victim.Instance}, its replacement {replacement} running");
        await Eventually.Until(() => !Procs.IsAlive(daemon), TimeSpan.FromSeconds(5), "the daemon to die");

        // With no daemon running, every live process of this home is of the old generation.
        var old = Procs.OwnedBy(home.Home).Select(p => (Pid: p, Start: NkFootprint.Identity(p)?.Start ?? -1, What: Procs.Describe(p))).ToList();
        output.WriteLine($"{kills} instance kills in {storm.Elapsed.TotalSeconds:0.0} s; daemon {daemon} killed with {old.Count} processes of its generation alive:\n  " +
            string.Join("\n  ", old.Select(o => o.What)));
        old.Should().Contain(o => o.What.Contains("quiet.js"), "the servers run when the daemon dies");
        old.Should().Contain(o => o.Pid == replacement, "the replacement runs when the daemon dies");

        var recovery = Stopwatch.StartNew();
        var status = await home.RunAsync("status", "--json");
        output.WriteLine($"the first nk status after the kill took {recovery.ElapsedMilliseconds} ms (exit {status.Code})");
        status.Code.Should().Be(0, status.ToString());
        var rows = await home.StatusAsync();
        rows.GroupBy(r => r.Name).ToDictionary(g => g.Key, g => g.Count()).Should().BeEquivalentTo(expected, "every app is back with its instances");
        var newDaemon = home.DaemonPid() ?? throw new InvalidOperationException("no new daemon");
        newDaemon.Should().NotBe(daemon);

        // The old generation is gone: each recorded process is dead (or a zombie of another parent), never still running.
        var survivors = await Eventually.Last(
            () => Task.FromResult(old.Where(o => NkFootprint.Identity(o.Pid) is { Dead: false } id && id.Start == o.Start).Select(o => o.What).ToList()),
            s => s.Count == 0, TimeSpan.FromSeconds(5), every: TimeSpan.FromMilliseconds(100));
        output.WriteLine("the new daemon's takeover:\n  " + string.Join("\n  ", File.ReadAllLines(Path.Combine(home.Home, "daemon.log"))
            .SkipWhile(l => !l.Contains("did not stop gracefully")).Where(l => l.Contains("previous daemon") || l.Contains("gracefully"))));
        survivors.Should().BeEmpty("the new daemon ends every process of the old generation, also one launched just before the kill\ndaemon.log:\n"
            + File.ReadAllText(Path.Combine(home.Home, "daemon.log")));

        // Every long-running instance online again, on exactly one live process.
        await Eventually.Until(() => NkFootprint.StatusAsync(home), r => r.Where(i => !crashers.Contains(i.Name)).Count(i => i.Status == "online") == 10,
            TimeSpan.FromSeconds(15), "every long-running instance online after the takeover");
        var live = NkFootprint.InstancesByName(home.Home);
        foreach (var (app, n) in expected)
            for (var i = 0; i < n; i++)
            {
                var pids = live.GetValueOrDefault((app, i)) ?? [];
                if (crashers.Contains(app)) pids.Count.Should().BeLessThanOrEqualTo(1, $"{app}:{i} runs at most once ({string.Join(", ", pids.Select(Procs.Describe))})");
                else pids.Should().ContainSingle($"{app}:{i} runs exactly once ({string.Join(", ", pids.Select(Procs.Describe))})");
            }
        rows = await home.StatusAsync();
        foreach (var s in killable.Append("bg"))
            for (var i = 0; i < 2; i++)
                rows.Single(r => r.Name == s && r.Instance == i).Pid.Should().Be(live[(s, i)].Single(), $"status shows the one process of {s}:{i}");
        foreach (var port in ports) (await FreshHttp.Get(port)).Should().StartWith("quiet");
        (await home.OkAsync("ping")).Code.Should().Be(0);
        output.WriteLine($"test body took {phase.ElapsedMilliseconds} ms");
    }

    /// <summary>The daemon's children, from /proc/PID/task/TID/children of its threads.</summary>
    private static HashSet<int> DaemonChildren(int daemon)
    {
        var pids = new HashSet<int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{daemon}/task"))
                try
                {
                    foreach (var p in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries)) pids.Add(int.Parse(p));
                }
                catch (IOException) { }
        }
        catch (IOException) { }
        return pids;
    }

    private static bool KillOneInstance(TestHome home, string[] apps, Random rng)
    {
        var candidates = NkFootprint.InstancesByName(home.Home).Where(kv => apps.Contains(kv.Key.App)).SelectMany(kv => kv.Value).ToList();
        if (candidates.Count == 0) return false;
        var pid = candidates[rng.Next(candidates.Count)];
        try { Procs.Signal(pid, 9, home.Home); return true; }
        catch (InvalidOperationException) { return false; } // ended meanwhile
    }

    /// <summary>
    /// Three apps of two instances reload (one after another, as `nk reload all` does) when SIGTERM reaches the daemon:
    /// the first app already runs its new generation, the second is retiring an old instance that takes its time, the
    /// third has not started. Every process of every generation ends gracefully, and the daemon exits.
    /// </summary>
    [Fact]
    public async Task SIGTERM_while_three_apps_of_two_instances_reload_stops_every_generation_and_the_daemon_exits()
    {
        await using var home = new TestHome();
        var ports = new[] { FreePort.Next(), FreePort.Next() };
        string Config(string version) =>
            TestHome.App("r0", "ready-message.js", $"port = {ports[0]}\nhost = \"127.0.0.1\"\ninstances = 2\nready = \"message\"\nenv = {{ READY_AFTER_MS = \"100\", V = \"{version}\" }}") +
            TestHome.App("r1", "graceful.js", $"instances = 2\nkill_timeout = \"20s\"\nenv = {{ SHUTDOWN_MS = \"{(version == "1" ? 1500 : 500)}\", V = \"{version}\" }}") +
            TestHome.App("r2", "http-server.js", $"port = {ports[1]}\nhost = \"127.0.0.1\"\ninstances = 2\nenv = {{ V = \"{version}\" }}");
        var config = home.WriteConfig(Config("1"));
        await home.OkAsync("start", config);
        await Eventually.Until(() => Task.FromResult(File.Exists(Path.Combine(home.Logs, "r1.out.log")) ? File.ReadAllText(Path.Combine(home.Logs, "r1.out.log")) : ""),
            t => t.Split("started").Length == 3, TimeSpan.FromSeconds(10), "both r1 instances started");
        var first = (await home.StatusAsync()).ToDictionary(r => (r.Name, r.Instance), r => r.Pid!.Value);
        home.WriteConfig(Config("2"));

        var daemon = home.DaemonPid() ?? throw new InvalidOperationException("no daemon");

        var reload = home.RunAsync("reload", "all");
        // r0 is swapped to its new generation; r1's first old instance then takes 1.5 s to finish after its SIGTERM.
        await home.WaitForLogAsync("r1", $"graceful {first[("r1", 0)]}: SIGTERM received", seconds: 30);
        Procs.Signal(daemon, 15, home.Home);
        reload.IsCompleted.Should().BeFalse("the SIGTERM comes in the middle of the reload");
        first.Where(f => f.Key.Name == "r0").Select(f => f.Value).Where(Procs.IsAlive).Should().BeEmpty("r0 already runs its new generation");
        var during = Procs.OwnedBy(home.Home).Where(p => p != daemon).Select(Procs.Describe).ToList();
        output.WriteLine($"SIGTERM to daemon {daemon}; app processes then:\n  " + string.Join("\n  ", during));

        var clock = Stopwatch.StartNew();
        try
        {
            await Eventually.Until(() => Task.FromResult(Procs.OwnedBy(home.Home).Select(Procs.Describe).ToList()), left => left.Count == 0,
                TimeSpan.FromSeconds(30), "the daemon and every generation of every app to end");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\ndaemon.log:\n" + File.ReadAllText(Path.Combine(home.Home, "daemon.log")), ex);
        }
        output.WriteLine($"everything ended {clock.ElapsedMilliseconds} ms after the SIGTERM");
        var result = await reload;
        output.WriteLine($"nk reload all: {result}");
        result.Code.Should().NotBe(0, "the reload was cut short");
        result.Err.Should().Contain("shutting down").And.NotContain("   at ");

        var r1 = File.ReadAllText(Path.Combine(home.Logs, "r1.out.log"));
        var graceful = r1.Split('\n').Where(l => l.Contains(": started")).Select(l => l.Split(' ')[^2].TrimEnd(':')).Distinct().ToList();
        graceful.Should().HaveCountGreaterThanOrEqualTo(3, "both old r1 instances and at least one replacement ran");
        foreach (var pid in graceful)
            r1.Should().Contain($"graceful {pid}: clean exit", $"r1 process {pid} was stopped gracefully, not killed");
        File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Should().Contain("daemon stopped");
        Procs.IsAlive(daemon).Should().BeFalse();
    }
}
