using System.Net;
using System.Net.Sockets;

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

        var load = new LoadClient(port);
        await load.ServesAsync(20, "load to flow");
        if (how == "kill") Procs.Signal(old, 9, home.Home);
        else await home.OkAsync("restart", "web");
        var now = await home.WaitForAsync("web", i => i.Status == "online" && i.Pid != old, "online with a new pid");
        await load.ServesAsync(20, "the new process to serve");
        await load.DisposeAsync();

        load.Refused.Should().Be(0, $"connections wait in the daemon's backlog while the app restarts ({load.Served} served)");
        // A graceful restart drains the old process first; kill -9 can only lose the one request it was serving.
        load.Failed.Should().BeLessThanOrEqualTo(how == "kill" ? 1 : 0, $"{load.Served} served");
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
    public async Task An_https_app_runs_unchanged_on_the_shared_port()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var tls = SelfSignedTls.Write(home.Configs);
        var config = home.WriteConfig(TestHome.App("tls", "https-server.js", $"port = {port}\ninstances = 2\nhost = \"127.0.0.1\"\n{tls.Env}"));
        await home.OkAsync("start", config);

        using var https = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, c, _, _) => c?.GetCertHashString() == tls.CertHash },
        });
        (await https.GetStringAsync($"https://127.0.0.1:{port}/")).Should().StartWith("https from pid");
        (await home.WaitForLogAsync("tls", "https on")).Should().Contain($"https on {port}", "server.address() reports the port");
        (await home.StatusAsync()).Should().HaveCount(2).And.OnlyContain(r => r.Status == "online" && r.Ready == true);
    }

    [Fact]
    public async Task A_net_server_gets_the_shared_port_and_its_other_ports_are_left_alone()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var admin = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("echo", "tcp-echo.js", $"port = {port}\nhost = \"127.0.0.1\"\nenv = {{ ADMIN_PORT = \"{admin}\" }}"));
        await home.OkAsync("start", config);
        var pid = (await home.InstanceAsync("echo")).Pid!.Value;

        using (var echo = new TcpClient())
        {
            await echo.ConnectAsync(IPAddress.Loopback, port);
            var stream = echo.GetStream();
            await stream.WriteAsync("ping\n"u8.ToArray());
            var buffer = new byte[5];
            await stream.ReadExactlyAsync(buffer);
            System.Text.Encoding.ASCII.GetString(buffer).Should().Be("ping\n");
        }
        await home.WaitForLogAsync("echo", $"admin on {admin}");
        using var adminClient = new TcpClient();
        await adminClient.ConnectAsync(IPAddress.Loopback, admin);
        (await new StreamReader(adminClient.GetStream()).ReadLineAsync()).Should().Be($"admin {pid}", "the app listens on its other port itself");
        PortOwnerPids(admin).Should().Contain(pid, "the app, not the daemon, holds its other port");
    }

    /// <summary>The pids holding a listening TCP socket on 127.0.0.1:port, from /proc/net/tcp and each pid's fds.</summary>
    private static List<int> PortOwnerPids(int port)
    {
        var inodes = File.ReadAllLines("/proc/net/tcp").Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f[1].EndsWith($":{port:X4}") && f[3] == "0A")
            .Select(f => $"socket:[{f[9]}]").ToHashSet();
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var p)) continue;
            try
            {
                if (Directory.EnumerateFiles(Path.Combine(dir, "fd")).Any(fd => inodes.Contains(new FileInfo(fd).LinkTarget ?? ""))) pids.Add(p);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        }
        return pids;
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
