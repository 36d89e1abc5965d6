using System.Text.Json;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// Evidence captured by itself and on demand, with real apps: a blocked event loop profiled while it is blocked (on
/// Node 18, 20 and 22, an Express app), a leak explained by the constructor that grew, crashes explained from Node's
/// diagnostic report, `nk profile` files that are what Chrome DevTools opens, and the caps that keep captures off the
/// disk's limits.
/// </summary>
public sealed class CaptureTests
{
    /// <summary>
    /// By default (capture.watchdog = "on_lag") the watchdog thread starts at the first stall, which is told in
    /// daemon.log, and the next one is profiled; with "always" it runs from a second after the start and the first stall
    /// is profiled.
    /// </summary>
    [Theory]
    [InlineData("18", "on_lag")]
    [InlineData("20", "on_lag")]
    [InlineData("22", "on_lag")]
    [InlineData("20", "always")]
    public async Task A_route_that_blocks_the_event_loop_is_profiled_while_blocked_and_nk_why_names_its_function_and_line(string node, string watchdog)
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var interpreter = node == "20" ? "node" : Path.Combine(Repo.Root, "tests", ".node", node, "bin", "node");
        var script = Repo.Example("frameworks/slow-report.js");
        // The line where it was blocked: the loop of buildReport.
        var line = Array.FindIndex(File.ReadAllLines(script), l => l.Contains("while (cpuMs() < end)")) + 1;
        await home.OkAsync("start", home.WriteConfig(TestHome.App("web", "frameworks/slow-report.js",
            $"port = {port}\nhost = \"127.0.0.1\"\ninterpreter = \"{interpreter}\"\ncapture = {{ stall = \"500ms\", interval = \"1m\", watchdog = \"{watchdog}\" }}\n")));
        // The watch can begin a second after the start, and the report after that is the first one judged: three
        // seconds up, it watches (always) or waits for a stall (on_lag).
        await home.WaitForAsync("web", i => i.Status == "online" && i.HeapUsedBytes != null && i.UptimeMs > 3000, "online, reporting and watched");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        if (watchdog == "on_lag")
        {
            (await http.GetAsync($"http://127.0.0.1:{port}/report")).IsSuccessStatusCode.Should().BeTrue();
            await Eventually.Until(() => File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Contains("before the stall watchdog ran"),
                TimeSpan.FromSeconds(10), "the first stall told in daemon.log: " + home.DaemonLogTail());
            File.ReadAllLines(Path.Combine(home.Home, "daemon.log")).Single(l => l.Contains("before the stall watchdog ran"))
                .Should().Contain("[INF] web:0: the event loop was blocked for ", "a stall seen is news, not a failed capture");
            (await WhyAsync(home, "web")).Findings.Should().NotContain(f => f.Reason == "event_loop_blocked", "the first stall was not profiled");
        }
        var report = await http.GetAsync($"http://127.0.0.1:{port}/report");
        report.IsSuccessStatusCode.Should().BeTrue("the slow route answers once its loop ends: the capture changed nothing");

