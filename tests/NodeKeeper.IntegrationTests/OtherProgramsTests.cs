namespace NodeKeeper.IntegrationTests;

/// <summary>
/// Apps that are not node (a Python server and worker, a shell script run as a program, `npm start`): started, logged,
/// probed on their ports, restarted after a crash, reloaded and stopped with nothing left behind, all from outside.
/// </summary>
public sealed class OtherProgramsTests
{
    private static string Apps(int pyPort, int npmPort) =>
        $"""
        [[app]]
        name = "pyhttp"
        script = "{Repo.Example("python-http.py")}"
        interpreter = "python3"
        port = {pyPort}
        instances = 2

        [[app]]
        name = "pyworker"
        script = "{Repo.Example("python-worker.py")}"
        interpreter = "python3"
        interpreter_args = ["-u"]
        args = ["a", "b c"]

        [[app]]
        name = "sh"
        script = "{Repo.Example("shell-worker.sh")}"
        interpreter = "none"
        args = ["--flag"]

        [[app]]
        name = "npm"
        script = "npm"
        args = ["start"]
        interpreter = "none"
        cwd = "{Repo.Example("npm-app")}"
        port = {npmPort}
        listen_timeout = "30s"
        """;

    [Fact]
    public async Task Python_shell_and_npm_apps_run_answer_restart_and_stop_with_nothing_left()
    {
        await using var home = new TestHome();
        var pyPort = FreePort.Next(2);
        var npmPort = FreePort.Next();
        var config = home.WriteConfig(Apps(pyPort, npmPort));

        var start = await home.RunAsync("start", config);
        start.Code.Should().Be(0, start.ToString());
        var rows = await home.StatusAsync();
        rows.Should().OnlyContain(r => r.Status == "online" && r.Pid != null);
        rows.Select(r => (r.Name, r.Program)).Distinct().Should().BeEquivalentTo(
            [("pyhttp", "python3"), ("pyworker", "python3"), ("sh", "none"), ("npm", "none")]);
        rows.Where(r => r.Name == "pyhttp").Select(r => (r.Port, r.PortMode)).Should().Equal((pyPort, "increment"), (pyPort + 1, "increment"));

        using var http = new HttpClient();
        (await http.GetStringAsync($"http://127.0.0.1:{pyPort}/")).Should().StartWith("hello from python").And.Contain("(instance 0)");
        (await http.GetStringAsync($"http://127.0.0.1:{pyPort + 1}/")).Should().Contain("(instance 1)");
        (await http.GetStringAsync($"http://127.0.0.1:{npmPort}/")).Should().StartWith("hello from pid", "npm start runs the node server, with PORT");
        await home.WaitForLogAsync("pyworker", "python tick 3");
        await home.WaitForLogAsync("pyworker", "args ['a', 'b c']", "err");
        await home.WaitForLogAsync("sh", "started with: --flag");

        var table = await home.RunAsync("status");
        table.Out.Should().Contain("not node, watched from outside").And.Contain("pyhttp, pyworker (python3); sh, npm (program)");

        // A crash is seen from outside too: the worker comes back with a new pid.
        var worker = rows.Single(r => r.Name == "pyworker");
        Procs.Signal(worker.Pid!.Value, 9, home.Home);
        var back = await home.WaitForAsync("pyworker", i => i.Status == "online" && i.Pid is { } p && p != worker.Pid, "online with a new pid");
        back.LastExit!.Signal.Should().Be("SIGKILL");

        var daemon = home.DaemonPid();
        (await home.RunAsync("stop", "all")).Code.Should().Be(0);
        (await home.StatusAsync()).Should().OnlyContain(r => r.Status == "stopped" && r.Pid == null);
        await home.WaitForLogAsync("sh", "got SIGTERM");
        await Eventually.Until(() => Task.FromResult(Procs.OwnedBy(home.Home).Where(p => p != daemon).ToList()), left => left.Count == 0,
            TimeSpan.FromSeconds(10), "no process of the apps (npm's shell and node, the shell's sleep) left after stop");
    }

