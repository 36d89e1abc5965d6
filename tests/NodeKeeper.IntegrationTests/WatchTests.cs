namespace NodeKeeper.IntegrationTests;

/// <summary>watch / ignore_watch: a change restarts the app, reason watch; node_modules and ignored files do not.</summary>
public sealed class WatchTests
{
    [Fact]
    public async Task A_change_under_a_watched_folder_restarts_the_app_and_node_modules_or_ignored_files_do_not()
    {
        await using var home = new TestHome();
        var src = Directory.CreateDirectory(Path.Combine(home.Configs, "src")).FullName;
        var modules = Directory.CreateDirectory(Path.Combine(src, "node_modules", "dep")).FullName;
        File.WriteAllText(Path.Combine(src, "app.js"), "// v1\n");
        var config = home.WriteConfig(TestHome.App("w", "worker.js", $"watch = [\"{src}\"]\nignore_watch = [\"*.log\"]"));
        await home.OkAsync("start", config);
        var first = (await home.InstanceAsync("w")).Pid;

        // Changes that must not restart: in node_modules, and a file ignore_watch names. Then one that must.
        File.WriteAllText(Path.Combine(modules, "index.js"), "// changed\n");
        File.WriteAllText(Path.Combine(src, "debug.log"), "noise\n");
        File.WriteAllText(Path.Combine(src, "app.js"), "// v2\n");
        var row = await home.WaitForAsync("w", i => i.Restarts >= 1 && i.Status == "online", "restarted after the change");
        row.LastExit!.Reason.Should().Be("watch");
        row.Pid.Should().NotBe(first);
        var log = File.ReadAllText(Path.Combine(home.Home, "daemon.log"));
        log.Should().Contain($"{src}/app.js changed: restarting").And.NotContain("node_modules/dep/index.js changed").And.NotContain("debug.log changed");

        // The restart settles at one: nothing else was seen as a change.
        await Eventually.Until(() => home.InstanceAsync("w"), i => i.UptimeMs > 1500, TimeSpan.FromSeconds(10), "the new process to run a while");
        (await home.InstanceAsync("w")).Restarts.Should().Be(1);
    }

    [Fact]
    public async Task Two_instances_restart_one_at_a_time_on_a_change()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var src = Directory.CreateDirectory(Path.Combine(home.Configs, "src")).FullName;
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\"\ninstances = 2\nwatch = [\"{src}\"]"));
        await home.OkAsync("start", config);
        var load = new LoadClient(port);
        File.WriteAllText(Path.Combine(src, "routes.js"), "// new\n");
        await Eventually.Until(() => home.StatusAsync(), rows => rows.All(r => r.Restarts == 1 && r.Status == "online"),
            TimeSpan.FromSeconds(30), "both instances restarted");
        await load.DisposeAsync();
        (await home.StatusAsync()).Should().OnlyContain(r => r.LastExit!.Reason == "watch");
        load.Unserved.Should().Be(0, $"one instance at a time on the shared port ({load.Served} served)");
    }
}
