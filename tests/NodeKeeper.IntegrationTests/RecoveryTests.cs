namespace NodeKeeper.IntegrationTests;

/// <summary>nk save / nk resurrect, and a daemon that takes over after its predecessor was killed.</summary>
public sealed class RecoveryTests
{
    [Fact]
    public async Task Save_kill_and_resurrect_bring_back_the_same_apps_without_writing_env_file_secrets()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var envFile = Path.Combine(home.Configs, "web.env");
        File.WriteAllText(envFile, "SECRET=from-the-env-file\n");
        var config = home.WriteConfig(
            TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\"\ninstances = 2\nenv_file = \"{envFile}\"\nenv = {{ MODE = \"blue\" }}") +
            TestHome.App("w", "worker.js"));
        await home.OkAsync("start", config);
        await home.OkAsync("stop", "w");
        await home.OkAsync("save");
        var dump = File.ReadAllText(Path.Combine(home.Home, "dump.json"));
        dump.Should().Contain("\"MODE\": \"blue\"", "what the user wrote in env is kept").And.NotContain("from-the-env-file", "env_file values stay in their file");

        await home.OkAsync("kill");
        File.Exists(Path.Combine(home.Home, "state.json")).Should().BeFalse("a graceful stop leaves nothing to recover");
        var resurrect = await home.OkAsync("resurrect");
        resurrect.Err.Should().Contain("resurrected 2 app(s)");

        var rows = await home.StatusAsync();
        rows.Where(r => r.Name == "web").Should().HaveCount(2).And.OnlyContain(r => r.Status == "online" && r.Port == port);
        rows.Where(r => r.Name == "w").Should().ContainSingle().Which.Status.Should().Be("stopped", "it was stopped when saved");
        var env = Procs.Environ((await home.InstanceAsync("web")).Pid!.Value);
        env["SECRET"].Should().Be("from-the-env-file", "read again from the env file");
        env["MODE"].Should().Be("blue");
        (await FreshHttp.Get(port)).Should().StartWith("hello");
    }

    [Fact]
    public async Task Saving_no_apps_over_a_saved_list_needs_force()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js"));
        await home.OkAsync("start", config);
        await home.OkAsync("save");
        await home.OkAsync("delete", "w");
        var refused = await home.RunAsync("save");
        refused.Code.Should().Be(1);
        refused.Err.Should().Contain("--force").And.Contain("1 app(s)");
        File.ReadAllText(Path.Combine(home.Home, "dump.json")).Should().Contain("\"name\": \"w\"", "nothing was written");
        await home.OkAsync("save", "--force");
        File.ReadAllText(Path.Combine(home.Home, "dump.json")).Should().NotContain("\"name\": \"w\"");
        (await home.RunAsync("resurrect")).Code.Should().Be(0);
    }

    [Fact]
    public async Task After_a_kill_9_of_the_daemon_the_next_one_ends_the_orphans_and_brings_the_apps_back()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(
            TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\"\ninstances = 2") +
            TestHome.App("sp", "spawner.js") + TestHome.App("w", "worker.js"));
        await home.OkAsync("start", config);
        await home.WaitForLogAsync("sp", "detached");
        await home.OkAsync("stop", "w");
        var daemon = home.DaemonPid()!.Value;
        // Every process of the old generation: the apps and what they spawned (spawner.js leaves a detached grandchild).
        await Eventually.Until(() => Task.FromResult(NodeKeeper.Daemon.State.StateFile.Read(Path.Combine(home.Home, "state.json")).State),
            s => s is not null && s.Apps.Any(a => a.Spec.Name == "w" && !a.Running), TimeSpan.FromSeconds(5), "the state file to show w stopped");
        var old = Procs.OwnedBy(home.Home).Where(p => p != daemon).ToList();
        old.Should().HaveCountGreaterThanOrEqualTo(4);

        Procs.Signal(daemon, 9, home.Home);
        await Eventually.Until(() => Task.FromResult(Procs.IsAlive(daemon)), alive => !alive, TimeSpan.FromSeconds(5), "the daemon to die");
        var rows = await Eventually.Until(() => home.StatusAsync(),
            r => r.Where(i => i.Name != "w").All(i => i.Status == "online") && r.Count == 4, TimeSpan.FromSeconds(30), "the apps back online");
        rows.Single(r => r.Name == "w").Status.Should().Be("stopped", "it was stopped before the crash");
        rows.Where(r => r.Pid is not null).Select(r => r.Pid!.Value).Should().NotIntersectWith(old, "new processes");
        old.Where(Procs.IsAlive).Should().BeEmpty("no process of the old generation remains");
        (await FreshHttp.Get(port)).Should().StartWith("hello");
        File.ReadAllText(Path.Combine(home.Home, "daemon.log")).Should().Contain("did not stop gracefully");
    }
}
