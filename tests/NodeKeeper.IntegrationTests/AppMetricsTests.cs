namespace NodeKeeper.IntegrationTests;

/// <summary>What the daemon sees of a running app without any change to it: the preload's reports and /proc.</summary>
public sealed class AppMetricsTests
{
    [Fact]
    public async Task An_app_that_blocks_its_event_loop_shows_the_lag_and_its_heap()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("blk", "blocker.js"));
        await home.OkAsync("start", config);
        var row = await home.WaitForAsync("blk", i => i.EventLoopLagMs >= 100, "event_loop_lag_ms >= 100 (300 ms blocks every 500 ms)");
        row.HeapUsedBytes.Should().BeGreaterThan(1 << 20);
        row.HeapLimitBytes.Should().BeGreaterThan(row.HeapUsedBytes!.Value);
        row.ActiveHandles.Should().BeGreaterThan(0);

        var json = await home.OkAsync("status", "--json");
        json.Out.Should().Contain("\"heap_used_bytes\":").And.Contain("\"event_loop_lag_ms\":");
        var describe = await home.OkAsync("describe", "blk");
        describe.Out.Should().Contain("event loop delay p50").And.Contain("heap ");
    }

    [Fact]
    public async Task A_busy_looping_app_shows_its_cpu()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("busy", "busy.js"));
        await home.OkAsync("start", config);
        var pid = (await home.WaitForAsync("busy", i => i.Status == "online" && i.Pid is not null, "online")).Pid!.Value;
        Procs.OwnedBy(home.Home).Should().Contain(pid);
        // What it really used over the last 2 s, read from /proc as the daemon reads it: on a machine kept busy it gets
        // less than a core (35 % beside four busy loops), and the status must show that share, not a fixed figure.
        var used = new List<(DateTime At, long Ticks)>();
        var row = await Eventually.Until(async () =>
        {
            if (Procs.CpuTicks(pid) is { } ticks) used.Add((DateTime.UtcNow, ticks));
            return await home.InstanceAsync("busy");
        }, i =>
        {
            var from = used.FindLastIndex(u => (used[^1].At - u.At).TotalSeconds >= 2);
            if (from < 0) return false;
            // Ticks of 1/100 s per second: percent of a core. busy.js spins, so it used a fair share of one.
            var share = (used[^1].Ticks - used[from].Ticks) / (used[^1].At - used[from].At).TotalSeconds;
            return share >= 20 && i.CpuPercent >= 0.6 * share;
        }, TimeSpan.FromSeconds(30), "a share of 20 % or more used (read from /proc over the last 2 s), and cpu_percent at least 60 % of it");
        row.CpuPercent.Should().BeLessThanOrEqualTo(150, "cpu_percent counts one full core as 100, and busy.js spins on one thread");
        row.Status.Should().Be("online");
        row.Restarts.Should().Be(0, "a busy app is not restarted for it");
        (await home.OkAsync("status")).Out.Should().MatchRegex(@"busy\s+0\s+\d+\s+online.*\s\d+(\.\d)?%\s", "the table shows the app's cpu");
    }

    [Fact]
    public async Task A_leaking_app_is_flagged_with_its_growth_rate_before_it_reaches_max_memory()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("leak", "leaker.js", "max_memory = \"2G\"\nenv = { GROW_MB = \"4\", EVERY_MS = \"500\" }"));
        await home.OkAsync("start", config);
        var row = await home.WaitForAsync("leak", i => i.MemoryGrowthMbPerMin is not null, "a growth rate", seconds: 60);
        row.MemoryGrowthMbPerMin.Should().BeInRange(240, 720, "it keeps 8 MiB a second, 480 MB/min");
        row.Restarts.Should().Be(0, "it is flagged long before max_memory");
        row.Warnings.Should().ContainMatch("memory growing * MB/min*max_memory in about*");
        var table = await home.OkAsync("status");
        table.Out.Should().Contain("MB/min").And.Contain("! leak:0 memory growing");
    }

    [Fact]
    public async Task A_steady_app_is_not_flagged()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\""));
        await home.OkAsync("start", config);
        // 25 s of service under light load: enough samples for a verdict (5 s warm-up, 15 s span).
        await Eventually.Until(async () => { await FreshHttp.Get(port); return (await home.InstanceAsync("web")).UptimeMs; },
            up => up > 25_000, TimeSpan.FromSeconds(40), "25 s of uptime");
        var row = await home.InstanceAsync("web");
        row.MemoryGrowthMbPerMin.Should().BeNull();
        row.Warnings.Should().BeNull();
    }

    [Fact]
    public async Task An_app_near_its_open_file_limit_is_warned_about()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("fds", "fd-leaker.js", "max_open_files = 150\nenv = { KEEP = \"105\" }"));
        await home.OkAsync("start", config);
        var row = await home.WaitForAsync("fds", i => i.OpenFiles >= 120, "120 files and more open");
        row.MaxOpenFiles.Should().Be(150);
        row.Warnings.Should().ContainMatch("open files * of 150 (*%): raise max_open_files*");
        (await home.OkAsync("status")).Out.Should().Contain("! fds:0 open files");
        (await home.OkAsync("why", "fds")).Out.Should().Contain("open_files").And.Contain("max_open_files (now 150)");
    }
}
