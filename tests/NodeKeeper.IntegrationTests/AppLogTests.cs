namespace NodeKeeper.IntegrationTests;

public sealed class AppLogTests
{
    [Theory]
    [InlineData("throw")]
    [InlineData("process.exit")]
    public async Task Every_line_written_just_before_a_crash_is_in_the_log_in_order(string how)
    {
        await using var home = new TestHome();
        var exit = how == "process.exit" ? "1" : "0";
        var config = home.WriteConfig(TestHome.App("flood", "flood.js", $"restart = \"never\"\nenv = {{ LINES = \"10000\", EXIT = \"{exit}\" }}"));
        await home.RunAsync("start", config, "--no-wait");
        var s = await home.WaitForAsync("flood", i => i.Status == "stopped" && i.LastExit != null, "stopped after crashing");
        s.LastExit!.Code.Should().Be(1);

        var lines = File.ReadAllLines(Path.Combine(home.Logs, "flood.out.log"));
        lines.Should().HaveCount(10000);
        for (var i = 0; i < lines.Length; i++)
            lines[i].Should().StartWith($"line {i + 1} ");
        if (how == "throw")
            File.ReadAllText(Path.Combine(home.Logs, "flood.err.log")).Should().Contain("flood: crashing after 10000 lines");
    }

    [Fact]
    public async Task Log_format_json_writes_every_line_as_PM2s_json_object_in_order()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("flood", "flood.js",
            "restart = \"never\"\ninstances = 2\nenv = { LINES = \"3000\", EXIT = \"0\" }\nlog = { format = \"json\" }"));
        await home.RunAsync("start", config, "--no-wait");
        await home.WaitForAllAsync("flood", i => i.Status == "stopped" && i.LastExit != null, "both stopped after their lines");

        var objects = File.ReadAllLines(Path.Combine(home.Logs, "flood.out.log")).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        objects.Should().HaveCount(6000, "one object per line, no line lost or split");
        foreach (var instance in new[] { 0, 1 })
        {
            var mine = objects.Where(o => o.GetProperty("process_id").GetInt32() == instance).ToList();
            mine.Select(o => o.GetProperty("message").GetString()!.Split(' ')[1]).Should().Equal(Enumerable.Range(1, 3000).Select(i => i.ToString()), "in order, without the newline or an [i] prefix");
            mine.Should().OnlyContain(o => o.GetProperty("type").GetString() == "out" && o.GetProperty("app_name").GetString() == "flood"
                && o.GetProperty("timestamp").GetString()!.EndsWith('Z'));
        }
        var err = File.ReadAllLines(Path.Combine(home.Logs, "flood.err.log"));
        err.Should().NotBeEmpty().And.OnlyContain(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("type").GetString() == "err");
    }

    [Fact]
    public async Task Rotation_keeps_at_most_keep_old_files_and_nk_logs_tails_them()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("rot", "flood.js",
            "restart = \"never\"\nenv = { LINES = \"20000\", EXIT = \"1\" }\nlog = { max_size = \"100K\", keep = 2 }"));
        await home.RunAsync("start", config, "--no-wait");
        await home.WaitForAsync("rot", i => i.Status == "stopped" && i.LastExit != null, "stopped");

        var files = Directory.GetFiles(home.Logs, "rot.out.log*").Select(Path.GetFileName).ToList();
        files.Should().BeEquivalentTo("rot.out.log", "rot.out.log.1", "rot.out.log.2");
        foreach (var f in files) new FileInfo(Path.Combine(home.Logs, f!)).Length.Should().BeLessThanOrEqualTo(100 * 1024);
        // The newest lines are in the current file, the older ones in .1 then .2, with no gap.
        var current = File.ReadAllLines(Path.Combine(home.Logs, "rot.out.log"));
        current[^1].Should().StartWith("line 20000 ");
        var one = File.ReadAllLines(Path.Combine(home.Logs, "rot.out.log.1"));
        int Number(string l) => int.Parse(l.Split(' ')[1]);
        Number(one[^1]).Should().Be(Number(current[0]) - 1);

        var tail = await home.OkAsync("logs", "rot", "--lines", "3", "--out");
        tail.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().HaveCount(3)
            .And.Subject.Last().Should().StartWith("line 20000 ");
    }

    [Fact]
    public async Task Several_instances_share_one_file_with_a_prefix_and_timestamps()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js", "instances = 2\nenv = { TICK_MS = \"50\" }\nlog = { timestamps = true }"));
        await home.OkAsync("start", config);
        var log = Path.Combine(home.Logs, "w.out.log");
        await Eventually.Until(() => File.Exists(log) && File.ReadAllText(log).Contains("[0] ") && File.ReadAllText(log).Contains("[1] "),
            TimeSpan.FromSeconds(10), "lines of both instances");
        var lines = File.ReadAllLines(log).Where(l => l.Length > 0).ToList();
        lines.Should().OnlyContain(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[[01]\] worker \d+: job \d+ done$"));
    }
}
