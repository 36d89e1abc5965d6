namespace NodeKeeper.IntegrationTests;

/// <summary>health = { url, interval, timeout, failures, max_lag }: failed checks end in a graceful restart, reason health.</summary>
public sealed class HealthTests
{
    [Fact]
    public async Task An_app_whose_health_url_starts_failing_is_restarted_with_reason_health()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("sick", "sick-server.js",
            $"port = {port}\nhost = \"127.0.0.1\"\nenv = {{ SICK_AFTER_MS = \"1500\" }}\n" +
            $"health = {{ url = \"http://127.0.0.1:{port}/health\", interval = \"300ms\", timeout = \"1s\", failures = 2 }}"));
        await home.OkAsync("start", config);
        // The first restart may already have come by the time a status is read: wait for the one after what was read.
        var first = await home.InstanceAsync("sick");
        var row = await home.WaitForAsync("sick", i => i.Restarts > first.Restarts && i.LastExit != null, "restarted by the health check");
        row.LastExit!.Reason.Should().Be("health");
        row.Pid.Should().NotBe(first.Pid);
        (await home.OkAsync("describe", "sick")).Out.Should().Contain("health");
    }

    [Fact]
    public async Task Two_instances_failing_their_shared_health_url_are_restarted_one_at_a_time()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("sick", "sick-server.js",
            $"port = {port}\ninstances = 2\nhost = \"127.0.0.1\"\nenv = {{ SICK_AFTER_MS = \"2000\" }}\n" +
            $"health = {{ url = \"http://127.0.0.1:{port}/health\", interval = \"300ms\", timeout = \"1s\", failures = 2 }}"));
        await home.OkAsync("start", config);
        var load = new LoadClient(port);
        await Eventually.Until(() => home.StatusAsync(), rows => rows.All(r => r.Restarts >= 1 && r.Status == "online"),
            TimeSpan.FromSeconds(30), "both instances restarted by the health check");
        await load.DisposeAsync();
        var rows = await home.StatusAsync();
        rows.Should().OnlyContain(r => r.LastExit!.Reason == "health");
        load.Unserved.Should().Be(0, $"one instance at a time: the other serves ({load.Served} served)");
    }

    [Fact]
    public async Task An_event_loop_lagging_above_max_lag_fails_its_health_check()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("blk", "blocker.js",
            $"port = {port}\nhost = \"127.0.0.1\"\n" +
            $"health = {{ url = \"http://127.0.0.1:{port}/\", interval = \"500ms\", timeout = \"2s\", failures = 2, max_lag = \"100ms\" }}"));
        await home.OkAsync("start", config);
        var row = await home.WaitForAsync("blk", i => i.Restarts >= 1 && i.LastExit != null, "restarted for its event-loop lag");
        row.LastExit!.Reason.Should().Be("health");
        File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Should().Contain("above health.max_lag");
    }

    [Fact]
    public async Task A_stalled_event_loop_fails_its_health_check_before_the_url_is_ever_probed()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("stuck", "blocker.js",
            $"port = {port}\nhost = \"127.0.0.1\"\nenv = {{ BLOCK_MS = \"60000\", EVERY_MS = \"2000\" }}\n" +
            $"health = {{ url = \"http://127.0.0.1:{port}/\", interval = \"1h\", timeout = \"500ms\", failures = 3 }}"));
        await home.OkAsync("start", config);
        var row = await home.WaitForAsync("stuck", i => i.Restarts >= 1 && i.LastExit != null, "restarted for its stalled event loop");
        row.LastExit!.Reason.Should().Be("health");
        (await home.OkAsync("why", "stuck")).Out.Should().Contain("event loop stalled: no report from the process");
    }

    [Fact]
    public async Task In_increment_mode_each_instance_is_probed_on_its_own_port()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        // Only instance 1 turns sick: only its own port's probe fails, so only it is restarted.
        var config = home.WriteConfig(TestHome.App("sick", "sick-server.js",
            $"port = {port}\nport_mode = \"increment\"\ninstances = 2\nenv = {{ SICK_INSTANCE = \"1\", SICK_AFTER_MS = \"500\" }}\n" +
            $"health = {{ url = \"http://127.0.0.1:{port}/health\", interval = \"300ms\", timeout = \"1s\", failures = 2 }}"));
        await home.OkAsync("start", config);
        var row = await home.WaitForAsync("sick", i => i.Restarts >= 1 && i.LastExit != null, "instance 1 restarted", instance: 1);
        row.LastExit!.Reason.Should().Be("health");
        var zero = await home.InstanceAsync("sick", 0);
        zero.Restarts.Should().Be(0, "instance 0 answers on its own port");
        zero.Status.Should().Be("online");
    }
}
