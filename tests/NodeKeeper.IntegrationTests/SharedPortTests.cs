using System.Net;
using System.Net.Sockets;
using NodeKeeper.IntegrationTests.Support;

namespace NodeKeeper.IntegrationTests;

public sealed class SharedPortTests
{
    [Fact]
    public async Task Two_instances_in_shared_mode_both_answer_on_the_one_port()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\ninstances = 2\nhost = \"127.0.0.1\""));
        await home.OkAsync("start", config);
        var rows = (await home.StatusAsync()).Where(r => r.Name == "web").ToList();
        rows.Should().HaveCount(2).And.OnlyContain(r => r.Status == "online" && r.Port == port);
        foreach (var r in rows) Procs.Environ(r.Pid!.Value)["NODE_APP_INSTANCE"].Should().Be(r.Instance.ToString());

        var seen = new HashSet<string>();
        for (var i = 0; i < 400 && seen.Count < 2; i++)
            if (await FreshHttp.Get(port) is { } body) seen.Add(body.Contains("instance 0") ? "0" : body.Contains("instance 1") ? "1" : body);
        seen.Should().BeEquivalentTo(["0", "1"], "the kernel hands connections on the one socket to both instances");
    }

    [Theory]
    [InlineData("kill")]
    [InlineData("restart")]
    public async Task A_one_instance_shared_port_app_refuses_no_connection_while_it_restarts(string how)
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\""));
        await home.OkAsync("start", config);
        var old = (await home.InstanceAsync("web")).Pid!.Value;

        using var stop = new CancellationTokenSource();
        var failures = 0;
        var refused = 0;
        var served = 0;
        var load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var (body, wasRefused) = await FreshHttp.Request(port);
                if (body is not null) Interlocked.Increment(ref served);
                else if (wasRefused) Interlocked.Increment(ref refused);
                else Interlocked.Increment(ref failures);
            }
        });
        await Eventually.Until(() => Volatile.Read(ref served) > 20, TimeSpan.FromSeconds(10), "load to flow");
        if (how == "kill") Procs.Signal(old, 9, home.Home);
        else await home.OkAsync("restart", "web");
        var now = await home.WaitForAsync("web", i => i.Status == "online" && i.Pid != old, "online with a new pid");
        var after = Volatile.Read(ref served);
        await Eventually.Until(() => Volatile.Read(ref served) > after + 20, TimeSpan.FromSeconds(10), "the new process to serve");
        await stop.CancelAsync();
        await load;

        refused.Should().Be(0, $"connections wait in the daemon's backlog while the app restarts ({served} served)");
        // A graceful restart drains the old process first; kill -9 can only lose the one request it was serving.
        failures.Should().BeLessThanOrEqualTo(how == "kill" ? 1 : 0, $"{served} served");
        now.Restarts.Should().Be(1);
    }

    [Fact]
    public async Task Many_requests_on_one_keep_alive_connection_leave_the_preload_quiet()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\""));
        await home.OkAsync("start", config);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 });
        for (var i = 0; i < 30; i++) (await http.GetStringAsync($"http://127.0.0.1:{port}/")).Should().StartWith("hello");
        await home.OkAsync("stop", "web");
        var err = Path.Combine(home.Logs, "web.err.log");
        (File.Exists(err) ? File.ReadAllText(err) : "").Should().NotContain("MaxListenersExceededWarning", "the preload adds its listeners once per connection");
    }

    [Fact]
    public async Task An_ESM_app_runs_unchanged_in_shared_mode()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("esm", "esm-server.mjs", $"port = {port}\ninstances = 2\nhost = \"127.0.0.1\""));
        await home.OkAsync("start", config);
        var body = await FreshHttp.Get(port);
        body.Should().StartWith("esm ").And.Contain($"port {port}", "server.address() reports the port");
    }

    [Fact]
    public async Task An_express_style_app_and_instances_max_run_unchanged_in_shared_mode()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("ex", "express-style.js", $"port = {port}\ninstances = \"max\"\nhost = \"127.0.0.1\""));
        await home.OkAsync("start", config);
        (await home.StatusAsync()).Should().HaveCount(Environment.ProcessorCount, "\"max\" is one instance per core");
        (await FreshHttp.Get(port)).Should().Contain("\"path\":\"/\"");
        (await home.WaitForLogAsync("ex", "express-style app on")).Should().Contain($"on {port}", "server.address() reports the port");
    }

    [Fact]
    public async Task A_taken_port_leaves_the_app_errored_with_reason_eaddrinuse_and_says_who_holds_it()
    {
        await using var home = new TestHome();
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\nhost = \"127.0.0.1\"\nmax_restarts = 0"));

        var start = await home.RunAsync("start", config);
        start.Code.Should().Be(1);
        start.Err.Should().Contain("web");
        var web = await home.WaitForAsync("web", i => i.Status == "errored", "errored");
        web.LastExit!.Reason.Should().Be("eaddrinuse");
        File.ReadAllText(Path.Combine(home.Logs, "web.err.log")).Should().Contain($"port {port} is taken by pid {Environment.ProcessId}");
    }

    [Fact]
    public async Task Increment_mode_serves_port_and_port_plus_one()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        while (!PortFree(port + 1)) port = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\ninstances = 2\nport_mode = \"increment\""));
        await home.OkAsync("start", config);
        (await FreshHttp.Get(port)).Should().Contain("instance 0");
        (await FreshHttp.Get(port + 1)).Should().Contain("instance 1");
    }

    private static bool PortFree(int port)
    {
        try { using var l = new TcpListener(IPAddress.Loopback, port); l.Start(); return true; }
        catch (SocketException) { return false; }
    }
}
