namespace NodeKeeper.IntegrationTests;

public sealed class StoppingTests
{
    [Fact]
    public async Task Stop_runs_the_apps_SIGTERM_handler()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("g", "graceful.js", "env = { EXIT_LINES = \"20000\" }"));
        await home.OkAsync("start", config);
        var pid = (await home.InstanceAsync("g")).Pid!.Value;
        await home.WaitForLogAsync("g", "started");

        await home.OkAsync("stop", "g");
        // Everything it wrote on its way out is in the file once stop returns.
        File.ReadLines(Path.Combine(home.Logs, "g.out.log")).Count(l => l.Contains("last words")).Should().Be(20000);
        var g = await home.InstanceAsync("g");
        g.Status.Should().Be("stopped");
        g.LastExit!.Reason.Should().Be("stopped");
        g.LastExit.Code.Should().Be(0, "the handler exits 0");
        Procs.IsAlive(pid).Should().BeFalse();
        var log = File.ReadAllText(Path.Combine(home.Logs, "g.out.log"));
        log.Should().Contain("SIGTERM received").And.Contain("clean exit");

        await home.OkAsync("start", "g");
        (await home.InstanceAsync("g")).Status.Should().Be("online");
    }

    [Fact]
    public async Task App_that_ignores_SIGTERM_is_SIGKILLed_after_kill_timeout()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("s", "stubborn.js", "kill_timeout = \"700ms\""));
        await home.OkAsync("start", config);
        var pid = (await home.InstanceAsync("s")).Pid!.Value;
        await home.WaitForLogAsync("s", "started");

        var watch = System.Diagnostics.Stopwatch.StartNew();
        await home.OkAsync("stop", "s");
        watch.Elapsed.Should().BeGreaterThan(TimeSpan.FromMilliseconds(600), "SIGKILL waits for kill_timeout");
        var s = await home.InstanceAsync("s");
        s.LastExit!.Signal.Should().Be("SIGKILL");
        Procs.IsAlive(pid).Should().BeFalse();
        File.ReadAllText(Path.Combine(home.Logs, "s.out.log")).Should().Contain("ignoring SIGTERM");
    }

    /// <summary>spawner.js's line and the two pids it names (its plain child and its detached one), both alive.</summary>
    private static async Task<(string Line, int Child, int Detached)> SpawnedAsync(TestHome home, string app)
    {
        var line = await home.WaitForLogAsync(app, "detached");
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var child = int.Parse(parts[Array.IndexOf(parts, "child") + 1]);
        var detached = int.Parse(parts[Array.IndexOf(parts, "detached") + 1]);
        Procs.IsAlive(child).Should().BeTrue();
        Procs.IsAlive(detached).Should().BeTrue();
        return (line, child, detached);
    }

    /// <summary>Both of spawner.js's children are gone, and neither is left a zombie.</summary>
    private static void Ended(int child, int detached)
    {
        Procs.IsAlive(child).Should().BeFalse("the plain child ends with the app");
        Procs.IsAlive(detached).Should().BeFalse("the detached child ends with the app");
        Procs.IsZombie(child).Should().BeFalse("no zombie stays behind");
        Procs.IsZombie(detached).Should().BeFalse("no zombie stays behind");
    }

    [Fact]
    public async Task Stop_ends_the_apps_children_and_detached_grandchildren()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("sp", "spawner.js", "kill_timeout = \"1s\""));
        await home.OkAsync("start", config);
        var (_, child, detached) = await SpawnedAsync(home, "sp");
        // The sampler must have seen the detached child once (it left the group by setsid).
        await home.WaitForAsync("sp", i => i.MemoryBytes > 0, "sampled");
        await Eventually.Until(() => (Procs.IsAlive(child), Procs.IsAlive(detached)) is (true, true), TimeSpan.FromSeconds(1), "children alive");

        await home.OkAsync("stop", "sp");
        Ended(child, detached);
    }

    [Fact]
    public async Task Stop_ends_what_a_worker_thread_spawned_detached()
    {
        // Forked by a worker thread, the children are that thread's in /proc (not the main thread's, which the sampler
        // reads), and the detached one left the app's process group: only the stop's look at every thread finds it.
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("wsp", "spawner.js", "kill_timeout = \"1s\"\nenv = { SPAWN_FROM = \"worker\" }"));
        await home.OkAsync("start", config);
        var (line, child, detached) = await SpawnedAsync(home, "wsp");
        line.Should().Contain("worker child");
        var app = (await home.InstanceAsync("wsp")).Pid!.Value;
        File.ReadAllText($"/proc/{app}/task/{app}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Should().NotContain(detached.ToString(), "the worker thread forked it, not the main thread");

        await home.OkAsync("stop", "wsp");
        Ended(child, detached);
    }

    [Fact]
    public async Task Nk_kill_stops_every_app_and_the_daemon()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("g", "graceful.js") + TestHome.App("sp", "spawner.js") + TestHome.App("w", "worker.js"));
        await home.OkAsync("start", config);
        await home.WaitForLogAsync("g", "started");
        await home.WaitForLogAsync("sp", "detached");
        await Eventually.Until(() => Procs.OwnedBy(home.Home).Count >= 6, TimeSpan.FromSeconds(10), "daemon, 3 apps and the spawner's 2 children");

        var kill = await home.OkAsync("kill");
        kill.Err.Should().Contain("daemon stopped");
        Procs.OwnedBy(home.Home).Should().BeEmpty("nk kill leaves no supervised process running");
        File.ReadAllText(Path.Combine(home.Logs, "g.out.log")).Should().Contain("clean exit");
        (await home.RunAsync("ping")).Code.Should().Be(1);
        (await home.RunAsync("kill")).Code.Should().Be(0, "kill with no daemon is not an error");
    }

    [Fact]
    public async Task SIGTERM_to_the_daemon_stops_every_app_gracefully_and_exits()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("g", "graceful.js") + TestHome.App("sp", "spawner.js"));
        await home.OkAsync("start", config);
        await home.WaitForLogAsync("g", "started");
        await home.WaitForLogAsync("sp", "detached");
        var daemon = home.DaemonPid();
        daemon.Should().NotBeNull();

        Procs.Signal(daemon!.Value, 15, home.Home);
        try
        {
            await Eventually.Until(() => Task.FromResult(Procs.OwnedBy(home.Home).Select(Procs.Describe).ToList()), left => left.Count == 0,
                TimeSpan.FromSeconds(20), "the daemon and every app to end");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\ndaemon.log:\n" + File.ReadAllText(Path.Combine(home.Home, "daemon.log")), ex);
        }
        File.ReadAllText(Path.Combine(home.Logs, "g.out.log")).Should().Contain("clean exit");
        File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Should().Contain("daemon stopped");
    }

    /// <summary>
    /// SIGTERM while `nk reload` waits for a replacement to become ready, or for an old instance to finish: the daemon
    /// stops both generations gracefully, leaves nothing behind, and the reload says it was cut short.
    /// </summary>
    [Theory]
    [InlineData("the replacement starts")]
    [InlineData("the old instance stops")]
    public async Task SIGTERM_to_the_daemon_during_a_reload_stops_old_and_new_instances(string during)
    {
        await using var home = new TestHome();
        var starting = during == "the replacement starts";
        var app = starting
            ? TestHome.App("r", "ready-message.js", $"port = {FreePort.Next()}\nhost = \"127.0.0.1\"\nready = \"message\"\nlisten_timeout = \"30s\"\nenv = {{ READY_AFTER_MS = \"100\" }}")
            : TestHome.App("r", "graceful.js", "kill_timeout = \"20s\"\nenv = { SHUTDOWN_MS = \"3000\" }");
        var config = home.WriteConfig(app);
        await home.OkAsync("start", config);
        var old = (await home.InstanceAsync("r")).Pid!.Value;
        // The graceful app counts as ready when it runs (no port): its SIGTERM handler is there once it says so.
        if (!starting) await home.WaitForLogAsync("r", $"graceful {old}: started");
        // The new version is slow to become ready; the old one is slow to finish (it still runs the old env).
        home.WriteConfig(starting ? app.Replace("\"100\"", "\"30000\"") : app.Replace("\"3000\"", "\"0\""));

        var reload = home.RunAsync("reload", "r");
        var nodes = () => Task.FromResult(Procs.OwnedBy(home.Home).Where(p => Procs.Describe(p).Contains("node ")).ToList());
        static string Read(string path) => File.Exists(path) ? File.ReadAllText(path) : "(no file)";
        string Seen(string stage) => $"{stage}\nold instance: {old}\nprocesses: {string.Join(" | ", Procs.OwnedBy(home.Home).Select(Procs.Describe))}"
            + $"\ndaemon.log:\n{Read(Path.Combine(home.Home, "daemon.log"))}"
            + $"\nr.out.log:\n{Read(Path.Combine(home.Logs, "r.out.log"))}\nr.err.log:\n{Read(Path.Combine(home.Logs, "r.err.log"))}";
        try
        {
            await Eventually.Until(nodes, n => n.Count == 2, TimeSpan.FromSeconds(10), "the replacement to run beside the old instance");
            if (!starting) await home.WaitForLogAsync("r", "SIGTERM received");
        }
        catch (TimeoutException ex) { throw new TimeoutException(Seen(ex.Message), ex); }
        Procs.Signal(home.DaemonPid()!.Value, 15, home.Home);

        try
        {
            await Eventually.Until(() => Task.FromResult(Procs.OwnedBy(home.Home).Select(Procs.Describe).ToList()), left => left.Count == 0,
                TimeSpan.FromSeconds(30), "the daemon and both generations to end");
        }
        catch (TimeoutException ex) { throw new TimeoutException(Seen(ex.Message), ex); }
        var result = await reload;
        if (starting)
        {
            result.Code.Should().NotBe(0);
            result.Err.Should().Contain("shutting down").And.NotContain("   at ", "one line, not a stack trace");
        }
        if (!starting) File.ReadAllText(Path.Combine(home.Logs, "r.out.log")).Should().Contain($"graceful {old}: clean exit");
        File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Should().Contain("daemon stopped");
    }
}
