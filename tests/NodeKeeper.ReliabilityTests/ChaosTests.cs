using System.Diagnostics;
using Xunit.Abstractions;

namespace NodeKeeper.ReliabilityTests;

/// <summary>
/// Random SIGKILLs to running instances, and a storm of apps that crash all at once: every instance comes back,
/// every kill is counted exactly once, and the daemon keeps answering without leaking fds, memory or zombies.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const int Apps = 5;
    private const int InstancesPerApp = 2;
    private const int Kills = 60;
    private static readonly TimeSpan KillWindow = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Sixty_random_SIGKILLs_over_ten_instances_are_each_restarted_once_and_leave_no_zombie_or_leak()
    {
        await using var home = new TestHome();
        var ports = Enumerable.Range(0, Apps).Select(_ => FreePort.Next()).ToArray();
        // min_uptime 500ms: an instance that ran that long restarts at once; one hit twice within it backs off
        // (100 ms, doubling), and max_restarts is high enough that a run of bad luck never leaves it errored.
        var config = home.WriteConfig(string.Concat(ports.Select((p, i) => TestHome.App($"c{i}", "http-server.js",
            $"port = {p}\nhost = \"127.0.0.1\"\ninstances = {InstancesPerApp}\nmin_uptime = \"500ms\"\nmax_restarts = 100"))));
        await home.OkAsync("start", config);
        var daemon = home.DaemonPid() ?? throw new InvalidOperationException("no daemon");
        // A warm-up: every instance killed once (the daemon's code for an exit and a restart runs for the first time,
        // and its caches fill), back online and sampled once (the sampler keeps their /proc files open from then on).
        foreach (var pid in NkFootprint.Instances(home.Home)) Procs.Signal(pid, 9, home.Home);
        var warm = await Eventually.Until(() => NkFootprint.StatusAsync(home),
            r => r.Count == Apps * InstancesPerApp && r.All(i => i.Status == "online" && i.Restarts == 1 && i.MemoryBytes is not null),
            TimeSpan.FromSeconds(20), "every instance restarted once, online and sampled");
        foreach (var port in ports) (await FreshHttp.Get(port)).Should().StartWith("hello");
        // And as many status reads as the kills below make (the daemon's heap grows to its working size with them).
        for (var i = 0; i < 150; i++) await NkFootprint.StatusAsync(home);
        var before = await NkFootprint.SteadyAsync(daemon);
        var restartsBefore = warm.ToDictionary(i => (i.Name, i.Instance), i => i.Restarts);
        output.WriteLine($"daemon {daemon} before the kills: {before}");

        var seed = Environment.TickCount;
        var rng = new Random(seed);
        var killed = new HashSet<(int Pid, long Start)>();
        var hitsPer = new Dictionary<(string App, int Instance), int>();
        int hits = 0, deadKills = 0;
        // The pids come from the daemon's status, refreshed in the background every 100 ms: the kills keep their
        // schedule however slow the machine is, and a pid may be stale (its process already killed).
        var latest = await NkFootprint.StatusAsync(home);
        using var stopRefresh = new CancellationTokenSource();
        var statusCalls = 0;
        var refresh = Task.Run(async () =>
        {
            while (!stopRefresh.IsCancellationRequested)
            {
                Volatile.Write(ref latest, await NkFootprint.StatusAsync(home));
                Interlocked.Increment(ref statusCalls);
                try { await Task.Delay(100, stopRefresh.Token); } catch (OperationCanceledException) { }
            }
        });
        var clock = Stopwatch.StartNew();
        for (var k = 0; k < Kills; k++)
        {
            // The schedule of the chaos (a kill every 250 ms), not a wait for a state.
            var due = KillWindow * k / Kills;
            if (clock.Elapsed < due) await Task.Delay(due - clock.Elapsed);
            var rows = Volatile.Read(ref latest);
            int pid;
            if (k % 6 == 5 && killed.Count > 0)
                pid = killed.ElementAt(rng.Next(killed.Count)).Pid; // a pid that was killed before: must not count again
            else if (rows.Where(r => r.Pid is not null).ToList() is { Count: > 0 } withPid)
                pid = withPid[rng.Next(withPid.Count)].Pid!.Value;
            else { deadKills++; continue; }

            var target = NkFootprint.Identity(pid);
            if (target is not { Dead: false } live || killed.Contains((pid, live.Start)))
            {
                // Gone, a zombie, or already SIGKILLed and not torn down yet: a kill that hits no live instance.
                deadKills++;
                continue;
            }
            var env = Procs.Environ(pid);
            if (!env.TryGetValue("NK_APP", out var app) || !int.TryParse(env.GetValueOrDefault("NK_INSTANCE"), out var instance))
            {
                deadKills++;
                continue;
            }
            Procs.Signal(pid, 9, home.Home);
            killed.Add((pid, live.Start));
            hits++;
            hitsPer[(app, instance)] = hitsPer.GetValueOrDefault((app, instance)) + 1;
        }
        var lastKill = clock.Elapsed;
        await stopRefresh.CancelAsync();
        await refresh;
        output.WriteLine($"seed {seed}: {Kills} kills in {lastKill.TotalSeconds:0.0} s ({statusCalls} status reads), {hits} hit a live instance, {deadKills} hit a dead pid");

        // Every instance online again, each on a process that was not killed, within 10 s of the last kill.
        bool Fresh(NodeKeeper.Core.Protocol.InstanceInfo i) =>
            i.Status == "online" && i.Pid is { } p && NkFootprint.Identity(p) is { Dead: false } id && !killed.Contains((p, id.Start));
        var back = Stopwatch.StartNew();
        var after = await Eventually.Until(() => NkFootprint.StatusAsync(home), r => r.Count == Apps * InstancesPerApp && r.All(Fresh),
            TimeSpan.FromSeconds(10), "every instance online again on a process that was not killed");
        output.WriteLine($"every instance online {back.ElapsedMilliseconds} ms after the last kill; restarts per instance: " +
            string.Join(", ", after.Select(i => $"{i.Name}:{i.Instance}={i.Restarts}")));

        after.Sum(i => i.Restarts - restartsBefore[(i.Name, i.Instance)]).Should().Be(hits, "each kill of a live instance is one restart, and a kill of a dead pid none");
        foreach (var i in after)
            (i.Restarts - restartsBefore[(i.Name, i.Instance)]).Should().Be(hitsPer.GetValueOrDefault((i.Name, i.Instance)), $"{i.Name}:{i.Instance} was killed that many times");
        after.Select(i => i.Pid).Should().OnlyHaveUniqueItems();
        NkFootprint.Instances(home.Home).Should().HaveCount(Apps * InstancesPerApp, "one process per instance, no leftover of a killed one");
        foreach (var port in ports) (await FreshHttp.Get(port)).Should().StartWith("hello", $"port {port} serves again");

        var zombies = await NkFootprint.NoZombiesAsync(daemon);
        zombies.Should().BeEmpty("the daemon reaps every child it lost");

        await Eventually.Until(() => NkFootprint.StatusAsync(home), r => r.All(i => i.MemoryBytes is not null), TimeSpan.FromSeconds(10), "every new instance sampled");
        var end = await NkFootprint.SettleAsync(daemon, before, fdSlack: 5, rssSlackMb: 20);
        output.WriteLine($"daemon after the kills: {end}");
        end.Fds.Should().BeLessThanOrEqualTo(before.Fds + 5, $"fds back near {before.Fds} ({end})");
        end.RssKb.Should().BeLessThanOrEqualTo(before.RssKb + 20 * 1024, $"RSS back near {before.RssKb / 1024} MiB ({end})");
    }

}

