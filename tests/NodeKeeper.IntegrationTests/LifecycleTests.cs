namespace NodeKeeper.IntegrationTests;

public sealed class LifecycleTests
{
    [Fact]
    public async Task Example_config_starts_every_app_online_and_a_killed_app_comes_back()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var example = File.ReadAllText(Path.Combine(Repo.Root, "nodekeeper.toml.example"))
            .Replace("port = 3000", $"port = {port}")
            .Replace("\"examples/", $"\"{Repo.Examples}/");
        var config = home.WriteConfig(example);

        var start = await home.RunAsync("start", config);
        start.Code.Should().Be(0, start.ToString());
        start.Err.Should().Contain("started one", "nk says on stderr that it started the daemon");
        var rows = await home.StatusAsync();
        rows.Select(r => r.Name).Should().BeEquivalentTo("api", "worker", "graceful");
        rows.Should().OnlyContain(r => r.Status == "online" && r.Pid != null);

        using var http = new HttpClient();
        (await http.GetStringAsync($"http://127.0.0.1:{port}/")).Should().StartWith("hello");

        var api = rows.Single(r => r.Name == "api");
        Procs.Signal(api.Pid!.Value, 9, home.Home);
        var back = await home.WaitForAsync("api", i => i.Status == "online" && i.Pid != null && i.Pid != api.Pid, "online with a new pid");
        back.Restarts.Should().Be(1);
        back.LastExit.Should().NotBeNull();
        back.LastExit!.Signal.Should().Be("SIGKILL");
        back.LastExit.Reason.Should().Be("signal");
        Procs.IsAlive(api.Pid.Value).Should().BeFalse();
        (await http.GetStringAsync($"http://127.0.0.1:{port}/")).Should().Contain($"pid {back.Pid}");
    }

    [Fact]
    public async Task Crashing_app_backs_off_with_growing_delays_and_ends_errored_after_max_restarts()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("crash", "crasher.js",
            "min_uptime = \"5s\"\nmax_restarts = 3\nrestart_delay = \"100ms\"\nmax_restart_delay = \"2s\""));

        await home.RunAsync("start", config, "--no-wait");

        var errored = await home.WaitForAsync("crash", i => i.Status == "errored", "errored", seconds: 30);
        errored.Starts.Should().Be(4, "max_restarts = 3 allows 3 restarts after the first start");
        errored.Restarts.Should().Be(3);
        errored.LastExit!.Code.Should().Be(1);
        errored.LastExit.Reason.Should().Be("crash");

        var exits = (await home.DescribeAsync("crash")).RecentExits.OrderBy(e => e.At).ToList();
        exits.Should().HaveCount(4);
        exits.Select(e => e.RestartDelayMs).Should().Equal([100, 200, 400, null], "the delay doubles after each unstable run; the last leaves it errored");
        exits.Zip(exits.Skip(1), (a, b) => b.At - a.At).Should().OnlyContain(gap => gap >= TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task Clean_exit_under_on_failure_with_a_stop_exit_code_is_not_restarted()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(
            TestHome.App("done", "crasher.js", "restart = \"on-failure\"\nenv = { EXIT_CODE = \"0\", CRASH_AFTER_MS = \"100\" }") +
            TestHome.App("three", "crasher.js", "restart = \"on-failure\"\nstop_exit_codes = [0, 3]\nenv = { EXIT_CODE = \"3\", CRASH_AFTER_MS = \"100\" }") +
            TestHome.App("failing", "crasher.js", "restart = \"on-failure\"\nmin_uptime = \"10ms\"\nenv = { EXIT_CODE = \"2\", CRASH_AFTER_MS = \"100\" }"));
        await home.RunAsync("start", config, "--no-wait");

        foreach (var (name, code) in new[] { ("done", 0), ("three", 3) })
        {
            var s = await home.WaitForAsync(name, i => i.Status == "stopped" && i.LastExit != null, "stopped after its exit");
            s.LastExit!.Code.Should().Be(code);
            s.LastExit.Reason.Should().Be("exit");
            s.Restarts.Should().Be(0);
        }
        await home.WaitForAsync("failing", i => i.Restarts >= 1, "restarted after exit code 2");
    }

    [Fact]
    public async Task Never_mode_leaves_an_exited_app_stopped()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("once", "crasher.js", "restart = \"never\"\nenv = { EXIT_CODE = \"0\", CRASH_AFTER_MS = \"100\" }"));
        await home.RunAsync("start", config, "--no-wait");
        var s = await home.WaitForAsync("once", i => i.Status == "stopped" && i.LastExit != null, "stopped");
        s.LastExit!.Reason.Should().Be("exit");
        s.Restarts.Should().Be(0);
    }

    [Fact]
    public async Task Instances_get_their_environment_and_restarting_changed_config_applies_it()
    {
        await using var home = new TestHome();
        File.WriteAllText(Path.Combine(home.Configs, ".env"), "FROM_FILE=file\nSHARED=file\n");
        var config = home.WriteConfig(TestHome.App("w", "worker.js", "env_file = \".env\"\nenv = { SHARED = \"s3cr3t\", TICK_MS = \"60000\" }\nport = 4999\nready = \"spawn\"\nport_mode = \"increment\""));
        await home.OkAsync("start", config);
        var w = await home.InstanceAsync("w");
        var env = Procs.Environ(w.Pid!.Value);
        env.Should().Contain("FROM_FILE", "file").And.Contain("SHARED", "s3cr3t").And.Contain("NK_APP", "w")
            .And.Contain("NK_INSTANCE", "0").And.Contain("NODE_APP_INSTANCE", "0").And.Contain("PORT", "4999");

        (await home.RunAsync("status")).Out.Should().NotContain("s3cr3t", "status never prints environment values");
        (await home.OkAsync("describe", "w")).Out.Should().Contain("SHARED").And.NotContain("s3cr3t");
        (await home.OkAsync("describe", "w", "--show-env")).Out.Should().Contain("SHARED=s3cr3t");

        // Unchanged: left alone. Changed: restarted with the new definition.
        await home.OkAsync("start", config);
        (await home.InstanceAsync("w")).Pid.Should().Be(w.Pid);
        home.WriteConfig(File.ReadAllText(config).Replace("SHARED = \"s3cr3t\"", "SHARED = \"changed\""));
        await home.OkAsync("start", config);
        var w2 = await home.InstanceAsync("w");
        w2.Pid.Should().NotBe(w.Pid);
        Procs.Environ(w2.Pid!.Value)["SHARED"].Should().Be("changed");
    }

    [Fact]
    public async Task Listen_readiness_waits_for_the_port_and_a_silent_app_is_not_ready()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(
            TestHome.App("web", "http-server.js", $"port = {port}") +
            TestHome.App("mute", "worker.js", $"port = {FreePort.Next()}\nlisten_timeout = \"500ms\"\nmax_restarts = 0"));
        var start = await home.RunAsync("start", config);
        start.Code.Should().Be(1);
        start.Err.Should().Contain("mute").And.NotContain("web:");
        (await home.InstanceAsync("web")).Status.Should().Be("online");
        var mute = await home.WaitForAsync("mute", i => i.Status == "errored", "errored");
        mute.LastExit!.Reason.Should().Be("not_ready");
    }
}

