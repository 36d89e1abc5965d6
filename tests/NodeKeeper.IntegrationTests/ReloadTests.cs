namespace NodeKeeper.IntegrationTests;

public sealed class ReloadTests
{
    [Fact]
    public async Task Reload_of_two_instances_under_load_fails_no_request_and_replaces_every_pid_with_the_new_env()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\ninstances = 2\nhost = \"127.0.0.1\"\nenv = {{ VERSION = \"1\" }}"));
        await home.OkAsync("start", config);
        var before = (await home.StatusAsync()).Select(r => r.Pid!.Value).ToList();

        var load = new LoadClient(port);
        await load.ServesAsync(20, "load to flow");
        home.WriteConfig(File.ReadAllText(config).Replace("VERSION = \"1\"", "VERSION = \"2\""));
        var reload = await home.OkAsync("reload", "web");
        await load.ServesAsync(20, "the new instances to serve");
        await load.DisposeAsync();

        load.Unserved.Should().Be(0, $"a reload drops nothing ({load.Served} served)");
        var after = await home.StatusAsync();
        after.Should().HaveCount(2).And.OnlyContain(r => r.Status == "online" && r.Restarts == 1);
        after.Select(r => r.Pid!.Value).Should().NotIntersectWith(before, "every pid is replaced");
        after.Should().OnlyContain(r => Procs.Environ(r.Pid!.Value)["VERSION"] == "2", "reload re-reads the definition");
        before.Should().OnlyContain(p => !Procs.IsAlive(p));
        reload.Out.Should().Contain("web");
    }

    [Fact]
    public async Task Start_with_a_changed_app_reloads_it_without_failing_a_request()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\ninstances = 2\nhost = \"127.0.0.1\"\nenv = {{ VERSION = \"1\" }}"));
        await home.OkAsync("start", config);
        var load = new LoadClient(port);
        await load.ServesAsync(20, "load to flow");
        home.WriteConfig(File.ReadAllText(config).Replace("VERSION = \"1\"", "VERSION = \"2\""));
        await home.OkAsync("start", config);
        await load.DisposeAsync();
        load.Unserved.Should().Be(0);
        (await home.StatusAsync()).Should().OnlyContain(r => Procs.Environ(r.Pid!.Value)["VERSION"] == "2");
    }

    [Fact]
    public async Task A_reload_whose_new_version_cannot_start_keeps_the_old_instances_serving_and_exits_1()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\ninstances = 2\nhost = \"127.0.0.1\"\nmin_uptime = \"10ms\"\nlisten_timeout = \"2s\""));
        await home.OkAsync("start", config);
        var before = (await home.StatusAsync()).Select(r => r.Pid!.Value).Order().ToList();

        home.WriteConfig(File.ReadAllText(config).Replace("http-server.js", "crasher.js"));
        var reload = await home.RunAsync("reload", "web");
        reload.Code.Should().Be(1, reload.ToString());
        reload.Err.Should().Contain("did not become ready").And.Contain("old instances keep serving");
        (await home.StatusAsync()).Select(r => r.Pid!.Value).Order().Should().Equal(before);
        (await FreshHttp.Get(port)).Should().StartWith("hello");

        // The failed reload changed nothing: an old instance that crashes comes back as the version it was.
        Procs.Signal(before[0], 9, home.Home);
        await Eventually.Until(() => home.StatusAsync(), rows => rows.All(r => r.Status == "online" && r.Pid != before[0]),
            TimeSpan.FromSeconds(20), "the crashed instance back online");
        (await home.StatusAsync()).Should().OnlyContain(r => Procs.Environ(r.Pid!.Value).Count > 0
            && File.ReadAllText($"/proc/{r.Pid}/cmdline").Contains("http-server.js"));
    }

    [Fact]
    public async Task Scale_grows_and_shrinks_from_the_highest_index()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js", "instances = 2"));
        await home.OkAsync("start", config);
        await home.OkAsync("scale", "w", "3");
        (await home.StatusAsync()).Select(r => (r.Instance, r.Status)).Should().Equal((0, "online"), (1, "online"), (2, "online"));
        var doomed = (await home.StatusAsync()).Where(r => r.Instance > 0).Select(r => r.Pid!.Value).ToList();
        await home.OkAsync("scale", "w", "1");
        (await home.StatusAsync()).Select(r => r.Instance).Should().Equal(0);
        doomed.Should().OnlyContain(p => !Procs.IsAlive(p));
        (await home.RunAsync("scale", "w", "many")).Code.Should().Be(2);
    }

    [Fact]
    public async Task Ready_message_waits_for_process_send_ready()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("rm", "ready-message.js", $"port = {port}\nready = \"message\"\nhost = \"127.0.0.1\"\nenv = {{ READY_AFTER_MS = \"700\" }}"));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await home.OkAsync("start", config);
        watch.Elapsed.Should().BeGreaterThan(TimeSpan.FromMilliseconds(600), "online only once the app said ready");
        (await home.InstanceAsync("rm")).Status.Should().Be("online");
    }
}
