using System.Diagnostics;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// What a retiring instance does with each connection it holds, seen from the client's side of the socket:
/// pipelined requests, a long request in progress, upgraded connections and the drain deadline.
/// </summary>
public sealed class DrainTests
{
    private static readonly TimeSpan Read = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A pipelining client writes three requests at once (GET, POST, GET) and reads three responses, again and again on
    /// one keep-alive connection; the app answers GETs at once (inside its request handler). Every request sent is
    /// answered through reloads and restarts: only the last of a batch may say `Connection: close`.
    /// </summary>
    [Theory]
    [InlineData("no-handler.js")]
    [InlineData("keepalive-graceful.js")]
    public async Task Pipelined_requests_are_all_answered_through_reloads_and_restarts(string app)
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        await home.OkAsync("start", home.WriteConfig(TestHome.App("web", app, $"instances = 2\nport = {port}\nhost = \"127.0.0.1\"")));
        using var stop = new CancellationTokenSource();
        long batches = 0, closes = 0;
        var problems = new List<string>();
        var client = Task.Run(async () =>
        {
            var batch = RawHttp.Get("/a") + RawHttp.Post("{\"order\": 42}") + RawHttp.Get("/b");
            while (!stop.IsCancellationRequested)
            {
                using var http = await RawHttp.ConnectAsync(port);
                var open = true;
                while (open && !stop.IsCancellationRequested)
                {
                    await http.SendAsync(batch);
                    for (var i = 0; i < 3; i++)
                    {
                        var r = await http.ReadAsync(Read);
                        if (r is null) { lock (problems) problems.Add($"request {i + 1} of 3 unanswered: the connection closed"); open = false; break; }
                        if (r.Status != 200) lock (problems) problems.Add($"request {i + 1} of 3: status {r.Status}");
                        if (r.Closes && i < 2) { lock (problems) problems.Add($"response {i + 1} of 3 said Connection: close"); open = false; break; }
                        if (r.Closes) { Interlocked.Increment(ref closes); open = false; }
                    }
                    Interlocked.Increment(ref batches);
                }
            }
        });

        async Task Progress()
        {
            var from = Interlocked.Read(ref batches);
            await Eventually.Until(() => Interlocked.Read(ref batches) > from + 50 || client.IsCompleted, TimeSpan.FromSeconds(30), "more pipelined batches");
        }

        await Progress();
        foreach (var action in new[] { "reload", "reload", "restart", "restart" })
        {
            var before = (await home.StatusAsync()).Select(i => i.Pid).ToList();
            await home.OkAsync(action, "web");
            (await home.WaitForAllAsync("web", i => i.Status == "online", "online")).Select(i => i.Pid).Should().NotIntersectWith(before);
            await Progress();
        }
        await stop.CancelAsync();
        await client;