/// <summary>
/// Twenty apps crash at once, again and again (at least ten seconds, and until each has crashed and come back three more
/// times): the daemon keeps answering, `nk stop all` leaves no process behind, and the daemon's fds and memory are where
/// they were. (A class of its own: it runs beside ChaosTests.)
/// </summary>
public sealed class CrashStormTests(ITestOutputHelper output)
{
    private const int Rounds = 3;
    private static readonly TimeSpan MinStorm = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MaxStorm = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Twenty_apps_crashing_at_once_again_and_again_leave_the_daemon_responsive_and_stop_all_leaves_nothing()
    {
        const int count = 20;
        await using var home = new TestHome();
        var config = home.WriteConfig(string.Concat(Enumerable.Range(0, count).Select(i => TestHome.App($"s{i:00}", "crasher.js",
            "max_restarts = 1000\nrestart_delay = \"50ms\"\nmax_restart_delay = \"200ms\"\nkill_timeout = \"2s\"\nenv = { CRASH_AFTER_MS = \"200\" }"))));
        // A warm-up storm of the same shape, then the state to compare with: the daemon with its 20 apps loaded (their
        // log files open) and stopped, as after the storm. The first storm fills the pool of pipe buffers and, in this
        // JIT-compiled test build, compiles the code of every path a restart takes; what a second storm leaves behind
        // is what would leak.
        await home.OkAsync("start", config, "--no-wait");
        await Eventually.Until(() => NkFootprint.StatusAsync(home), r => r.Count == count && r.All(i => i.Restarts >= Rounds), MaxStorm,
            $"every app restarted {Rounds} times");
        await home.OkAsync("stop", "all");
        var daemon = home.DaemonPid() ?? throw new InvalidOperationException("no daemon");
        var before = await NkFootprint.SteadyAsync(daemon);
        var warmUp = (await NkFootprint.StatusAsync(home)).ToDictionary(r => r.Name, r => r.Restarts);
        output.WriteLine($"daemon {daemon} with {count} stopped apps after {warmUp.Values.Sum()} warm-up restarts: {before}");

        await home.OkAsync("start", config, "--no-wait");
        var storm = Stopwatch.StartNew();
        var roundTrips = new List<long>();
        var peak = before;
        // The command as a user would type it, one after another for as long as the storm lasts (on a busy machine the
        // start of the client process, not the daemon, is most of its time).
        var pings = new List<(NkResult Result, long Ms)>();
        using var stormOver = new CancellationTokenSource();
        var pinging = Task.Run(async () =>
        {
            while (!stormOver.IsCancellationRequested)
            {
                var t = Stopwatch.StartNew();
                var r = await home.RunAsync("ping");
                lock (pings) pings.Add((r, t.ElapsedMilliseconds));
                // A pause between them: each client is a .NET process start, and the storm already takes both cores.
                try { await Task.Delay(2000, stormOver.Token); } catch (OperationCanceledException) { }
            }
        });
        // The daemon itself, each second: a ping on its control socket (no client process to start), its figures, and
        // how far each app has come. How many crashes fit in a second depends on the machine (20 node starts share two
        // cores), so the storm ends on the count, not on the clock; the clock only bounds it.
        try
        {
            for (var second = 1; ; second++)
            {
                var ms = await NkFootprint.PingAsync(home);
                roundTrips.Add(ms);
                ms.Should().BeLessThan(5000, $"the daemon answers a ping on its socket within 5 s (second {second})");
                var now = NkFootprint.Of(daemon);
                peak = new DaemonFigures(Math.Max(peak.Fds, now.Fds), Math.Max(peak.RssKb, now.RssKb), Math.Max(peak.Threads, now.Threads));
                var since = (await NkFootprint.StatusAsync(home)).ToDictionary(r => r.Name, r => r.Restarts - warmUp[r.Name]);
                if (storm.Elapsed >= MinStorm && since.Values.All(n => n >= Rounds)) break;
                storm.Elapsed.Should().BeLessThan(MaxStorm,
                    $"every app crashes and comes back {Rounds} times within {MaxStorm.TotalSeconds} s (so far: {string.Join(", ", since.Select(s => $"{s.Key} {s.Value}"))})");
                // The schedule of the checks (one each second), not a wait for a state.
                var due = TimeSpan.FromSeconds(second);
                if (storm.Elapsed < due) await Task.Delay(due - storm.Elapsed);
            }
        }
        finally
        {
            // Also when an assertion above fails: the client loop must not outlive the test.
            await stormOver.CancelAsync();
        }
        var rows = await NkFootprint.StatusAsync(home);
        var restarts = rows.Sum(r => r.Restarts - warmUp[r.Name]);
        var lasted = storm.Elapsed;
        rows.Should().NotContain(r => r.Status == "errored", "max_restarts = 1000 keeps them restarting");

        var stop = Stopwatch.StartNew();
        await home.OkAsync("stop", "all");
        output.WriteLine($"nk stop all took {stop.ElapsedMilliseconds} ms");
        await pinging;
        output.WriteLine($"storm of {lasted.TotalSeconds:0.0} s: {restarts} restarts; ping round trips {string.Join("/", roundTrips)} ms, nk ping {string.Join("/", pings.Select(p => p.Ms))} ms; peak {peak}");
        pings.Should().NotBeEmpty();
        foreach (var (result, ms) in pings)
        {
            result.Code.Should().Be(0, $"nk ping answers during the storm: {result}");
            ms.Should().BeLessThan(30_000, "nk ping answers within 30 s");
        }
        NkFootprint.Instances(home.Home).Select(Procs.Describe).Should().BeEmpty("nk stop all leaves no app process behind");
        (await home.StatusAsync()).Should().OnlyContain(r => r.Status == "stopped" && r.Pid == null);
        (await NkFootprint.NoZombiesAsync(daemon)).Should().BeEmpty("every crashed process was reaped");

        var end = await NkFootprint.SettleAsync(daemon, before, fdSlack: 5, rssSlackMb: 20);
        output.WriteLine($"daemon after the storm: {end}");
        end.Fds.Should().BeLessThanOrEqualTo(before.Fds + 5, $"fds back near {before.Fds} ({end})");
        end.RssKb.Should().BeLessThanOrEqualTo(before.RssKb + 20 * 1024, $"RSS back near {before.RssKb / 1024} MiB ({end})");
    }
}

