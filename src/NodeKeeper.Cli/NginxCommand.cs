using System.CommandLine;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Nginx;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Cli;

/// <summary>`nk nginx NAME`: prints an nginx map, upstream and server block for the app's port(s).</summary>
public static class NginxCommand
{
    public static Command Build()
    {
        var name = new Argument<string>("name") { Description = "the app" };
        var serverName = new Option<string>("--server-name")
        {
            Description = "server_name of the server block, e.g. \"example.com www.example.com\" (_ stands for any host)",
            DefaultValueFactory = _ => "_",
        };
        var listen = new Option<string>("--listen")
        {
            Description = "what nginx listens on: a port or address:port",
            DefaultValueFactory = _ => "80",
        };
        var cmd = new Command("nginx", "print an nginx upstream and server block (to include inside http {}) for the app's port(s)") { name, serverName, listen };
        cmd.SetAction((p, ct) => RunAsync(p.GetValue(name)!, p.GetValue(serverName)!, p.GetValue(listen)!, ct));
        return cmd;
    }

    private static async Task<int> RunAsync(string name, string serverName, string listen, CancellationToken ct)
    {
        var options = new NginxOptions { ServerName = serverName, Listen = listen };
        if (NginxConfig.CheckOptions(options) is { } usage)
        {
            await Console.Error.WriteLineAsync($"nk: {usage}");
            return NkCommands.Usage;
        }
        var (client, code) = await NkCommands.ConnectAsync(ct);
        if (client is null) return code;
        AppDescription app;
        using (client)
        {
            var r = await NkCommands.SendAsync(client, new Request { Cmd = Commands.Describe, Names = [name] }, ct);
            if (r?.App is not { } a) return NkCommands.Failed;
            app = a;
        }
        if (NginxConfig.Check(app, options) is { } error)
        {
            await Console.Error.WriteLineAsync($"nk: {error}");
            return NkCommands.Failed;
        }
        options = options with { AppHost = AppHost(app) };
        Console.Out.Write(NginxConfig.Generate(app, options));
        return NkCommands.Ok;
    }

    /// <summary>
    /// The app's `host`, which `nk describe` does not carry: read from the config file the app came from (null, that
    /// is every interface, when the file is gone or no longer valid).
    /// </summary>
    private static string? AppHost(AppDescription app)
    {
        if (app.PortMode != "shared" || app.ConfigPath is not { } path) return null;
        try
        {
            var text = File.ReadAllText(path);
            var ctx = new LoadContext(Path.Combine(NkHome.Path(), "logs"), Environment.ProcessorCount, ReadOrNull);
            var loaded = ConfigLoader.Load(text, path, Path.GetDirectoryName(Path.GetFullPath(path))!, ctx);
            return loaded.Ok ? loaded.Config!.Apps.FirstOrDefault(a => a.Name == app.Name)?.Host : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }

    private static string? ReadOrNull(string p)
    {
        try { return File.ReadAllText(p); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }
}
