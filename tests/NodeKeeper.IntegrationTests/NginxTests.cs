using System.Diagnostics;

namespace NodeKeeper.IntegrationTests;

/// <summary>Through a real nginx (Debian's package; .ci/run installs it), started by the test on loopback with its own config.</summary>
public sealed class NginxTests
{
    /// <summary>A hand-written proxy setup as an operator would write it: one upstream server, keepalive, retries on errors.</summary>
    private static (NginxServer Nginx, int Port) StartNginx(string dir, int appPort)
    {
        var port = FreePort.Next();
        var nginx = new NginxServer(dir, $$"""
            upstream app { server 127.0.0.1:{{appPort}}; keepalive 16; }
            server {
              listen 127.0.0.1:{{port}};
              location / {
                proxy_pass http://app;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_next_upstream error timeout http_502;
              }
            }
            """);
        nginx.Start();
        return (nginx, port);
    }

    private static async Task<int> Status(HttpClient http, int port)
    {
        try { return (int)(await http.GetAsync($"http://127.0.0.1:{port}/")).StatusCode; }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException) { return -1; }
    }

    // With one instance, the request a kill -9 cuts off is retried by nginx on a fresh connection, which waits in
    // the held socket's backlog for the replacement; with two, the other instance answers it.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Nginx_sees_no_502_while_the_app_reloads_or_restarts_after_a_kill_9(int instances)
    {
        await using var home = new TestHome();
        var appPort = FreePort.Next();
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {appPort}\ninstances = {instances}\nhost = \"127.0.0.1\""));
        await home.OkAsync("start", config);
        var (nginx, nginxPort) = StartNginx(Path.Combine(home.Configs, "nginx"), appPort);
        await using var _ = nginx;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await Eventually.Until(() => Status(http, nginxPort), s => s == 200, TimeSpan.FromSeconds(10), "nginx to proxy");

        var statuses = new System.Collections.Concurrent.ConcurrentBag<int>();
        using var stop = new CancellationTokenSource();
        var load = Task.Run(async () => { while (!stop.IsCancellationRequested) statuses.Add(await Status(http, nginxPort)); });
        await Eventually.Until(() => statuses.Count > 20, TimeSpan.FromSeconds(10), "load through nginx");

        await home.OkAsync("reload", "web");
        // The kill comes once nginx talks to the new instance over kept-alive connections: nginx retries a request cut
        // off on a cached connection, not one cut off on the first request of a fresh connection when the upstream has
        // a single server (then only a second server line, as nk nginx writes, gets it retried). Right after a reload
        // nginx's connections to the new instance are fresh: a kill within those milliseconds failed 1 run in 10.
        var reloadedAt = statuses.Count;
        await Eventually.Until(() => statuses.Count > reloadedAt + 20, TimeSpan.FromSeconds(10), "load on the new instance");
        var victim = (await home.InstanceAsync("web", 0)).Pid!.Value;
        Procs.Signal(victim, 9, home.Home);
        await home.WaitForAsync("web", i => i.Status == "online" && i.Pid != victim, "back after the crash");
        var count = statuses.Count;
        await Eventually.Until(() => statuses.Count > count + 20, TimeSpan.FromSeconds(10), "more load after the restart");
        await stop.CancelAsync();
        await load;

        statuses.Count(s => s == 502).Should().Be(0, $"{statuses.Count} requests through nginx");
        statuses.Should().OnlyContain(s => s == 200);
    }
}
