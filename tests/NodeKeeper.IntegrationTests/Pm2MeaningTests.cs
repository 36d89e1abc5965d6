using NodeKeeper.Core.Protocol;

namespace NodeKeeper.IntegrationTests;

/// <summary>The keys that keep PM2's meaning where its words mean something else in NodeKeeper (nk import writes them).</summary>
public sealed class Pm2MeaningTests
{
    [Fact]
    public async Task Not_ready_online_counts_an_app_online_after_listen_timeout_and_leaves_it_running()
    {
        await using var home = new TestHome();
        // It listens but never sends 'ready': NodeKeeper's default would kill it as not ready, PM2 counts it online.
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("slow", "http-server.js",
            $"ready = \"message\"\nlisten_timeout = \"1s\"\nnot_ready = \"online\"\nenv = {{ PORT = \"{port}\" }}"));

        var start = await home.RunAsync("start", config);

        start.Code.Should().Be(0, start.ToString());
        var online = await home.InstanceAsync("slow");
        online.Status.Should().Be("online");
        online.UptimeMs.Should().BeGreaterThanOrEqualTo(900, "it became online at listen_timeout, not before");
        await Eventually.Until(() => home.InstanceAsync("slow"), i => i.UptimeMs >= 3000, TimeSpan.FromSeconds(15), "running on");
        var later = await home.InstanceAsync("slow");
        later.Should().Match<InstanceInfo>(i => i.Status == "online" && i.Pid == online.Pid && i.Restarts == 0 && i.LastExit == null);
    }

    [Fact]
    public async Task Fixed_restart_delay_waits_before_every_restart_after_a_stable_run_too()
    {
        await using var home = new TestHome();
        // Runs of 300 ms are stable (min_uptime 100 ms): without fixed_restart_delay each would restart at once.
        var config = home.WriteConfig(TestHome.App("job", "crasher.js",
            "min_uptime = \"100ms\"\nfixed_restart_delay = \"1s\"\nenv = { CRASH_AFTER_MS = \"300\" }"));
        await home.RunAsync("start", config, "--no-wait");

        await home.WaitForAsync("job", i => i.Starts >= 3, "started three times", seconds: 30);
        var exits = (await home.DescribeAsync("job")).RecentExits.OrderBy(e => e.At).ToList();
        exits.Should().HaveCountGreaterThanOrEqualTo(2);
        exits.Select(e => e.RestartDelayMs).Should().OnlyContain(ms => ms == 1000);
        var starts = await home.InstanceAsync("job");
        starts.UnstableRuns.Should().Be(0, "every run was stable");
    }

    [Fact]
    public async Task Cron_restart_restarts_a_running_app_and_runs_a_finished_job_again_until_it_is_stopped()
    {
        await using var home = new TestHome();
        // Every 2 seconds (six fields: seconds first). The job exits 0 at once and is not restarted by itself.
        var config = home.WriteConfig(
            TestHome.App("api", "http-server.js", $"cron_restart = \"*/2 * * * * *\"\nenv = {{ PORT = \"{FreePort.Next()}\" }}") +
            TestHome.App("job", "crasher.js", "cron_restart = \"*/2 * * * * *\"\nrestart = \"never\"\nenv = { EXIT_CODE = \"0\" }"));
        (await home.RunAsync("start", config, "--no-wait")).Code.Should().Be(0);

        var job = await home.WaitForAsync("job", i => i.Starts >= 3, "started again by cron twice", seconds: 20);
        job.LastExit!.Reason.Should().Be("exit");
        var api = await home.WaitForAsync("api", i => i.Status == "online" && i.Restarts >= 2, "restarted by cron twice", seconds: 20);
        (await home.DescribeAsync("api")).RecentExits.Should().Contain(e => e.Reason == "cron" && e.Evidence.Contains("cron_restart \"*/2 * * * * *\""));

        (await home.RunAsync("stop", "job")).Code.Should().Be(0);
        var stopped = await home.InstanceAsync("job");
        await Eventually.Until(() => home.InstanceAsync("api"), i => i.Restarts >= api.Restarts + 2, TimeSpan.FromSeconds(20), "two more cron times passed");
        (await home.InstanceAsync("job")).Starts.Should().Be(stopped.Starts, "an app stopped with nk stop is left alone");
    }

    [Fact]
    public async Task Start_with_env_merges_the_profile_and_a_reload_keeps_it()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("api", "worker.js",
            "env = { NODE_ENV = \"development\", SHARED = \"1\" }\nenv_production = { NODE_ENV = \"production\" }") +
            TestHome.App("other", "worker.js", "env = { NODE_ENV = \"development\" }"));

        (await home.RunAsync("start", config, "--env", "qa")).Should().Match<NkResult>(r => r.Code == 2 && r.Err.Contains("--env qa: no app of"));
        (await home.StatusAsync()).Should().BeEmpty("a bad --env starts nothing");
        (await home.RunAsync("start", config, "--env", "production")).Code.Should().Be(0);

        Dictionary<string, string> Env(InstanceInfo i) => Procs.Environ(i.Pid!.Value);
        var api = await home.InstanceAsync("api");
        Env(api).Should().Contain("NODE_ENV", "production").And.Contain("SHARED", "1");
        Env(await home.InstanceAsync("other"))["NODE_ENV"].Should().Be("development", "an app without env_production keeps its env");

        (await home.RunAsync("reload", "api")).Code.Should().Be(0);
        var reloaded = await home.InstanceAsync("api");
        reloaded.Pid.Should().NotBe(api.Pid);
        Env(reloaded)["NODE_ENV"].Should().Be("production", "the profile chosen at start stays chosen");
    }
}
