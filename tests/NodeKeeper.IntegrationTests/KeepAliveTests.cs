using Xunit.Abstractions;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// No request fails while an app reloads or restarts, for the clients production has: keep-alive connections (wrk,
/// which never retries) straight to the port and through a real nginx configured by `nk nginx`, with GET and with POST
/// (which nginx never retries), for a graceful server and one with no signal handler, with real frameworks from npm and
/// an app built on Node's `cluster`, on a machine kept busy by a spinning process per core (the Node 18/22 and https
/// variants, which check what differs between versions and with TLS, run without it to keep CI's time). The class runs
/// alone: its load would otherwise eat the deadlines of every other test.
/// </summary>
[Collection(nameof(KeepAliveTests))]
public sealed class KeepAliveTests(ITestOutputHelper output)
{
    /// <summary>Reloads and restarts per run: the second of each happens under a load that has lived through the first.</summary>
    private const int Actions = 2;

    [Theory]
    [InlineData("keepalive-graceful.js", 2)]
    [InlineData("keepalive-graceful.js", 1)]
    [InlineData("no-handler.js", 2)]
    [InlineData("no-handler.js", 1)]
    public async Task No_keep_alive_request_fails_during_reloads_and_restarts(string app, int instances) =>
        await ReloadsAndRestartsUnderLoad(Repo.Example(app), instances, Actions, Actions);

    /// <summary>
    /// The same on Node 18 (whose server.close() leaves idle connections alone) and 22; tests/setup.sh installs them.
    /// (DrainTests checks each of these apps and the frameworks on every version, one connection at a time.)
    /// </summary>
    [Theory]
    [InlineData("18", "keepalive-graceful.js")]
    [InlineData("22", "no-handler.js")]
    public async Task Node_18_and_22_lose_no_keep_alive_request_either(string major, string app)
    {
        var node = Path.Combine(Repo.Root, "tests", ".node", major, "bin", "node");
        File.Exists(node).Should().BeTrue($"Node {major} comes from the npm registry: run tests/setup.sh (the README's test command does)");
        await ReloadsAndRestartsUnderLoad(Repo.Example(app), 2, 1, 1, $"interpreter = \"{node}\"\n", busy: false);
    }