    [Fact]
    public async Task A_python_server_reloads_one_instance_at_a_time_each_on_its_own_port()
    {
        await using var home = new TestHome();
        var port = FreePort.Next(2);
        // Each old instance holds its port for half a second after SIGTERM: a replacement started beside it could not bind.
        var config = home.WriteConfig(TestHome.App("py", "python-http.py",
            $"interpreter = \"python3\"\nport = {port}\ninstances = 2\nenv = {{ STOP_DELAY_MS = \"500\" }}"));
        (await home.RunAsync("start", config)).Code.Should().Be(0);
        var before = (await home.StatusAsync()).Select(r => r.Pid).ToList();

        var reload = await home.RunAsync("reload", "py");

        reload.Code.Should().Be(0, reload.ToString());
        var after = await home.StatusAsync();
        after.Should().OnlyContain(r => r.Status == "online" && !before.Contains(r.Pid));
        using var http = new HttpClient();
        for (var i = 0; i < 2; i++)
            (await http.GetStringAsync($"http://127.0.0.1:{port + i}/")).Should().Contain($"pid {after[i].Pid} (instance {i})",
                "the new instance owns the port: the old one stopped before it started, so no probe heard the old one answer");
        (await home.DescribeAsync("py")).RecentExits.Should().OnlyContain(e => e.Reason == "stopped", "no new instance failed to bind its port");
    }

    [Fact]
    public async Task With_ready_health_a_python_server_is_online_only_once_its_health_url_passes()
    {
        await using var home = new TestHome();
        var (warmPort, coldPort) = (FreePort.Next(), FreePort.Next());
        var warm = Path.Combine(home.Home, "warm");
        string App(string name, int port, string warmFile, string timeout) => $$"""
            [[app]]
            name = "{{name}}"
            script = "{{Repo.Example("python-http.py")}}"
            interpreter = "python3"
            port = {{port}}
            ready = "health"
            listen_timeout = "{{timeout}}"
            max_restarts = 0
            health = { url = "http://127.0.0.1:{{port}}/health" }
            env = { WARM_FILE = "{{warmFile}}" }

            """;
        var config = home.WriteConfig(App("py", warmPort, warm, "60s") + App("cold", coldPort, Path.Combine(home.Home, "never"), "5s"));
        (await home.RunAsync("start", "--no-wait", config)).Code.Should().Be(0);

        // Only the daemon asks for /health: two 503s logged mean it is probing, and the port already accepts.
        var log = Path.Combine(home.Logs, "py.out.log");
        await Eventually.Until(() => Task.FromResult(File.Exists(log) ? File.ReadAllText(log) : ""),
            text => text.Split("health: 503").Length > 2, TimeSpan.FromSeconds(20), "the daemon's readiness probe answered 503 twice");
        (await home.StatusAsync()).Single(r => r.Name == "py").Status.Should().Be("starting", "listening is not ready: /health still answers 503");

        File.WriteAllText(warm, "");
        await home.WaitForAsync("py", i => i.Status == "online", "online once /health answers 200");

        // The one that never warms up runs out of listen_timeout, and the exit tells what the last check heard.
        await home.WaitForAsync("cold", i => i.Status == "errored", "errored after its not_ready run");
        var exit = (await home.DescribeAsync("cold")).RecentExits.Should().ContainSingle().Subject;
        exit.Reason.Should().Be("not_ready");
        exit.Evidence.Should().Contain($"last check: GET http://127.0.0.1:{coldPort}/health: HTTP 503 Service Unavailable");
        (await home.RunAsync("why", "cold")).Out.Should().Contain($"With ready = \"health\" its health.url (http://127.0.0.1:{coldPort}/health, on each instance's own port) must answer 2xx or 3xx");
    }

    [Fact]
    public async Task A_python_app_is_refused_a_capture_and_a_node_only_key_with_what_to_use()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("py", "python-worker.py", "interpreter = \"python3\""));
        (await home.RunAsync("start", config)).Code.Should().Be(0);

        var profile = await home.RunAsync("profile", "py");
        profile.Code.Should().Be(1, profile.ToString());
        profile.Err.Should().Contain("py runs python3: CPU profiles and heap snapshots are taken by node's preload, so only of node apps");

        var bad = home.WriteConfig(TestHome.App("py2", "python-worker.py", "interpreter = \"python3\"\nmax_old_space_size = \"256M\""), "bad.toml");
        var refused = await home.RunAsync("start", bad);
        refused.Code.Should().Be(2);
        refused.Err.Should().Contain("bad.toml:5:22: max_old_space_size is node's heap flag, and app \"py2\" runs python3");
        (await home.StatusAsync()).Select(r => r.Name).Should().Equal("py");
    }
}
