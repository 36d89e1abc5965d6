using NodeKeeper.Core.Protocol;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// The preload counts every instance's HTTP responses by status class with no change to the app, and status,
/// describe and /metrics show them: the counts equal what the clients saw, for keep-alive and fresh connections, GET and
/// POST, with a plain http server, with express, fastify and koa written as their docs show, and with an app built on
/// Node's cluster module.
/// </summary>
public sealed class HttpOutcomeTests
{
    [Fact]
    public async Task The_counts_by_class_equal_what_the_clients_saw_and_metrics_and_describe_show_them()
    {
        await using var home = new TestHome();
        var (port, httpPort) = (FreePort.Next(), FreePort.Next());
        await home.OkAsync("start", home.WriteConfig($"[daemon]\nhttp = \"127.0.0.1:{httpPort}\"\n" +
            TestHome.App("web", "release.js", $"instances = 2\nport = {port}\nhost = \"127.0.0.1\"\n")));
        await home.WaitForAllAsync("web", i => i.Status == "online", "online");

        // One load per route (keep-alive and fresh connections, GET and POST alternately): 200, 302, 404 and 503.
        var loads = new[] { "/", "/status/302", "/status/404", "/status/503" }
            .Select(path => new HttpLoad($"http://127.0.0.1:{port}{path}", keepAlive: 1, fresh: 1, TimeSpan.FromMilliseconds(10))).ToList();
        foreach (var l in loads) await l.AnsweredAsync(60, $"answers from {l}");
        foreach (var l in loads) await l.StopAsync();
        // Connections the app closes without an answer are incomplete responses (sent raw: HttpClient would retry).
        const int aborted = 7;
        for (var i = 0; i < aborted; i++)
        {
            using var raw = await RawHttp.ConnectAsync(port);
            await raw.SendAsync(RawHttp.Get("/abort"));
            (await raw.ClosedAsync(TimeSpan.FromSeconds(10))).Should().BeTrue("the app closes the connection without an answer");
        }

        foreach (var l in loads) l.Failures.Should().Be(0, l.ToString());
        var expected = (C2: loads[0].Count(2), C3: loads[1].Count(3), C4: loads[2].Count(4), C5: loads[3].Count(5), Incomplete: (long)aborted);
        var rows = await Eventually.Last(home.StatusAsync, rs => Sum(rs) == expected, TimeSpan.FromSeconds(15));
        Sum(rows).Should().Be(expected, string.Join("\n", loads) + "\n(the preload reports once a second: a count still short here was lost)");
        rows.Should().OnlyContain(r => r.Http!.P99Ms != null || r.Http.Total == 0 || r.RequestsPerSecond != null);

        var metrics = await new HttpClient().GetStringAsync($"http://127.0.0.1:{httpPort}/metrics");
        long Metric(string cls) => metrics.Split('\n').Where(l => l.StartsWith("nodekeeper_http_requests_total{app=\"web\"") && l.Contains($"class=\"{cls}\""))
            .Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..]));
        (Metric("2xx"), Metric("3xx"), Metric("4xx"), Metric("5xx"), Metric("incomplete")).Should().Be(expected, metrics);
        metrics.Should().Contain("nodekeeper_http_request_duration_seconds_bucket{app=\"web\",instance=\"0\",le=\"+Inf\"}");

        var described = await home.OkAsync("describe", "web");
        described.Out.Should().MatchRegex(@"\d: http 2xx \d+, 3xx \d+, 4xx \d+, 5xx \d+, incomplete \d+");
    }

    [Fact]
    public async Task With_http_metrics_false_nothing_is_counted_and_the_app_serves_as_before()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        await home.OkAsync("start", home.WriteConfig(TestHome.App("web", "cluster-app.js", $"port = {port}\nhost = \"127.0.0.1\"\nhttp_metrics = false\n")));
        await home.WaitForAsync("web", i => i.Status == "online" && i.HeapUsedBytes != null, "online and reporting");
        var load = new HttpLoad($"http://127.0.0.1:{port}/", keepAlive: 1, fresh: 1, TimeSpan.FromMilliseconds(10));
        await load.AnsweredAsync(40, "answers");
        await load.StopAsync();
        var reportedAt = (await home.InstanceAsync("web")).UptimeMs;
        // Two more reports: still no counts, from the primary or its workers.
        var row = await home.WaitForAsync("web", i => i.UptimeMs > reportedAt + 2500, "two more report intervals");
        row.Http.Should().BeNull();
        row.HeapUsedBytes.Should().NotBeNull("the rest of the report comes as before");
        load.Count(2).Should().Be(load.Answered, load.ToString());
    }

    private static (long, long, long, long, long) Sum(IReadOnlyList<InstanceInfo> rows) => (
        rows.Sum(r => r.Http?.Class2xx ?? 0), rows.Sum(r => r.Http?.Class3xx ?? 0), rows.Sum(r => r.Http?.Class4xx ?? 0),
        rows.Sum(r => r.Http?.Class5xx ?? 0), rows.Sum(r => r.Http?.Incomplete ?? 0));

    [Theory]
    [InlineData("frameworks/express-app.js")]
    [InlineData("frameworks/fastify-app.js")]
    [InlineData("frameworks/koa-app.js")]
    [InlineData("cluster-app.js")]
    public async Task A_framework_or_cluster_app_is_counted_as_it_answers(string app)
    {
        Directory.Exists(Path.Combine(Repo.Examples, "frameworks", "node_modules")).Should()
            .BeTrue("examples/frameworks needs its packages from npm: run tests/setup.sh (the README's test command does)");
        await using var home = new TestHome();
        var port = FreePort.Next();
        await home.OkAsync("start", home.WriteConfig(TestHome.App("web", app, $"port = {port}\nhost = \"127.0.0.1\"\n")));
        await home.WaitForAsync("web", i => i.Status == "online", "online");
        // GET and POST / answer 200 (POST with a JSON body); the framework answers 404 on a route it does not have.
        var ok = new HttpLoad($"http://127.0.0.1:{port}/", keepAlive: 1, fresh: 1, TimeSpan.FromMilliseconds(10));
        var missing = new HttpLoad($"http://127.0.0.1:{port}/missing", keepAlive: 1, fresh: 0, TimeSpan.FromMilliseconds(10));
        await ok.AnsweredAsync(40, "answers");
        await missing.AnsweredAsync(20, "404s");
        await ok.StopAsync();
        await missing.StopAsync();

        // (Koa's example and the cluster app answer every path; express and fastify answer 404 where they have no route.
        // The cluster app's workers serve, and hand their counts to the primary, the instance.)
        var expected = (ok.Count(2) + missing.Count(2), missing.Count(4) + ok.Count(4));
        var row = await Eventually.Last(() => home.InstanceAsync("web"), r => (r.Http?.Class2xx, r.Http?.Class4xx) == expected, TimeSpan.FromSeconds(15));
        ((long?)row.Http?.Class2xx, row.Http?.Class4xx).Should().Be(((long?)expected.Item1, (long?)expected.Item2), $"{ok}\n{missing}");
        (row.Http!.Class5xx + row.Http.Incomplete).Should().Be(0);
    }
}