        problems.Should().BeEmpty($"{batches} batches of 3 pipelined requests");
        closes.Should().BeGreaterThanOrEqualTo(4, "each retiring instance ended the connection after the last response of a batch");
    }

    [Fact]
    public async Task A_long_request_in_progress_is_answered_and_its_response_closes_the_connection()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        await home.OkAsync("start", home.WriteConfig(TestHome.App("web", "long-requests.js", $"port = {port}\nhost = \"127.0.0.1\"")));
        using var http = await RawHttp.ConnectAsync(port);
        (await SendAndRead(http, RawHttp.Get("/"))).Closes.Should().BeFalse("a keep-alive connection");

        await http.SendAsync(RawHttp.Get("/slow?ms=3000"));
        var restart = home.RunAsync("restart", "web");
        var response = await http.ReadAsync(Read);

        response.Should().NotBeNull("the request in progress is answered, not cut");
        response!.Status.Should().Be(200);
        response.Body.Should().StartWith("done after 3000 ms");
        response.Closes.Should().BeTrue("the retiring instance ends the connection after this response");
        (await http.ClosedAsync(TimeSpan.FromSeconds(10))).Should().BeTrue("and then closes it");
        (await restart).Code.Should().Be(0);
        await home.WaitForLogAsync("web", "shutdown message, 0 upgraded connection(s)");
    }

    [Fact]
    public async Task An_upgraded_connection_hears_shutdown_and_is_closed_by_the_app()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        await home.OkAsync("start", home.WriteConfig(TestHome.App("web", "long-requests.js", $"port = {port}\nhost = \"127.0.0.1\"")));
        using var socket = await Upgraded(port);

        var watch = Stopwatch.StartNew();
        var restart = home.RunAsync("restart", "web");

        (await socket.ReadLineAsync(Read)).Should().Be("bye", "the app hears 'shutdown' when draining starts and closes politely");
        (await socket.ReadLineAsync(Read)).Should().BeNull();
        socket.Dispose(); // the client closes its side too, as a WebSocket client answers a close
        (await restart).Code.Should().Be(0);
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(9), "the drain ended when the app closed its last connection, not at drain_timeout (10s)");
    }

    [Fact]
    public async Task An_upgraded_connection_the_app_keeps_open_lasts_until_drain_timeout()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        await home.OkAsync("start", home.WriteConfig(TestHome.App("web", "long-requests.js",
            $"port = {port}\nhost = \"127.0.0.1\"\ndrain_timeout = \"2s\"\nenv = {{ IGNORE_SHUTDOWN = \"1\" }}")));
        using var socket = await Upgraded(port);

        var watch = Stopwatch.StartNew();
        var restart = home.RunAsync("restart", "web");
        await home.WaitForLogAsync("web", "shutdown message, 1 upgraded connection(s)");
        await socket.SendAsync("still here\n");
        (await socket.ReadLineAsync(Read)).Should().Be("still here", "the connection works while the instance drains");

        string? end;
        try { end = await socket.ReadLineAsync(Read); }
        catch (IOException) { end = null; }
        end.Should().BeNull("at drain_timeout the app gets kill_signal, and with no handler its connections end with it");
        (await restart).Code.Should().Be(0);
        watch.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(2), "the daemon waits drain_timeout for an open connection");
    }

    /// <summary>
    /// An idle keep-alive connection of a retiring instance is not closed: its next request, a POST, is answered 200
    /// with `Connection: close`, for plain servers and frameworks from npm, on Node 18, 20 and 22.
    /// </summary>
    [Theory]
    [InlineData("20", "no-handler.js")]
    [InlineData("20", "keepalive-graceful.js")]
    [InlineData("20", "frameworks/express-app.js")]
    [InlineData("20", "frameworks/fastify-app.js")]
    [InlineData("20", "frameworks/koa-app.js")]
    [InlineData("18", "no-handler.js")]
    [InlineData("18", "keepalive-graceful.js")]
    [InlineData("18", "frameworks/express-app.js")]
    [InlineData("18", "frameworks/fastify-app.js")]
    [InlineData("18", "frameworks/koa-app.js")]
    [InlineData("22", "no-handler.js")]
    [InlineData("22", "keepalive-graceful.js")]
    [InlineData("22", "frameworks/express-app.js")]
    [InlineData("22", "frameworks/fastify-app.js")]
    [InlineData("22", "frameworks/koa-app.js")]
    public async Task An_idle_keep_alive_connection_gets_its_next_response_with_Connection_close(string node, string app)
    {
        var interpreter = node == "20" ? "node" : Path.Combine(Repo.Root, "tests", ".node", node, "bin", "node");
        if (node != "20") File.Exists(interpreter).Should().BeTrue($"Node {node} comes from tests/setup.sh");
        if (app.StartsWith("frameworks/", StringComparison.Ordinal))
            Directory.Exists(Path.Combine(Repo.Examples, "frameworks", "node_modules")).Should().BeTrue("tests/setup.sh installs the frameworks");
        await using var home = new TestHome();
        var port = FreePort.Next();
        await home.OkAsync("start", home.WriteConfig(TestHome.App("web", app, $"port = {port}\nhost = \"127.0.0.1\"\ninterpreter = \"{interpreter}\"")));
        var pid = (await home.InstanceAsync("web")).Pid;
        using var http = await RawHttp.ConnectAsync(port);
        (await SendAndRead(http, RawHttp.Get("/"))).Closes.Should().BeFalse("a keep-alive connection");

        var restart = home.RunAsync("restart", "web");
        await home.WaitForAsync("web", i => i.Status == "stopping", "draining");
        // The connection sat idle when draining began; a request may reach the app just before it hears of it, so
        // ask until a response says close: every one must be answered, none may be cut.
        var answers = new List<RawResponse>();
        while (answers.Count < 50 && (answers.Count == 0 || !answers[^1].Closes))
        {
            var r = await SendAndRead(http, RawHttp.Post("{\"order\": 42}"));
            r.Should().NotBeNull($"request {answers.Count + 1} on the idle connection is answered, not cut");
            answers.Add(r);
        }
        answers.Should().OnlyContain(r => r.Status == 200);
        answers[^1].Closes.Should().BeTrue("the retiring instance ends the connection after a response that says so");
        (await http.ClosedAsync(TimeSpan.FromSeconds(10))).Should().BeTrue();
        (await restart).Code.Should().Be(0);
        (await home.InstanceAsync("web")).Pid.Should().NotBe(pid);
    }

    /// <summary>
    /// A node process the app forks gets the preload too (execArgv): there it changes nothing. Its IPC channel to the
    /// app keeps it alive as it would without NodeKeeper, and it sends the app nothing but what the program sends.
    /// </summary>
    [Fact]
    public async Task A_forked_child_runs_as_it_would_without_NodeKeeper()
    {
        await using var home = new TestHome();
        await home.OkAsync("start", home.WriteConfig(TestHome.App("forker", "forker.js")));
        var log = await home.WaitForLogAsync("forker", ", 3 pongs,");
        log.Should().NotContain("child exited", "the child lives through its channel to the app, which the preload leaves alone");
        log.Should().Contain(", 3 pongs, unexpected: []", "the child sends the app no reports of NodeKeeper's");
    }

    private static async Task<RawResponse> SendAndRead(RawHttp http, string request)
    {
        await http.SendAsync(request);
        return (await http.ReadAsync(Read))!;
    }

    private static async Task<RawHttp> Upgraded(int port)
    {
        var socket = await RawHttp.ConnectAsync(port);
        await socket.SendAsync("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: nk-echo\r\n\r\n");
        (await socket.ReadAsync(Read))!.Status.Should().Be(101);
        await socket.SendAsync("ping\n");
        (await socket.ReadLineAsync(Read)).Should().Be("ping");
        return socket;
    }
}