    /// <summary>TLS connections drain the same way (nk nginx proxies plain HTTP, so this load goes straight to the port).</summary>
    [Fact]
    public async Task An_https_app_loses_no_keep_alive_request()
    {
        var dir = Path.Combine(Path.GetTempPath(), "nk-tls-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var tls = SelfSignedTls.Write(dir);
            await ReloadsAndRestartsUnderLoad(Repo.Example("https-server.js"), 2, 1, 1, tls.Env + "\n", https: true, busy: false);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Koa is checked one connection at a time on Node 18, 20 and 22 in DrainTests.</summary>
    [Theory]
    [InlineData("frameworks/express-app.js")]
    [InlineData("frameworks/fastify-app.js")]
    [InlineData("cluster-app.js")]
    public async Task Framework_and_cluster_apps_lose_no_request_during_reloads(string app)
    {
        var script = Repo.Example(app);
        if (app.StartsWith("frameworks/", StringComparison.Ordinal))
            Directory.Exists(Path.Combine(Repo.Examples, "frameworks", "node_modules")).Should()
                .BeTrue("examples/frameworks needs its packages from npm: run tests/setup.sh (the README's test command does)");
        await ReloadsAndRestartsUnderLoad(script, app == "cluster-app.js" ? 1 : 2, Actions, 0);
    }

    private async Task ReloadsAndRestartsUnderLoad(string script, int instances, int reloads, int restarts, string extra = "", bool https = false, bool busy = true)
    {
        await using var loops = busy ? new BusyMachine() : null;
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig($"[[app]]\nname = \"web\"\nscript = \"{script}\"\ninstances = {instances}\nport = {port}\nhost = \"127.0.0.1\"\n{extra}");
        await home.OkAsync("start", config);
        await using var nginx = https ? null : await NginxServer.ProxyAsync(home, "web");
        var scheme = https ? "https" : "http";
        var loads = new List<Wrk>
        {
            Wrk.Start("direct GET", $"{scheme}://127.0.0.1:{port}/", post: false),
            Wrk.Start("direct POST", $"{scheme}://127.0.0.1:{port}/", post: true),
        };
        if (nginx is not null)
        {
            loads.Add(Wrk.Start("nginx GET", $"http://127.0.0.1:{nginx.Port}/", post: false));
            loads.Add(Wrk.Start("nginx POST", $"http://127.0.0.1:{nginx.Port}/", post: true));
        }
        var results = new List<WrkResult>();
        var actions = new List<string>();
        try
        {
            await Progress(loads);
            foreach (var action in Enumerable.Repeat("reload", reloads).Concat(Enumerable.Repeat("restart", restarts)))
            {
                var before = (await home.StatusAsync()).Select(i => i.Pid).ToList();
                var watch = System.Diagnostics.Stopwatch.StartNew();
                await home.OkAsync(action, "web");
                var after = await home.WaitForAllAsync("web", i => i.Status == "online", "online again");
                after.Select(i => i.Pid).Should().NotIntersectWith(before, $"every instance has a new process after {action}");
                actions.Add($"{action} {watch.ElapsedMilliseconds} ms");
                // The load goes on after the action, so the next one happens under load too.
                await Progress(loads);
            }
        }
        finally
        {
            foreach (var w in loads) results.Add(await w.StopAsync());
            foreach (var w in loads) await w.DisposeAsync();
        }

        var report = string.Join("\n", results) + $"\n{string.Join(", ", actions)}";
        output.WriteLine(report);
        foreach (var r in results)
        {
            r.Requests.Should().BeGreaterThan(0, report);
            r.SocketErrors.Should().Be(0, $"{r.Label}: no keep-alive connection may be closed under a request\n{report}\nnginx error.log:\n{Tail(nginx?.ErrorLog() ?? "")}");
            r.Non2xx.Should().Be(0, $"{r.Label}: every request is answered 200\n{report}\nnginx error.log:\n{Tail(nginx?.ErrorLog() ?? "")}");
        }
    }

    /// <summary>
    /// A kill -9 cannot save the requests the killed process was serving: what it costs is at most one request per
    /// connection it held (a POST through nginx gets a 502; nginx does not resend it), and nothing else fails: the
    /// other instance serves on, and new connections wait in the held socket for the replacement.
    /// </summary>
    [Fact]
    public async Task A_kill_9_costs_at_most_the_requests_the_killed_process_was_serving()
    {
        const int connections = 8, kills = 3;
        await using var busy = new BusyMachine();
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "no-handler.js", $"instances = 2\nport = {port}\nhost = \"127.0.0.1\"\n"));
        await home.OkAsync("start", config);
        await using var nginx = await NginxServer.ProxyAsync(home, "web");
        var loads = new List<Wrk>
        {
            Wrk.Start("direct POST", $"http://127.0.0.1:{port}/", post: true, connections),
            Wrk.Start("nginx POST", $"http://127.0.0.1:{nginx.Port}/", post: true, connections),
        };
        var results = new List<WrkResult>();
        try
        {
            await Progress(loads);
            for (var k = 0; k < kills; k++)
            {
                var victim = (await home.InstanceAsync("web", k % 2)).Pid!.Value;
                Procs.Signal(victim, 9, home.Home);
                await home.WaitForAsync("web", i => i.Status == "online" && i.Pid != victim, "back after the kill -9", instance: k % 2);
                await Progress(loads);
            }
        }
        finally
        {
            foreach (var w in loads) results.Add(await w.StopAsync());
            foreach (var w in loads) await w.DisposeAsync();
        }

        var report = string.Join("\n", results) + $"\nper kill -9: direct {results[0].SocketErrors / (double)kills:0.#} socket errors, " +
            $"nginx {results[1].Non2xx / (double)kills:0.#} non-2xx";
        output.WriteLine(report);
        foreach (var r in results)
        {
            r.Requests.Should().BeGreaterThan(0, report);
            (r.SocketErrors + r.Non2xx).Should().BeLessThanOrEqualTo(connections * kills,
                $"{r.Label}: only the requests in flight on the killed process may fail\n{report}\nnginx error.log:\n{Tail(nginx.ErrorLog())}");
        }
        results[1].SocketErrors.Should().Be(0, "nginx answers its client even when the app's connection dies");
    }

    /// <summary>Waits until every load has read more responses than it had.</summary>
    private static async Task Progress(IReadOnlyList<Wrk> loads)
    {
        var from = loads.Select(w => w.BytesRead()).ToList();
        await Eventually.Until(() => loads.Select((w, i) => w.BytesRead() > from[i] + 64 * 1024).All(x => x),
            TimeSpan.FromSeconds(30), "every load to read more responses");
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}

[CollectionDefinition(nameof(KeepAliveTests), DisableParallelization = true)]
public sealed class KeepAliveTestsCollection;
