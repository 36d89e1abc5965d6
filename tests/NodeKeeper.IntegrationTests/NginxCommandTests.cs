using System.Diagnostics;

namespace NodeKeeper.IntegrationTests;

/// <summary>`nk nginx NAME`: its output, included in a real nginx (Debian's) on loopback, passes nginx -t and proxies to the app.</summary>
public sealed class NginxCommandTests
{
    private static async Task<(int Status, string Body)> Get(HttpClient http, int port)
    {
        try
        {
            using var r = await http.GetAsync($"http://127.0.0.1:{port}/");
            return ((int)r.StatusCode, await r.Content.ReadAsStringAsync());
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException) { return (-1, ex.Message); }
    }

    /// <summary>Runs nk nginx web, includes its output in an nginx, and GETs through it until <paramref name="instances"/> instances answered.</summary>
    private static async Task ProxiesThroughNginx(TestHome home, int instances)
    {
        var listen = FreePort.Next();
        var r = await home.OkAsync("nginx", "web", "--listen", $"127.0.0.1:{listen}");
        r.Out.Should().Contain("upstream nk_web {").And.Contain("server {");

        await using var nginx = new NginxServer(Path.Combine(home.Configs, "nginx"), r.Out);
        var (code, output) = await nginx.TestAsync();
        code.Should().Be(0, $"nginx -t accepts the output of nk nginx:\n{output}\n{r.Out}");
        nginx.Start();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var first = await Eventually.Until(() => Get(http, listen), g => g.Status == 200, TimeSpan.FromSeconds(15), "nginx to proxy to the app");
        first.Body.Should().StartWith("hello from pid");
        // In increment mode nginx goes round the instances' ports, so each answers in turn. (In shared mode one kept-alive
        // connection to the one socket serves these sequential requests, so one instance may answer them all.)
        var seen = new HashSet<string>();
        await Eventually.Until(async () =>
        {
            var g = await Get(http, listen);
            g.Status.Should().Be(200, nginx.ErrorLog());
            seen.Add(g.Body.Split("(instance ")[1].TrimEnd('\n', ')'));
            return seen.Count;
        }, n => n == instances, TimeSpan.FromSeconds(20), $"each of the {instances} instances to answer through nginx");
    }

    [Fact]
    public async Task Shared_mode_output_passes_nginx_t_and_proxies_to_the_app()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var config = home.WriteConfig(
            TestHome.App("web", "http-server.js", $"port = {port}\ninstances = 2\nhost = \"127.0.0.1\"") +
            TestHome.App("worker", "worker.js"));
        await home.OkAsync("start", config);

        var upstream = (await home.OkAsync("nginx", "web")).Out;
        upstream.Should().Contain($"server 127.0.0.1:{port} max_fails=0;\n").And.Contain($"server 127.0.0.1:{port} max_fails=0 backup;\n");
        await ProxiesThroughNginx(home, 1);

        var portless = await home.RunAsync("nginx", "worker");
        portless.Code.Should().Be(1, portless.ToString());
        portless.Out.Should().BeEmpty();
        portless.Err.Trim().Should().Contain("worker has no port").And.NotContain("\n");

        var unknown = await home.RunAsync("nginx", "nope");
        unknown.Code.Should().Be(1, unknown.ToString());
        unknown.Out.Should().BeEmpty();
        unknown.Err.Should().Contain("nope");

        var bad = await home.RunAsync("nginx", "web", "--server-name", "x; include /etc/passwd");
        bad.Code.Should().Be(2, bad.ToString());
    }

    [Fact]
    public async Task Increment_mode_output_lists_every_instance_port_passes_nginx_t_and_proxies_to_each()
    {
        await using var home = new TestHome();
        int port;
        do port = FreePort.Next(); while (!IsFree(port + 1));
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\ninstances = 2\nport_mode = \"increment\""));
        await home.OkAsync("start", config);

        var upstream = (await home.OkAsync("nginx", "web")).Out;
        upstream.Should().Contain($"server 127.0.0.1:{port} max_fails=0;\n").And.Contain($"server 127.0.0.1:{port + 1} max_fails=0;\n")
            .And.NotContain("backup;");
        await ProxiesThroughNginx(home, 2);
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            l.Start();
            return true;
        }
        catch (System.Net.Sockets.SocketException) { return false; }
    }
}
