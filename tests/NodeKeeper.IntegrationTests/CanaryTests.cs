using System.Diagnostics;
using NodeKeeper.Core.Protocol;
using Xunit.Abstractions;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// A bad deploy never takes the service down: a reload's canary runs beside the old instances under real traffic and
/// is retired when it does worse; a version that fails after the cut-over is rolled back by itself; a good version goes
/// through, and a one-instance app reloads, canary and all, with no failed request. Apps: examples/release.js, whose
/// env makes a version good or bad.
/// </summary>
public sealed class CanaryTests(ITestOutputHelper output)
{
    private static string Web(int port, int instances, string env, string extra = "") =>
        TestHome.App("web", "release.js", $"instances = {instances}\nport = {port}\nhost = \"127.0.0.1\"\nenv = {{ {env} }}\n{extra}");

    [Fact]
    public async Task A_canary_answering_500_on_a_fifth_of_its_requests_is_retired_and_the_old_version_serves_on()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(Web(port, 2, "RELEASE = \"1\""));
        await home.OkAsync("start", config);
        await using var load = new HttpLoad($"http://127.0.0.1:{port}/");
        await load.AnsweredAsync(100, "the old version serving");
        var before = (await home.StatusAsync()).Select(i => i.Pid).ToList();

        home.WriteConfig(Web(port, 2, "RELEASE = \"2\", FAIL_EVERY = \"5\""));
        var watch = Stopwatch.StartNew();
        var reload = await home.RunAsync("reload", "web", "--canary", "60s");
        watch.Stop();
        await load.AnsweredAsync(100, "the old version serving after the canary");
        await load.StopAsync();
        output.WriteLine($"{load}\nnk reload: {watch.ElapsedMilliseconds} ms\n{reload}");

        reload.Code.Should().Be(1, reload.ToString());
        reload.Err.Should().Contain("the canary").And.Contain("worse than the old instances").And.Contain("old definition stays");
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(50), "the canary is retired as soon as it is clearly worse, not at the end of its 60 s");
        var after = await home.StatusAsync();
        after.Select(i => i.Pid).Should().Equal(before, "the old instances were never touched");
        after.Should().OnlyContain(i => i.Role == null && i.Reload!.Last == "canary_failed");
        (await FreshHttp.Get(port)).Should().StartWith("release 1 ");
        // What failed is what the canary answered 500 to (a fifth of its share) before it was judged: a bounded few.
        load.Failures.Should().Be(0, load.ToString());
        load.Count(5).Should().BeInRange(1, 60, load.ToString());

        var why = await home.OkAsync("why", "web");
        why.Out.Should().Contain("canary").And.MatchRegex(@"the new version: \d+ of \d+ failed");
        (await home.OkAsync("status")).Out.Should().Contain("reload web: canary failed");
        (await home.OkAsync("describe", "web")).Out.Should().Contain("canary failed:");
    }

    [Fact]
    public async Task A_version_that_crashes_20_s_after_start_is_rolled_back_after_the_cut_over()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var watchFor = "reload = { watch = \"90s\" }\n";
        await home.OkAsync("start", home.WriteConfig(Web(port, 2, "RELEASE = \"1\"", watchFor)));
        await using var load = new HttpLoad($"http://127.0.0.1:{port}/", keepAlive: 1, fresh: 1, TimeSpan.FromMilliseconds(20));
        await load.AnsweredAsync(50, "the old version serving");

        home.WriteConfig(Web(port, 2, "RELEASE = \"2\", CRASH_AFTER_MS = \"20000\"", watchFor));
        await home.OkAsync("reload", "web");
        (await home.StatusAsync()).Should().OnlyContain(i => i.Reload!.Phase == "watching");
        (await FreshHttp.Get(port)).Should().StartWith("release 2 ");

        var rolled = await home.WaitForAllAsync("web", i => i.Reload?.Last == "rolled_back", "rolled back", seconds: 75);
        await home.WaitForAllAsync("web", i => i.Status == "online", "online on the old version");
        (await FreshHttp.Get(port)).Should().StartWith("release 1 ");
        await load.AnsweredAsync(50, "the old version serving again");
        await load.StopAsync();
        output.WriteLine(load.ToString());
        rolled[0].Reload!.LastSummary.Should().Contain("exited");

        var why = await home.OkAsync("why", "web");
        why.Out.Should().Contain("rolled back").And.Contain("crash");
        (await home.RunAsync("rollback", "web")).Code.Should().Be(0, "nk rollback goes back to the definition before the last reload: the crashing one, by hand");
    }

    [Fact]
    public async Task A_good_version_goes_through_its_canary_and_a_one_instance_app_loses_no_request_then_rolls_back_by_hand()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        await home.OkAsync("start", home.WriteConfig(Web(port, 1, "RELEASE = \"1\"")));
        await using var nginx = await NginxServer.ProxyAsync(home, "web");
        var loads = new List<Wrk>
        {
            Wrk.Start("direct GET", $"http://127.0.0.1:{port}/", post: false, connections: 4),
            Wrk.Start("nginx POST", $"http://127.0.0.1:{nginx.Port}/", post: true, connections: 4),
        };
        await using var fresh = new HttpLoad($"http://127.0.0.1:{port}/", keepAlive: 0, fresh: 2);
        var results = new List<WrkResult>();
        NkResult reload, rollback;
        int? pid;
        try
        {
            await fresh.AnsweredAsync(50, "fresh connections served");
            pid = (await home.InstanceAsync("web")).Pid;
            home.WriteConfig(Web(port, 1, "RELEASE = \"2\""));
            reload = await home.RunAsync("reload", "web", "--canary", "3s");
            reload.Code.Should().Be(0, reload.ToString());
            (await FreshHttp.Get(port)).Should().StartWith("release 2 ");
            await fresh.AnsweredAsync(50, "fresh connections served after the reload");
            rollback = await home.RunAsync("rollback", "web");
            await fresh.AnsweredAsync(50, "fresh connections served after the rollback");
        }
        finally
        {
            foreach (var w in loads) results.Add(await w.StopAsync());
            foreach (var w in loads) await w.DisposeAsync();
            await fresh.StopAsync();
        }
        var report = string.Join("\n", results) + $"\n{fresh}";
        output.WriteLine(report);

        reload.Code.Should().Be(0, reload.ToString());
        rollback.Code.Should().Be(0, rollback.ToString());
        (await FreshHttp.Get(port)).Should().StartWith("release 1 ", "nk rollback brought the definition before the reload back");
        var row = await home.InstanceAsync("web");
        row.Pid.Should().NotBe(pid);
        row.Reload!.Last.Should().Be("rollback");
        var described = await home.OkAsync("describe", "web");
        described.Out.Should().Contain("reloaded: 1 instance(s) replaced one at a time").And.Contain("rollback: nk rollback");
        foreach (var r in results)
        {
            r.Requests.Should().BeGreaterThan(0, report);
            r.SocketErrors.Should().Be(0, $"{r.Label}: no request may fail while the canary runs beside the old instance\n{report}\n{nginx.ErrorLog()}");
            r.Non2xx.Should().Be(0, $"{r.Label}\n{report}\n{nginx.ErrorLog()}");
        }
        (fresh.Failures + fresh.Count(5)).Should().Be(0, report);
    }
}
