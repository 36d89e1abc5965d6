using System.Diagnostics;

namespace NodeKeeper.TestSupport;

/// <summary>An nginx of the test's own, in its own folder, whose http block includes generated.conf.</summary>
public sealed class NginxServer : IAsyncDisposable
{
    private readonly string _dir;
    private readonly string _conf;
    private Process? _process;

    /// <summary>The port it listens on, when the test set one.</summary>
    public int Port { get; init; }

    public NginxServer(string dir, string generated)
    {
        _dir = dir;
        Directory.CreateDirectory(Path.Combine(dir, "logs"));
        File.WriteAllText(Path.Combine(dir, "generated.conf"), generated);
        _conf = Path.Combine(dir, "nginx.conf");
        File.WriteAllText(_conf, $$"""
            daemon off;
            master_process off;
            pid {{dir}}/nginx.pid;
            error_log {{dir}}/logs/error.log warn;
            events { worker_connections 512; }
            http {
              access_log off;
              client_body_temp_path {{dir}}/body;
              proxy_temp_path {{dir}}/proxy;
              fastcgi_temp_path {{dir}}/fastcgi;
              uwsgi_temp_path {{dir}}/uwsgi;
              scgi_temp_path {{dir}}/scgi;
              include {{dir}}/generated.conf;
            }
            """);
    }

    /// <summary>nginx -t on the config: its exit code and what it said.</summary>
    public async Task<(int Code, string Output)> TestAsync()
    {
        var psi = new ProcessStartInfo("nginx", ["-t", "-c", _conf, "-p", _dir]) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, output + await err);
    }

    /// <summary>A real nginx on a port of its own, configured with exactly what `nk nginx APP` prints, once it answers 200.</summary>
    public static async Task<NginxServer> ProxyAsync(TestHome home, string app)
    {
        var port = FreePort.Next();
        var site = (await home.OkAsync("nginx", app, "--listen", $"127.0.0.1:{port}")).Out;
        var nginx = new NginxServer(Path.Combine(home.Configs, "nginx"), site) { Port = port };
        nginx.Start();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await Eventually.Until(async () =>
        {
            try { return (int)(await http.GetAsync($"http://127.0.0.1:{port}/")).StatusCode; }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException) { return -1; }
        }, s => s == 200, TimeSpan.FromSeconds(20), $"nginx on port {port} to answer 200");
        return nginx;
    }

    public void Start() =>
        _process = Process.Start(new ProcessStartInfo("nginx", ["-c", _conf, "-p", _dir]) { UseShellExecute = false })!;

    public string ErrorLog()
    {
        var path = Path.Combine(_dir, "logs", "error.log");
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is null) return;
        // Our own child, by its pid.
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