public sealed class OperationTests
{
    [Fact]
    public async Task Restart_brings_every_instance_back_with_a_new_pid_and_delete_forgets_the_app()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js", "instances = 2") + TestHome.App("g", "graceful.js"));
        await home.OkAsync("start", config);
        var before = await home.StatusAsync();

        var restart = await home.OkAsync("restart", "w");
        restart.Out.Should().Contain("w");
        var after = await home.StatusAsync();
        foreach (var i in after.Where(r => r.Name == "w"))
        {
            i.Status.Should().Be("online");
            i.Restarts.Should().Be(1);
            i.LastExit!.Reason.Should().Be("restart");
            i.Pid.Should().NotBe(before.Single(b => b.Name == "w" && b.Instance == i.Instance).Pid);
        }
        after.Single(r => r.Name == "g").Pid.Should().Be(before.Single(b => b.Name == "g").Pid, "restart touches only the named app");

        var pids = after.Where(r => r.Name == "w").Select(r => r.Pid!.Value).ToList();
        await home.OkAsync("delete", "w");
        (await home.StatusAsync()).Select(r => r.Name).Should().Equal("g");
        pids.Should().OnlyContain(p => !Procs.IsAlive(p));
        (await home.RunAsync("describe", "w")).Code.Should().Be(1);

        await home.OkAsync("stop", "all");
        (await home.StatusAsync()).Should().OnlyContain(r => r.Status == "stopped");
    }

    [Fact]
    public async Task Logs_follow_prints_new_lines_as_they_come()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js", "env = { TICK_MS = \"100\" }"));
        await home.OkAsync("start", config);
        // A raw Process, not TestHome's runner: the test reads its output while it runs (it never ends by itself).
        var psi = new System.Diagnostics.ProcessStartInfo(Repo.Nk, ["logs", "w", "--follow", "--lines", "0", "--out"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.Environment["NODEKEEPER_HOME"] = home.Home;
        using var follower = System.Diagnostics.Process.Start(psi)!;
        try
        {
            var lines = new List<string>();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            while (lines.Count < 3 && await follower.StandardOutput.ReadLineAsync(cts.Token) is { } line) lines.Add(line);
            lines.Should().HaveCount(3).And.OnlyContain(l => l.Contains("job"));
        }
        finally
        {
            follower.Kill();
            await follower.WaitForExitAsync();
        }
    }
}
