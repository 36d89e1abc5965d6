using System.Net.Sockets;
using Xunit.Abstractions;
using NodeKeeper.IntegrationTests.Fixtures;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// `nk update`: the daemon replaces itself with another build of nk-full while its apps run on untouched, under load;
/// a broken binary changes nothing; a record the new image cannot read makes it take over as after a crash.
/// </summary>
public sealed class UpdateTests(ITestOutputHelper output)
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private void Mark(string what) => output.WriteLine($"{_clock.Elapsed.TotalSeconds,6:0.0}s {what}");

    [Fact]
    public async Task Nk_update_replaces_the_daemon_under_load_and_every_app_runs_on_as_it_was()
    {
        var next = await NextBuild.NkFullAsync();
        Mark("next build ready");
        await using var home = new TestHome();
        var port = FreePort.Next();
        var progress = Path.Combine(home.Configs, "count");
        var config = home.WriteConfig(
            TestHome.App("web", "keepalive-graceful.js", $"port = {port}\nhost = \"127.0.0.1\"\ninstances = 2\nport_mode = \"shared\"") +
            TestHome.App("flood", "counter.js", $"env = {{ PROGRESS_FILE = \"{progress}\", BURST = \"1000\", TICK_MS = \"5\", PAD = \"20\" }}\nlog = {{ max_size = \"1G\" }}") +
            TestHome.App("crash", "crasher.js", "restart_delay = \"1s\"\nmax_restart_delay = \"4s\"\nmax_restarts = 1000") +
            TestHome.App("leak", "leaker.js", "max_memory = \"150M\"\nenv = { GROW_MB = \"10\", EVERY_MS = \"250\" }"));
        await home.OkAsync("start", config);
        await home.WaitForAllAsync("web", i => i.Status == "online", "web online");
        var crashBefore = await home.WaitForAsync("crash", i => i.Status == "backoff" && i.Restarts >= 1, "crash in backoff after a restart");
        var before = (await home.StatusAsync()).ToDictionary(i => (i.Name, i.Instance));
        Mark("apps started");

        // Keep-alive GET straight to the port and POST through a real nginx, fresh connections, on a busy machine.
        await using var nginx = await NginxServer.ProxyAsync(home, "web");
        await using var busy = new BusyMachine();
        await using var keepAlive = Wrk.Start("GET direct", $"http://127.0.0.1:{port}/", post: false);
        await using var viaNginx = Wrk.Start("POST via nginx", $"http://127.0.0.1:{nginx.Port}/", post: true);
        await using var fresh = new LoadClient(port);
        await fresh.ServesAsync(20, "fresh connections served before the update");
        var statusFailures = new List<string>();
        var statusAnswers = 0;
        using var stopPolling = new CancellationTokenSource();
        var polling = Task.Run(async () =>
        {
            while (!stopPolling.IsCancellationRequested)
            {
                // nk-full itself: one process a poll (nk would hand the newer daemon's answer to nk-full anyway).
                var r = await home.RunFullAsync("status", "--json");
                if (r.Code != 0) lock (statusFailures) statusFailures.Add(r.ToString());
                else Interlocked.Increment(ref statusAnswers);
            }
        });

        var update = await home.RunAsync("update", "--path", next);
        update.Code.Should().Be(0, update.ToString());
        update.Out.Should().Contain($"to {NextBuild.Version}");
        Mark("updated");
        var answeredBefore = Volatile.Read(ref statusAnswers);
        await fresh.ServesAsync(50, "fresh connections served after the update");
        // Each poll is a JIT-compiled process here: slow on a loaded machine.
        await Eventually.Until(() => Volatile.Read(ref statusAnswers) >= answeredBefore + 3, TimeSpan.FromSeconds(60), "status answered after the update");
        await stopPolling.CancelAsync();
        await polling;
        var loads = new[] { await keepAlive.StopAsync(), await viaNginx.StopAsync() };
        Mark("load stopped");
        foreach (var w in loads) output.WriteLine(w.ToString());
        output.WriteLine($"fresh connections: {fresh.Served} served, {fresh.Unserved} not");

        foreach (var wrk in loads)
        {
            wrk.SocketErrors.Should().Be(0, $"{wrk}\nnginx error.log:\n{nginx.ErrorLog()}");
            wrk.Non2xx.Should().Be(0, $"{wrk}\nnginx error.log:\n{nginx.ErrorLog()}");
            wrk.Requests.Should().BeGreaterThan(100, wrk.ToString());
        }
        fresh.Unserved.Should().Be(0, $"refused {fresh.Refused}, failed {fresh.Failed}");
        statusFailures.Should().BeEmpty("nk status is answered throughout");

        var after = (await home.StatusAsync()).ToDictionary(i => (i.Name, i.Instance));

        // Every line the app wrote, before, during and after (its pipe full while the daemon changed), is in its log once and in order.
        await home.OkAsync("stop", "flood");
        var written = long.Parse(File.ReadAllText(progress).Trim());
        long expected = 1;
        string? wrong = null;
        foreach (var line in LogLines(home.Logs, "flood.out.log"))
        {
            var n = long.Parse(line.AsSpan(6, line.IndexOf(' ', 6) - 6));
            if (n != expected) wrong ??= $"after line {expected - 1} came line {n}";
            expected = n + 1;
        }
        wrong.Should().BeNull("every line written is in the log once, in order");
        (expected - 1).Should().Be(written, "the last line written is the last one logged");
        output.WriteLine($"flood: {written} lines");
        Mark("flood checked");
        (await home.RunAsync("version")).Out.Should().Contain($"daemon {NextBuild.Version}");
        // This nk is now older than the daemon: every command both know works, and it says the two differ.
        foreach (var args in new[] { new[] { "describe", "web" }, ["why", "crash"], ["logs", "web", "--lines", "1"], ["status"] })
        {
            var r = await home.RunAsync(args);
            r.Code.Should().Be(0, r.ToString());
            if (args[0] != "logs") r.Err.Should().Contain($"the daemon runs {NextBuild.Version}").And.Contain("nk update");
        }

        // The same processes: pids and start (uptime only grew), counters carried over.
        Mark("old nk checked");
        foreach (var key in new[] { ("web", 0), ("web", 1), ("flood", 0) })
        {
            after[key].Pid.Should().Be(before[key].Pid, $"{key} runs on");
            after[key].UptimeMs.Should().BeGreaterThan(before[key].UptimeMs, $"{key} was not restarted");
            after[key].Restarts.Should().Be(before[key].Restarts);
        }
        after[("leak", 0)].Restarts.Should().BeGreaterThanOrEqualTo(before[("leak", 0)].Restarts, "its count is carried over");
        after[("crash", 0)].Restarts.Should().BeGreaterThanOrEqualTo(crashBefore.Restarts);

        // Still supervised by the new image: a crash, and a memory crossing, after the update are handled.
        var crashed = await home.WaitForAsync("crash", i => i.Restarts > after[("crash", 0)].Restarts && i.Status == "backoff", "a crash after the update", 20);
        crashed.UnstableRuns.Should().BeGreaterThan(crashBefore.UnstableRuns, "the backoff goes on from where it was, not from the start");
        var leakAt = after[("leak", 0)].Restarts;
        var leak = await home.WaitForAsync("leak", i => i.Restarts > leakAt, "a max_memory restart after the update", 30);
        leak.LastExit!.Reason.Should().Be("max_memory");
        Mark("crash and max_memory after the update");
        // Reports still come over the IPC channels the new image read on from.
        await home.WaitForAllAsync("web", i => i.HeapUsedBytes is > 0 && i.Pid == before[("web", i.Instance)].Pid, "web's heap reports");

        Mark("reports seen");
        File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Should().Contain("nk update: daemon").And.Contain($"replaced by {NextBuild.Version}");
    }

    [Fact]
    public async Task A_run_that_ends_while_the_daemon_is_replaced_is_dated_when_it_was_handed_on()
    {
        // The new image's start must not count as time the run lived: a crash loop would look stable, its backoff start over.
        var next = await NextBuild.NkFullAsync();
        await using var home = new TestHome();
        var handover = Path.Combine(home.Home, "handover.json");
        var config = home.WriteConfig(TestHome.App("ender", "crasher.js",
            $"min_uptime = \"10m\"\nrestart_delay = \"10m\"\nmax_restart_delay = \"10m\"\nenv = {{ CRASH_ON_FILE = \"{handover}\" }}"));
        await home.OkAsync("start", config);
        var running = await home.WaitForAsync("ender", i => i.Status == "online" && i.Pid is not null, "ender online");

        var update = await home.RunAsync("update", "--path", next);
        update.Code.Should().Be(0, update.ToString());

        var ended = await home.WaitForAsync("ender", i => i.Status == "backoff", "ender ended during the update");
        var errLog = File.ReadAllText(Path.Combine(home.Logs, "ender.err.log"));
        var saw = System.Text.RegularExpressions.Regex.Match(errLog, $@"crasher {running.Pid}: saw \S+ at (\d+)");
        saw.Success.Should().BeTrue(errLog);
        var sawAt = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(saw.Groups[1].Value));
        ended.LastExit!.Reason.Should().Be("crash");
        // It lived until the record was written (the app saw it at most 5 ms later): the exit is dated then, not when the
        // new image, seconds later, found it.
        ended.LastExit.At.Should().BeOnOrBefore(sawAt + TimeSpan.FromMilliseconds(1)).And.BeAfter(sawAt - TimeSpan.FromSeconds(1));
        ended.UnstableRuns.Should().Be(1);
    }

    [Fact]
    public async Task Control_connections_and_the_http_endpoint_are_served_across_the_update()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var httpPort = FreePort.Next();
        var sickPort = FreePort.Next();
        var config = home.WriteConfig($"[daemon]\nhttp = \"127.0.0.1:{httpPort}\"\n" +
            TestHome.App("slow", "ready-message.js", $"port = {port}\nhost = \"127.0.0.1\"\nready = \"message\"\nenv = {{ READY_AFTER_MS = \"2500\" }}") +
            TestHome.App("sick", "sick-server.js", $"port = {sickPort}\nhost = \"127.0.0.1\"\nenv = {{ SICK_AFTER_MS = \"3000\" }}\n" +
                $"health = {{ url = \"http://127.0.0.1:{sickPort}/health\", interval = \"300ms\", timeout = \"1s\", failures = 2 }}"));
        await home.OkAsync("start", config);
        var daemon = home.DaemonPid();

        // The HTTP endpoint's probes, each on a fresh connection, throughout.
        var probes = new List<string>();
        var probed = 0;
        using var stopProbing = new CancellationTokenSource();
        var probing = Task.Run(async () =>
        {
            using var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero };
            using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
            http.DefaultRequestHeaders.ConnectionClose = true;
            while (!stopProbing.IsCancellationRequested)
            {
                try
                {
                    var r = await http.GetAsync($"http://127.0.0.1:{httpPort}/healthz");
                    if (r.IsSuccessStatusCode) Interlocked.Increment(ref probed);
                    else lock (probes) probes.Add($"HTTP {(int)r.StatusCode}");
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException) { lock (probes) probes.Add(ex.Message); }
            }
        });
        await Eventually.Until(() => Volatile.Read(ref probed) > 5, TimeSpan.FromSeconds(20), "the endpoint to answer");

        // An idle connection with half a request in it, and a restart waiting for its instance to be ready again.
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(Path.Combine(home.Home, "nk.sock")));
        await using var stream = new NetworkStream(s);
        using var reader = new StreamReader(stream);
        await stream.WriteAsync("{\"id\":1,\"cmd\":\"ping\"}\n"u8.ToArray());
        (await reader.ReadLineAsync()).Should().Contain("\"ok\":true");
        await stream.WriteAsync("{\"id\":2,\"cmd\":\"sta"u8.ToArray());
        var restart = home.RunAsync("restart", "slow");
        await home.WaitForAsync("slow", i => i.Status == "starting" && i.Restarts == 1, "the restart under way");

        var update = await home.RunAsync("update");
        update.Code.Should().Be(0, update.ToString());
        var restarted = await restart;
        restarted.Code.Should().Be(0, restarted.ToString());
        (await home.InstanceAsync("slow")).Status.Should().Be("online", "the new image saw the readiness the restart waited for");

        var probedAtUpdate = Volatile.Read(ref probed);
        await Eventually.Until(() => Volatile.Read(ref probed) > probedAtUpdate + 5, TimeSpan.FromSeconds(20), "the endpoint to answer after the update");
        await stopProbing.CancelAsync();
        await probing;
        probes.Should().BeEmpty("the endpoint's socket is held across the update: no probe is refused");
        File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Should().Contain("held across nk update");

        await stream.WriteAsync("tus\"}\n"u8.ToArray());
        var answer = await reader.ReadLineAsync();
        answer.Should().Contain("\"id\":2").And.Contain("\"ok\":true").And.Contain("\"name\":\"slow\"");
        home.DaemonPid().Should().Be(daemon);

        // The new image runs the health checks: the app that turns sick is restarted for it again.
        var sickAtUpdate = (await home.InstanceAsync("sick")).Restarts;
        var sick = await home.WaitForAsync("sick", i => i.Restarts > sickAtUpdate && i.LastExit?.Reason == "health", "a health restart after the update", 20);
        sick.Status.Should().NotBe("errored");
    }

    [Fact]
    public async Task A_binary_that_cannot_take_over_leaves_the_daemon_and_every_app_as_they_were()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\"\nport_mode = \"shared\""));
        await home.OkAsync("start", config);
        var web = await home.WaitForAsync("web", i => i.Status == "online", "web online");
        var daemon = home.DaemonPid();
        var version = (await home.RunAsync("version")).Out;

        var exitsAtOnce = Path.Combine(home.Configs, "nk-full");
        File.WriteAllText(exitsAtOnce, "#!/bin/sh\necho 'nk-full: libfoo.so: cannot open shared object file' >&2\nexit 127\n");
        File.SetUnixFileMode(exitsAtOnce, (UnixFileMode)0b111_101_101);
        var refused = await home.RunAsync("update", "--path", exitsAtOnce);
        refused.Code.Should().Be(1, refused.ToString());
        refused.Err.Should().Contain("update refused").And.Contain("exited with code 127").And.Contain("cannot open shared object file")
            .And.Contain("keeps running every app");

        // One anybody could have changed is never run (a root daemon would run it as root).
        var writable = Path.Combine(home.Configs, "nk-full-writable");
        File.Copy(Repo.NkFull, writable);
        File.SetUnixFileMode(writable, (UnixFileMode)0b111_111_111);
        var unsafeBinary = await home.RunAsync("update", "--path", writable);
        unsafeBinary.Code.Should().Be(1);
        unsafeBinary.Err.Should().Contain("can be changed by others (mode 777)");

        var missing = await home.RunAsync("update", "--path", Path.Combine(home.Configs, "nowhere", "nk-full"));
        missing.Code.Should().Be(1);
        missing.Err.Should().Contain("does not exist");

        // A binary that runs but reads no format this daemon writes (an older release, or a newer one that dropped it).
        var otherFormat = Path.Combine(home.Configs, "nk-full-other");
        File.WriteAllText(otherFormat, "#!/bin/sh\necho '{\"version\":\"9.9.9\",\"formats\":[7],\"error\":null}'\n");
        File.SetUnixFileMode(otherFormat, (UnixFileMode)0b111_101_101);
        var unreadable = await home.RunAsync("update", "--path", otherFormat);
        unreadable.Code.Should().Be(1);
        unreadable.Err.Should().Contain("reads hand-over formats 7").And.Contain("writes format 1");

        home.DaemonPid().Should().Be(daemon);
        (await home.RunAsync("version")).Out.Should().Be(version, "the same daemon image serves");
        var now = await home.InstanceAsync("web");
        now.Pid.Should().Be(web.Pid);
        now.Status.Should().Be("online");
        (await FreshHttp.Get(port)).Should().StartWith("hello");
        File.Exists(Path.Combine(home.Home, "handover.json")).Should().BeFalse();
    }

    [Fact]
    public async Task A_new_image_that_cannot_adopt_takes_over_as_after_a_crash_and_says_so()
    {
        var next = Repo.NkFull;
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\"\ninstances = 2"));
        await home.OkAsync("start", config);
        var before = await home.WaitForAllAsync("web", i => i.Status == "online", "web online");
        var daemon = home.DaemonPid();

        // Passes the check, then damages the record before the real binary reads it: adoption fails after the exec.
        var wrapper = Path.Combine(home.Configs, "nk-full");
        File.WriteAllText(wrapper, $"#!/bin/sh\nif [ \"$1\" = daemon ]; then echo '{{\"format\": 1, \"apps\": 3}}' > \"$3\"; fi\nexec '{next}' \"$@\"\n");
        File.SetUnixFileMode(wrapper, (UnixFileMode)0b111_101_101);
        var update = await home.RunAsync("update", "--path", wrapper);
        update.Code.Should().Be(1, update.ToString());
        update.Err.Should().Contain("could not adopt the running apps").And.Contain("started them again");

        home.DaemonPid().Should().Be(daemon, "the same process, a new image");
        var after = await home.WaitForAllAsync("web", i => i.Status == "online", "web back online");
        after.Select(i => i.Pid).Should().NotIntersectWith(before.Select(i => i.Pid), "restarted");
        foreach (var old in before) Procs.IsAlive(old.Pid!.Value).Should().BeFalse("nothing is left running twice");
        Procs.OwnedBy(home.Home).Where(p => p != daemon).Should().HaveCount(2, "two instances, no more");
        (await FreshHttp.Get(port)).Should().StartWith("hello");
        var status = await home.RunFullAsync("status");
        status.Out.Should().Contain("could not adopt");
        File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Should().Contain("[FTL]").And.Contain("could not adopt");
    }

    [Fact]
    public async Task Nk_update_is_refused_under_nk_run()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js"));
        var run = home.RunWithAsync([Repo.Nk], TimeSpan.FromSeconds(60), "run", config);
        // No nk command before nk run serves: one would start a background daemon first.
        await Eventually.Until(() => File.Exists(Path.Combine(home.Home, "nk.sock")), TimeSpan.FromSeconds(20), "nk run to serve");
        await home.WaitForAsync("w", i => i.Status == "online", "w online under nk run");
        var update = await home.RunAsync("update");
        update.Code.Should().Be(1);
        update.Err.Should().Contain("nk update does not run under nk run").And.Contain("container image");
        Procs.Signal(home.DaemonPid()!.Value, 15, home.Home);
        (await run).Code.Should().Be(0);
    }

    /// <summary>The lines of a log and its rotated files, oldest first.</summary>
    private static IEnumerable<string> LogLines(string dir, string name)
    {
        var rotated = Directory.GetFiles(dir, name + ".*").Where(f => int.TryParse(Path.GetExtension(f).TrimStart('.'), out _))
            .OrderByDescending(f => int.Parse(Path.GetExtension(f).TrimStart('.')));
        foreach (var file in rotated.Append(Path.Combine(dir, name)))
            foreach (var line in File.ReadLines(file))
                yield return line;
    }
}
