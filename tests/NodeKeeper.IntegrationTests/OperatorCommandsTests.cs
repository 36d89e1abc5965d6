namespace NodeKeeper.IntegrationTests;

/// <summary>The commands a PM2 user reaches for: nk signal (sendSignal), nk flush, nk reopen-logs (reloadLogs), nk reset.</summary>
public sealed class OperatorCommandsTests
{
    [Fact]
    public async Task Signal_reaches_the_instance_and_a_bad_signal_or_a_stopped_app_is_refused()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("sh", "shell-worker.sh", "interpreter = \"none\"") + TestHome.App("idle", "http-server.js", $"port = {FreePort.Next()}\nrestart = \"never\""));
        (await home.RunAsync("start", config)).Code.Should().Be(0);
        var before = await home.InstanceAsync("sh");
        await home.WaitForLogAsync("sh", "shell tick 1");

        var sent = await home.RunAsync("signal", "usr2", "sh");

        sent.Code.Should().Be(0, sent.ToString());
        sent.Err.Should().Contain($"sent SIGUSR2 to sh:0 (pid {before.Pid})");
        await home.WaitForLogAsync("sh", $"shell worker {before.Pid} got SIGUSR2");
        (await home.InstanceAsync("sh")).Should().Match<NodeKeeper.Core.Protocol.InstanceInfo>(i => i.Pid == before.Pid && i.Status == "online" && i.Restarts == 0);

        var bad = await home.RunAsync("signal", "SIGNOPE", "sh");
        bad.Code.Should().Be(1);
        bad.Err.Should().Contain("\"SIGNOPE\" is not a signal: give a name such as SIGUSR2, SIGINT or HUP");
        (await home.RunAsync("stop", "idle")).Code.Should().Be(0);
        var none = await home.RunAsync("signal", "HUP", "idle");
        none.Code.Should().Be(1);
        none.Err.Should().Contain("idle has no running process to send SIGHUP to");
        (await home.RunAsync("signal", "HUP")).Code.Should().Be(2, "app names or all are required");
    }

    [Fact]
    public async Task Reset_sets_the_restart_count_back_to_zero()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("api", "http-server.js", $"env = {{ PORT = \"{FreePort.Next()}\" }}"));
        (await home.RunAsync("start", config)).Code.Should().Be(0);
        var first = await home.InstanceAsync("api");
        (await home.RunAsync("signal", "SIGKILL", "api")).Code.Should().Be(0);
        await home.WaitForAsync("api", i => i.Status == "online" && i.Pid != first.Pid && i.Restarts == 1, "back after the SIGKILL");

        var reset = await home.RunAsync("reset", "all");

        reset.Code.Should().Be(0, reset.ToString());
        var after = await home.InstanceAsync("api");
        after.Restarts.Should().Be(0);
        after.LastExit!.Signal.Should().Be("SIGKILL", "the history stays");
        reset.Out.Should().Contain("api").And.Contain("online");
    }

    [Fact]
    public async Task Flush_empties_the_log_and_reopen_logs_follows_a_log_moved_away()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("py", "python-worker.py", "interpreter = \"python3\"\ninterpreter_args = [\"-u\"]"));
        (await home.RunAsync("start", config)).Code.Should().Be(0);
        var log = Path.Combine(home.Logs, "py.out.log");
        await home.WaitForLogAsync("py", "python tick 3");

        var flush = await home.RunAsync("flush", "py");

        flush.Code.Should().Be(0, flush.ToString());
        var next = await Eventually.Until(() => Task.FromResult(File.ReadAllText(log)), t => t.Contains("python tick"), TimeSpan.FromSeconds(10), "a line after the flush");
        next.Should().NotContain("python tick 1\n", "the lines before the flush are gone").And.StartWith("python tick ");

        File.Move(log, log + ".1");
        var reopen = await home.RunAsync("reopen-logs");
        reopen.Code.Should().Be(0, reopen.ToString());
        reopen.Err.Should().Contain("reopened the log files of 1 app(s)");
        await Eventually.Until(() => Task.FromResult(File.Exists(log) ? File.ReadAllText(log) : ""), t => t.Contains("python tick"), TimeSpan.FromSeconds(10), "lines in a new file at the path");
    }
}