/// <summary>The daemon's open files, resident memory and threads, from /proc/PID/fd and /proc/PID/status.</summary>
public sealed record DaemonFigures(int Fds, long RssKb, int Threads)
{
    public override string ToString() => $"{Fds} fds, RSS {RssKb / 1024.0:0.0} MiB, {Threads} threads";
}

/// <summary>What the reliability tests read in /proc about the daemon and its instances.</summary>
public static class NkFootprint
{
    public static DaemonFigures Of(int pid)
    {
        var fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length;
        long rss = 0;
        var threads = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            else if (line.StartsWith("Threads:", StringComparison.Ordinal)) threads = int.Parse(line.Split('\t', ' ').Last(s => s.Length > 0));
        }
        return new DaemonFigures(fds, rss, threads);
    }

    /// <summary>
    /// `nk status --json` without the client process: the same request on the daemon's control socket. Polling loops use
    /// it, since each nk process (a JIT-compiled .NET program under test) costs a few hundred ms of CPU on 2 cores.
    /// </summary>
    public static async Task<List<NodeKeeper.Core.Protocol.InstanceInfo>> StatusAsync(TestHome home)
    {
        var (client, _, error) = NodeKeeper.Cli.ControlClient.TryConnect(Path.Combine(home.Home, "nk.sock"));
        if (client is null) throw new InvalidOperationException($"no daemon answers: {error}");
        using (client)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var r = await client.SendAsync(new NodeKeeper.Core.Protocol.Request { Cmd = NodeKeeper.Core.Protocol.Commands.Status }, deadline.Token);
            if (!r.Ok) throw new InvalidOperationException($"status failed: {r.Error}");
            return [.. r.Instances ?? []];
        }
    }

    /// <summary>A ping on the daemon's control socket; returns how long the answer took (ms).</summary>
    public static async Task<long> PingAsync(TestHome home)
    {
        var t = Stopwatch.StartNew();
        var (client, _, error) = NodeKeeper.Cli.ControlClient.TryConnect(Path.Combine(home.Home, "nk.sock"));
        if (client is null) throw new InvalidOperationException($"no daemon answers: {error}");
        using (client)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var pong = await client.SendAsync(new NodeKeeper.Core.Protocol.Request { Cmd = NodeKeeper.Core.Protocol.Commands.Ping }, deadline.Token);
            if (!pong.Ok) throw new InvalidOperationException($"ping failed: {pong.Error}");
        }
        return t.ElapsedMilliseconds;
    }

    /// <summary>
    /// The figures once two readings 300 ms apart show the same fd count (nothing being opened or closed); fails with
    /// the last two readings when the count never holds still: a baseline taken mid-change would hide a leak or fake one.
    /// </summary>
    public static async Task<DaemonFigures> SteadyAsync(int pid, int seconds = 10)
    {
        DaemonFigures? previous = null;
        var steady = await Eventually.Until(() =>
            {
                var readings = new Readings(previous, Of(pid));
                previous = readings.Now;
                return Task.FromResult(readings);
            }, r => r.Before?.Fds == r.Now.Fds, TimeSpan.FromSeconds(seconds), $"two readings of daemon {pid} 300 ms apart with the same fd count",
            every: TimeSpan.FromMilliseconds(300));
        return steady.Now;
    }

    private sealed record Readings(DaemonFigures? Before, DaemonFigures Now)
    {
        public override string ToString() => $"{Before?.ToString() ?? "none"}, then {Now}";
    }

    /// <summary>Polls (with a deadline) until the figures are back within the slack of the baseline; returns the last reading (the caller asserts on it).</summary>
    public static Task<DaemonFigures> SettleAsync(int pid, DaemonFigures baseline, int fdSlack, int rssSlackMb, int seconds = 15) =>
        Eventually.Last(() => Task.FromResult(Of(pid)), now => now.Fds <= baseline.Fds + fdSlack && now.RssKb <= baseline.RssKb + rssSlackMb * 1024L,
            TimeSpan.FromSeconds(seconds), every: TimeSpan.FromMilliseconds(250));

    /// <summary>A process's start time (clock ticks since boot) and whether it has ended (zombie or gone): null when gone.</summary>
    public static (long Start, bool Dead)? Identity(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[19]), fields[0] is "Z" or "X");
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException) { return null; }
    }

    /// <summary>Zombies whose parent is the daemon, polled until there are none (a child that just died is reaped in ms); the caller asserts on them.</summary>
    public static Task<List<string>> NoZombiesAsync(int daemon, int seconds = 5) =>
        Eventually.Last(() => Task.FromResult(ZombieChildren(daemon)), z => z.Count == 0, TimeSpan.FromSeconds(seconds), every: TimeSpan.FromMilliseconds(100));

    public static List<string> ZombieChildren(int parent)
    {
        var found = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[0] == "Z" && int.Parse(fields[1]) == parent) found.Add(stat.Trim());
            }
            catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException) { }
        }
        return found;
    }

    /// <summary>Every live app process of a home: its pid, app and instance, from its environment (NK_APP, NK_INSTANCE).</summary>
    public static List<int> Instances(string home) =>
        Procs.OwnedBy(home).Where(p => Procs.Environ(p).ContainsKey("NK_APP")).ToList();

    /// <summary>Live app processes of a home by (app, instance).</summary>
    public static Dictionary<(string App, int Instance), List<int>> InstancesByName(string home)
    {
        var map = new Dictionary<(string, int), List<int>>();
        foreach (var pid in Procs.OwnedBy(home))
        {
            var env = Procs.Environ(pid);
            if (!env.TryGetValue("NK_APP", out var app) || !int.TryParse(env.GetValueOrDefault("NK_INSTANCE"), out var i)) continue;
            if (!map.TryGetValue((app, i), out var list)) map[(app, i)] = list = [];
            list.Add(pid);
        }
        return map;
    }
}