        var why = await Eventually.Until(async () => await WhyAsync(home, "web"), w => w.Findings.Any(f => f.Reason == "event_loop_blocked"),
            TimeSpan.FromSeconds(20), "a finding of the blocked event loop");
        var blocked = why.Findings.Single(f => f.Reason == "event_loop_blocked");
        var text = string.Join("\n", blocked.Evidence);
        text.Should().Contain("buildReport").And.Contain($"slow-report.js:{line}", "the function and its file:line, from the stacks taken while blocked");
        var profile = blocked.Evidence.Single(e => e.StartsWith("CPU profile: "))["CPU profile: ".Length..];
        AssertCpuProfile(profile);
        var human = await home.OkAsync("why", "web");
        human.Out.Should().Contain("buildReport");
        (await FreshHttp.Get(port)).Should().StartWith("Hello World", "the app serves on after the capture");
    }

    /// <summary>
    /// An app whose loop turns in short slices but gets almost no CPU sees its timers run a second late: that is the
    /// machine's delay, not a stall. Taken for one, it started a watchdog thread (50 ms of CPU) in every instance at once
    /// during a restart of 300 apps, and the load that added made more of them late. Starved here by a CPU quota, as a
    /// container's limit starves it: 10 ms a second (a low weight beside busy loops gave delays anywhere between 0 and
    /// 900 ms on this kernel, and too few of them above the stall threshold).
    /// </summary>
    [Fact]
    public async Task An_instance_starved_of_CPU_is_not_taken_for_a_stalled_one()
    {
        CpuQuota.Possible.Should().BeTrue("this test starves the app through a cgroup's CPU quota (cgroup v1, cpu controller)");
        await using var home = new TestHome();
        await home.OkAsync("start", home.WriteConfig(TestHome.App("spin", "busy.js", "capture = { stall = \"500ms\", watchdog = \"on_lag\" }\n")));
        var up = await home.WaitForAsync("spin", i => i.Status == "online" && i.HeapUsedBytes != null && i.UptimeMs > 3000, "online, reporting and past its first second");
        var pid = up.Pid!.Value;
        Procs.OwnedBy(home.Home).Should().Contain(pid);

        using (var quota = new CpuQuota(pid, TimeSpan.FromMilliseconds(10)))
        {
            await home.WaitForAsync("spin", i => i.EventLoopLagMs >= 700, "a report of an event-loop delay of 700 ms or more (its timers late)", 60);
            quota.Lift();
            // Its CPU back: reports on time again, and by then the watchdog thread would have started and said so.
            var starvedUntil = (await home.WaitForAsync("spin", i => i.EventLoopLagMs < 200, "reports on time again", 30)).UptimeMs;
            await home.WaitForAsync("spin", i => i.UptimeMs > starvedUntil + 3000 && i.EventLoopLagMs < 200, "three seconds of reports after", 30);
        }

        File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Should().NotContain("before the stall watchdog ran", "the loop never blocked: it waited for a core");
        (await WhyAsync(home, "spin")).Findings.Should().NotContain(f => f.Reason == "event_loop_blocked");
    }

    [Fact]
    public async Task A_heap_that_keeps_growing_is_explained_by_the_constructor_that_grew()
    {
        await using var home = new TestHome();
        // About 1 MB of heap a second: enough for the trend, snapshots of tens of MB.
        await home.OkAsync("start", home.WriteConfig(TestHome.App("leak", "session-leak.js",
            "env = { SESSIONS_PER_TICK = \"1000\" }\ncapture = { heap = \"always\", heap_gap = \"3s\", interval = \"10m\" }\n")));
        var why = await Eventually.Until(async () => await WhyAsync(home, "leak"), w => w.Findings.Any(f => f.Reason == "heap_growth"),
            TimeSpan.FromSeconds(90), "a finding of the heap's growth (the trend needs 15 s of reports, then two snapshots 3 s apart)");
        var growth = why.Findings.Single(f => f.Reason == "heap_growth");
        why.Findings.Should().NotContain(f => f.Reason == "event_loop_blocked", "the pause of a heap snapshot is not a stall of the app");
        growth.Evidence.Should().HaveCountGreaterThan(1);
        growth.Evidence[1].Should().StartWith("Session:", "the top grower is the class the app keeps: " + string.Join("\n", growth.Evidence));

        // On demand, the same comparison; describe lists the snapshots and the comparisons.
        var asked = await home.OkAsync("heap", "leak", "--gap", "1s");
        asked.Out.Should().Contain("Session:");
        var described = await home.DescribeAsync("leak");
        described.Captures.Where(c => c.Kind == "growth").Should().HaveCount(2);
        described.Captures.Count(c => c.Kind == "heap").Should().Be(4);
        foreach (var snapshot in described.Captures.Where(c => c.Kind == "heap").Take(1)) AssertHeapSnapshot(snapshot.Files.Single());
    }

    [Fact]
    public async Task An_uncaught_exception_and_a_heap_OOM_are_explained_from_Node_s_diagnostic_report()
    {
        await using var home = new TestHome();
        await home.OkAsync("start", home.WriteConfig(
            TestHome.App("thrower", "thrower.js", "restart = \"never\"\n") +
            TestHome.App("hog", "heap-hog.js", "restart = \"never\"\nmax_old_space_size = \"64M\"\n")));
        foreach (var app in new[] { "thrower", "hog" })
            await home.WaitForAsync(app, i => i.LastExit is not null && i.Pid is null, "ended", seconds: 60);

        var thrower = (await WhyAsync(home, "thrower")).Findings.First(f => f.Reason != "event_loop_blocked");
        var thrown = string.Join("\n", thrower.Evidence);
        thrown.Should().Contain("diagnostic report").And.Contain("TypeError").And.Contain("thrower.js");
        thrown.Should().Contain("open handles");

        var hog = (await WhyAsync(home, "hog")).Findings.First(f => f.Reason != "event_loop_blocked");
        hog.Reason.Should().Be("oom_heap", string.Join("\n", hog.Evidence));
        var oom = string.Join("\n", hog.Evidence);
        oom.Should().Contain("diagnostic report").And.Contain("old_space");
        var described = await home.DescribeAsync("hog");
        described.Captures.Should().ContainSingle(c => c.Kind == "report").Which.Instance.Should().Be(0);
    }

    [Fact]
    public async Task Nk_profile_writes_what_Chrome_DevTools_opens_and_the_caps_keep_the_newest()
    {
        await using var home = new TestHome();
        // A port of its own: http-server.js listens on 3000 without one, and a test beside it would collide there.
        var port = FreePort.Next();
        await home.OkAsync("start", home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\ncapture = {{ keep = 3, stall = \"0s\" }}\n")));
        await home.WaitForAsync("web", i => i.Status == "online" && i.HeapUsedBytes != null, "online and reporting");

        var r = await home.OkAsync("profile", "web", "--cpu", "300ms", "--heap", "--json");
        var captures = JsonSerializer.Deserialize(r.Out, ProtocolJson.Default.Response)!.Captures!;
        AssertCpuProfile(captures.Single(c => c.Kind == "cpu").Files.Single());
        AssertHeapSnapshot(captures.Single(c => c.Kind == "heap").Files.Single());

        for (var i = 0; i < 3; i++) await home.OkAsync("profile", "web", "--cpu", "100ms");
        var folder = Path.Combine(home.Home, "captures", "web");
        Directory.GetFiles(folder).Should().HaveCount(3, "capture.keep = 3 keeps the three newest");
        Directory.GetFiles(folder, "*.cpuprofile").Should().HaveCount(3, "the heap snapshot, the oldest, went first");

        // A byte cap: a snapshot bigger than the cap is not kept, and the answer says so.
        await home.OkAsync("start", home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\ncapture = {{ max_size = \"1M\", stall = \"0s\" }}\n")));
        await home.OkAsync("restart", "web");
        await home.WaitForAsync("web", i => i.Status == "online" && i.HeapUsedBytes != null, "online and reporting again");
        var big = await home.OkAsync("profile", "web", "--heap");
        big.Out.Should().Contain("removed at once by the app's caps").And.Contain("capture.max_size = 1M");
        Directory.GetFiles(folder).Sum(f => new FileInfo(f).Length).Should().BeLessThanOrEqualTo(1 << 20);

        var bad = await home.RunAsync("profile", "web", "--instance", "5");
        bad.Code.Should().Be(1);
        bad.Err.Should().Contain("has no instance 5");
    }

    private static async Task<WhyReport> WhyAsync(TestHome home, string app)
    {
        var r = await home.OkAsync("why", app, "--json");
        return JsonSerializer.Deserialize(r.Out, ProtocolJson.Default.ListWhyReport)!.Single();
    }

    /// <summary>A .cpuprofile as Chrome DevTools loads it: nodes with call frames, samples, time deltas, start and end.</summary>
    private static void AssertCpuProfile(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        root.GetProperty("nodes").GetArrayLength().Should().BeGreaterThan(0);
        root.GetProperty("nodes")[0].GetProperty("callFrame").GetProperty("functionName").GetString().Should().Be("(root)");
        root.GetProperty("samples").GetArrayLength().Should().Be(root.GetProperty("timeDeltas").GetArrayLength());
        root.GetProperty("endTime").GetInt64().Should().BeGreaterThan(root.GetProperty("startTime").GetInt64());
    }

    /// <summary>A .heapsnapshot as Chrome DevTools loads it: whole JSON, with its meta, nodes, edges and strings.</summary>
    private static void AssertHeapSnapshot(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        root.GetProperty("snapshot").GetProperty("meta").GetProperty("node_fields").GetArrayLength().Should().BeGreaterThan(3);
        root.GetProperty("nodes").GetArrayLength().Should().BeGreaterThan(1000);
        root.GetProperty("strings").GetArrayLength().Should().BeGreaterThan(100);
    }
}
